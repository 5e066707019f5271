"""``ai test``'s probe of an endpoint whose URL carries a key or a query: the request goes where the
endpoint says, and no key reaches the result (shown, and recorded in the store's metrics)."""

from __future__ import annotations

import httpx
import pytest

from mahavishnu.config import ProfileSettings, load_settings
from mahavishnu.environments.profiles import Profile
from mahavishnu.masking import strip_credentials
from mahavishnu.services.probe import probe

KEY = "SECRETVALUE1234567890abcdef"


def _profile(base_url: str) -> Profile:
    settings = ProfileSettings.model_validate(
        {"secret": ["env:LAB_KEY"], "openai": {"base_url": base_url, "model": "m"}}
    )
    return Profile("lab", settings, builtin=False)


@pytest.mark.parametrize("status", [200, 401])
def test_the_probe_asks_under_the_endpoints_path_and_shows_no_key(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789abcdef")
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(status, json={"data": []})

    base = f"https://user:pw-{KEY}@gateway.example/v1?api-version=2&api_key={KEY}"
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        result = probe(_profile(base), "openai", load_settings(), client=client)

    assert asked == [f"https://user:pw-{KEY}@gateway.example/v1/models?api-version=2&api_key={KEY}"]
    assert result.ok is (status == 200)
    assert KEY not in repr(result) and "gateway.example/v1/models?api-version=2" in result.url


def test_a_probe_without_its_key_shows_no_key_either(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAB_KEY", raising=False)
    result = probe(_profile(f"https://gateway.example/v1?api_key={KEY}"), "openai", load_settings())
    assert result.status == "no-key" and KEY not in repr(result)


def test_strip_credentials_masks_a_key_in_the_query() -> None:
    assert strip_credentials(f"https://u:p@h.example:8443/v1?api_key={KEY}") == (
        "https://h.example:8443/v1?api_key=[REDACTED:secret]"
    )
    assert strip_credentials("http://127.0.0.1:11434/v1") == "http://127.0.0.1:11434/v1"
