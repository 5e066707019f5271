"""Turns of coding sessions as the capture hook stores them, written from templates: a request and
the reply that did it. ``retrieval.py`` mixes them into the captured sessions of ``absent.json``'s
store; ``devmem.py --turns N`` stores N of them in each project beside its notes, as weeks of
sessions leave them."""

from __future__ import annotations

import itertools

_PARTS = ("the retry logic", "the auth middleware", "the database migration", "the CSV exporter",
          "the login form", "the cache layer", "the rate limiter", "the config loader", "the logging setup",
          "the CLI parser", "the payment webhook", "the search endpoint", "the image resizer",
          "the email templates", "the session store", "the feature flags", "the audit log",
          "the background worker", "the pagination helper", "the health check")  # fmt: skip
_ACTIONS = (("refactor", "refactored"), ("add tests for", "added tests for"), ("fix the bug in", "fixed"),
            ("document", "documented"), ("speed up", "sped up"), ("add type hints to", "typed"),
            ("simplify", "simplified"), ("add logging to", "added logging to"))  # fmt: skip
_FILES = ("app/api.py", "app/models.py", "app/services/billing.py", "app/web/forms.py", "lib/util.py",
          "cli/main.py", "worker/tasks.py", "app/settings.py", "db/migrations/0042.py", "tests/test_api.py",
          "app/cache.py", "app/auth.py")  # fmt: skip
_DETAILS = ("the tests pass", "two call sites changed", "I kept the public signature",
            "the old helper is gone", "it now reads its limits from settings",
            "I added a regression test")  # fmt: skip


def coding_turns(count: int) -> list[tuple[str, str]]:
    """``count`` (role, text) turns of coding sessions: a request and the reply that did it."""
    out: list[tuple[str, str]] = []
    for n, (part, (verb, done), path) in enumerate(itertools.product(_PARTS, _ACTIONS, _FILES)):
        if len(out) >= count:
            break
        out.append(("user", f"Can you {verb} {part} in {path}?"))
        out.append(("assistant", f"I {done} {part} in `{path}`; {_DETAILS[n % len(_DETAILS)]}."))
    return out[:count]
