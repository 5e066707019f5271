"""The providers the user defined in an assistant's own config, with their base URLs: Pi's
``models.json`` (``providers.NAME.baseUrl``), OpenCode's user config (``provider.NAME.options.baseURL``)
and Codex's ``config.toml`` (``[model_providers.NAME] base_url``).

Attribution prices such a provider by its base URL (the vendor genai-prices knows that URL for),
never by its name: ``anthropic-proxy`` contains ``anthropic``, which genai-prices would match.
What a switch or ``mahavishnu run`` wrote there (``mahavishnu``, ``mahavishnu-…``) is left out: the
switch history says whose that is. A file that cannot be read or parsed gives nothing (``doctor``
says why): the names are then unpriced, never priced by a guess."""

from __future__ import annotations

from collections.abc import Mapping

from mahavishnu.errors import MahavishnuError

#: assistant -> provider name -> base URL
OwnUrls = Mapping[str, Mapping[str, str]]


def own_urls() -> dict[str, dict[str, str]]:
    """The base URL of each provider the user defined, per assistant (``pi``, ``opencode``, ``codex``)."""
    found: dict[str, dict[str, str]] = {}
    for tool, read in (("pi", _pi), ("opencode", _opencode), ("codex", _codex)):
        try:
            urls = read()
        except (OSError, ValueError, MahavishnuError):  # (broken, unreadable: no URL known, no guess)
            urls = {}
        if urls:
            found[tool] = urls
    return found


def _entries(providers: object, *path: str) -> dict[str, str]:
    """``{name: url}`` of a table of providers, the URL at ``path`` within each (http(s) only)."""
    if not isinstance(providers, dict):
        return {}
    urls = {}
    for name, entry in providers.items():
        value: object = entry
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if (
            isinstance(name, str)
            and not name.startswith("mahavishnu")
            and isinstance(value, str)
            and value.lower().startswith(("http://", "https://"))
        ):
            urls[name] = value.strip()
    return urls


def _pi() -> dict[str, str]:
    from mahavishnu.environments.assistants.pi import load_models, models_file

    path = models_file()
    if not path.is_file():
        return {}
    data = load_models(path.read_text(encoding="utf-8"), path).data
    return _entries(data.get("providers"), "baseUrl")


def _opencode() -> dict[str, str]:
    from mahavishnu.environments.assistants.opencode import user_configs
    from mahavishnu.files.json_document import json_data

    urls: dict[str, str] = {}
    for path in user_configs():  # (the later wins)
        data = json_data(path.read_text(encoding="utf-8"), source=str(path))
        urls.update(_entries(data.get("provider"), "options", "baseURL"))
    return urls


def _codex() -> dict[str, str]:
    from mahavishnu.environments.assistants import codex

    path = codex.config_path()
    if not path.is_file():
        return {}
    return _entries(codex.read(path.read_text(encoding="utf-8"), path).get("model_providers"), "base_url")
