"""Services: a supervisor for long-running processes, and the watcher that keeps things healthy.

``supervisor.py``  start/stop/restart/status/logs: own process groups, PID files checked against the
                   process start time, logs, health checks (``health.py``)
``definitions.py`` built-in services merged with ``services.definitions`` from the settings
``watch.py``       ``mahavishnu watch``: restart on config change (debounced), on exit, on failed checks
``probe.py``       one cheap authenticated request per provider protocol (``mahavishnu ai test``)
``fallback.py``    switch an assistant to the next healthy profile after K failed probes, and back
``sessions.py``    running assistant sessions (read-only) and whether a switch needs them restarted
``events.py``      the watcher's JSONL event log; ``metrics.py`` probe latencies

Settings (``mahavishnu.yaml``)::

    services:
      stop_timeout_seconds: 10
      definitions:
        api:
          command: uvicorn app:api --port 9000
          cwd: ~/src/api
          env: {LOG_LEVEL: info}
          health: {http: "http://127.0.0.1:9000/health"}   # or tcp: "9000", mcp: URL, command: ...
          restart: on-failure
          config_files: [~/src/api/.env, ~/src/api/settings.toml]
        ollama: {enabled: false}                          # hide a built-in
    watch:
      poll_seconds: 1
      debounce_seconds: 2
      probe_interval_seconds: 120
    fallback:
      chains: {claude: [anthropic, zai, deepseek], codex: [openai, openrouter]}
      failures_before_switch: 3
      switch_back: true
      notify_command: notify-send "mahavishnu" "provider switched"
"""
