"""Usage and cost: the tokens each assistant's requests used, read from the session logs the
assistants keep, attributed to the provider that served them and priced.

One module per noun::

    records       a request's usage (``UsageRecord``): the tokens, when, which model, where
    logfile       reading a log's complete lines from an offset, bounded, damage counted
    readers/      one reader per assistant (claude, codex, qwen, gemini): lines -> records
    ledger        the incremental cache: each log's records, and where reading stopped
    attribution   which provider served a request: Mahavishnu's switch history and profiles
    settings      ``usage.yaml``: a profile's own prices, budgets
    pricing       rates per million tokens: the user's, else ``genai-prices``; else unpriced
    report        daily, monthly and per-session totals, grouped by assistant, provider, model…;
                  and what recall added to the sessions (memory's own cost)
    budgets       what was spent today or this month against ``usage.yaml``'s budgets

Sits above ``memory`` (it finds the logs with ``memory.loop.session_logs``) and beside
``services``; ``doctor`` and ``health`` read its budgets.
"""
