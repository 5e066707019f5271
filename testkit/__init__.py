"""What the test suite and the benchmarks share, outside ``tests/`` so that a benchmark runs without
pytest or the suite: a throwaway embedded PostgreSQL (``embedded_pg``), one canary secret per format
the scrubber knows (``secret_canaries``) and a Session-Buddy contract server (``session_buddy_server``).

Not part of the installed package: the tests (``pythonpath`` in pyproject.toml) and the benchmarks
put the repository root on ``sys.path``."""
