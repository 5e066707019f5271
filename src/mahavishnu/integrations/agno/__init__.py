"""Agno agents and the shared memory (``mahavishnu[agno]``): not built yet (issue 39).

The plan, from Agno 3.1's API: a post-hook (``Agent(post_hooks=[...])``; Agno passes it the
``run_output`` (``input.input_content_string()``, ``content``, ``session_id``, ``agent_id``) and the
``agent``) that stores each run's user and assistant turns with ``store_turns``, and a ``Toolkit``
whose tools search and store memories."""
