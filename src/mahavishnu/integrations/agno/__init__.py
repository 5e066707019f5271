"""Agno agents and the shared memory (``mahavishnu[agno]``): a post-hook that stores each run's turns
as agent conversations, and a toolkit that lets an agent search and store memories. See
``memory.py``."""
