"""What the browser tests know of the dashboard they run against (``conftest.dashboard``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Dashboard:
    url: str  # http://127.0.0.1:PORT
    token: str

    @property
    def login(self) -> str:
        return f"{self.url}/login?token={self.token}"
