"""Start an assistant on a provider for one session only: ``mahavishnu run PROFILE -- ARGS``.

Nothing is written: the provider goes into the started process's environment and command line, so
two terminals can run two providers at once and every config file stays byte for byte. The key comes
from the profile's secret chain and travels in the environment only (never on the command line, where
``ps`` would show it):

* Claude Code: ``ANTHROPIC_BASE_URL`` and the model variables in the environment and again in
  ``--settings`` (flag settings outrank a ``settings.json`` that a ``switch-llm`` pointed elsewhere),
  with ``apiKeyHelper = printenv MAHAVISHNU_RUN_API_KEY`` there and the key in that variable. The
  credential variables (``CLAUDE_CREDENTIALS``) are removed from the started process's environment and
  set to ``""`` in ``--settings``: Claude Code sends a shell's ``ANTHROPIC_API_KEY`` as ``x-api-key``
  beside the helper's key, and an ``ANTHROPIC_AUTH_TOKEN`` (a ``switch-llm --inline-secret`` writes one
  into ``settings.json``) instead of it; an empty value in flag settings overrides both (checked with
  Claude Code 2.1.197 against a mock server: only the run's key reaches the provider);
* Codex: ``-c`` overrides defining and selecting the profile's run provider (``run_provider``) whose
  ``env_key`` names ``MAHAVISHNU_RUN_API_KEY``;
* Qwen Code: ``--auth-type openai`` (``openai-responses`` for an endpoint with ``wire_api:
  responses``, as a switch writes ``"wireApi": "responses"``), and ``QWEN_CODE_SYSTEM_SETTINGS_PATH``
  naming the shipped ``qwen_run_settings.json``: the model, its base URL and one ``modelProviders``
  entry whose wire API Qwen Code fills from ``MAHAVISHNU_RUN_QWEN_*`` and whose key is ``OPENAI_API_KEY`` (a
  user's entry with the same model id outranks every flag and variable; system settings outrank it,
  see ``_qwen``; a ``.env`` never replaces a variable the process already has);
* OpenCode: ``OPENCODE_CONFIG_CONTENT`` (inline config merged over every file) defining and selecting
  the profile's run provider whose ``apiKey`` is ``{env:MAHAVISHNU_RUN_API_KEY}`` (its package
  ``@ai-sdk/openai`` for an endpoint with ``wire_api: responses``, as a switch writes it);
* Pi: ``--extension pi_run_extension.js`` (shipped beside this module) registering the profile's run
  provider, named in ``MAHAVISHNU_RUN_PI_PROVIDER_ID``, from ``MAHAVISHNU_RUN_PI_PROVIDER`` (its
  ``apiKey`` names ``MAHAVISHNU_RUN_API_KEY``), selected by ``--provider NAME --model M``: Pi has no
  base-URL flag or variable;
* Gemini CLI: ``GEMINI_API_KEY`` (and ``GOOGLE_GEMINI_BASE_URL`` for a base URL other than
  Google's: see ``_gemini``), ``--model M``.

A base URL is on the command line only for Claude Code and Codex, which take it nowhere else that a
run can set without writing a file (Codex 0.169 reads no variable for a provider of its own, and
Claude Code's flag settings are what outrank a ``settings.json``). Any local user can read a command
line (``ps``), so there a base URL that carries a credential (a user or password, a query or a
fragment) is refused (``_argv_url``): a switch keeps it in the assistant's config file instead.

Codex, Pi and OpenCode log the provider's name on each request: each profile's run has its own
(``run_provider``), so ``mahavishnu usage`` knows the profile from the log alone, also for two runs of
one model on two profiles at once.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mahavishnu.config import Settings
from mahavishnu.environments.assistants.claude import SHELL_CREDENTIALS
from mahavishnu.environments.assistants.codex import no_responses_api
from mahavishnu.environments.profiles import Profile, Protocol, resolve
from mahavishnu.environments.run_names import run_provider
from mahavishnu.environments.secrets import resolve_profile_secret
from mahavishnu.environments.switcher import ASSISTANTS, EXECUTABLES, LABELS, PROTOCOL, serves
from mahavishnu.errors import InvalidInputError, NotFoundError, ProtocolMismatchError

RUN_KEY_VAR = "MAHAVISHNU_RUN_API_KEY"
GOOGLE_GEMINI_URL = "https://generativelanguage.googleapis.com"
#: What would carry another credential to a Claude Code run's provider: removed from its environment.
CLAUDE_CREDENTIALS = (*SHELL_CREDENTIALS, "CLAUDE_CODE_OAUTH_TOKEN")
#: Per assistant, the variables a run removes from the environment it inherits.
UNSET = {"claude": CLAUDE_CREDENTIALS}
#: The Pi extension that registers a run's provider (Pi 0.73 ``pi.registerProvider``).
PI_EXTENSION = Path(__file__).with_name("pi_run_extension.js")
PI_PROVIDER_VAR = "MAHAVISHNU_RUN_PI_PROVIDER"
PI_PROVIDER_ID_VAR = "MAHAVISHNU_RUN_PI_PROVIDER_ID"
#: Qwen Code's system settings for a run (``_qwen``), named by ``QWEN_SETTINGS_VAR``.
QWEN_RUN_SETTINGS = Path(__file__).with_name("qwen_run_settings.json")
QWEN_SETTINGS_VAR = "QWEN_CODE_SYSTEM_SETTINGS_PATH"


@dataclass(frozen=True)
class Launch:
    tool: str  # a registry name (assistants/registry.py)
    argv: list[str]  # the assistant, the provider's arguments, then the user's
    env: dict[str, str]  # what is set on top of the current environment (holds the key)
    warnings: list[str] = field(default_factory=list)
    unset: tuple[str, ...] = ()  # removed from the current environment first

    def process_env(self, current: dict[str, str] | None = None) -> dict[str, str]:
        """The started process's environment: ``current`` (this one) without ``unset``, plus ``env``."""
        base = os.environ if current is None else current
        return {**{k: v for k, v in base.items() if k not in self.unset}, **self.env}

    def shown_env(self) -> dict[str, str]:
        """``env`` fit to print: the key masked, and a base URL's credential (``_hidden``), also
        inside a value that is JSON (OpenCode's inline config, Pi's provider)."""
        from mahavishnu.masking import mask_tree

        shown = {}
        for k, v in self.env.items():
            tree = _json_tree(v)
            if tree is None:
                shown[k] = str(mask_tree(_hide_urls(v), k))
            else:
                shown[k] = json.dumps(mask_tree(_hide_urls(tree), k))
        return shown


def plan(name: str, settings: Settings, *, tool: str | None, args: list[str]) -> Launch:
    """The command line and environment that start ``tool`` on profile ``name``."""
    profile = resolve(name, settings)
    chosen = tool or _default_tool(profile, settings)
    if chosen not in ASSISTANTS:
        raise InvalidInputError(f"unknown tool '{chosen}'", hint=f"Choose one of: {', '.join(ASSISTANTS)}.")
    if profile.settings.stock or not serves(profile, chosen):
        raise ProtocolMismatchError(
            f"profile '{profile.name}' has no {PROTOCOL[chosen]} endpoint for {LABELS[chosen]}",
            hint="Pick a provider profile that serves it: `mahavishnu ai list-llms`.",
        )
    key = resolve_profile_secret(profile, settings) if profile.needs_secret else profile.name
    if chosen not in BUILDERS:
        raise InvalidInputError(
            f"`mahavishnu run` cannot start {LABELS[chosen]} yet",
            hint=f"Switch it instead: `mahavishnu ai switch-llm {profile.name} --tool {chosen}`.",
        )
    builder = BUILDERS[chosen]
    extra_args, env, warnings = builder(profile, key)
    # the bare name when it is not installed: ``--show`` still shows the command, starting it says
    found = shutil.which(EXECUTABLES[chosen]) or EXECUTABLES[chosen]
    return Launch(chosen, [found, *extra_args, *args], env, warnings, UNSET.get(chosen, ()))


def require_installed(launch: Launch) -> None:
    """Raise NotFoundError unless the assistant's executable is on PATH."""
    if shutil.which(launch.argv[0]) is None:
        raise NotFoundError(
            f"{LABELS[launch.tool]} is not installed (no `{launch.argv[0]}` on PATH)",
            hint="Install it (see `mahavishnu doctor`), or put it on PATH.",
        )


def exec_launch(launch: Launch) -> None:
    """Replace this process with the assistant (its exit code is the session's)."""
    require_installed(launch)
    try:
        os.execvpe(launch.argv[0], launch.argv, launch.process_env())
    except OSError as exc:  # on PATH, yet no program this system runs (a script without #!, another CPU's)
        raise NotFoundError(
            f"{LABELS[launch.tool]} cannot be started ({launch.argv[0]}): {exc.strerror or exc}",
            hint="Reinstall it (see `mahavishnu doctor`), or put a working one first on PATH.",
        ) from None


def _default_tool(profile: Profile, settings: Settings) -> str:
    default = settings.environments.default_tool
    if serves(profile, default):
        return default
    return next((t for t in ASSISTANTS if serves(profile, t)), default)


Built = tuple[list[str], dict[str, str], list[str]]


def _argv_url(profile: Profile, protocol: Protocol, tool: str) -> str:
    """The base URL of ``profile``'s ``protocol`` endpoint, which goes on ``tool``'s command line:
    refused when it carries a credential (a user or password, a query or fragment), since any local
    user can read a command line."""
    url = str(profile.endpoint(protocol, LABELS[tool]).base_url)
    if not _carries_credential(url):
        return url
    raise InvalidInputError(
        f"profile '{profile.name}': {protocol}.base_url carries a user, password or query, which "
        f"`mahavishnu run` would put on {LABELS[tool]}'s command line, where any local user can read it",
        hint=f"Switch instead (`mahavishnu ai switch-llm {profile.name} --tool {tool}` keeps it in the "
        "config file), or move the credential out of the URL into the profile's key.",
    )


def _carries_credential(value: str) -> bool:
    """Whether ``value`` is an http(s) URL with a user or password, a query or a fragment: where a
    base URL can carry a credential (``https://TOKEN@host``, ``?api_key=…``)."""
    parts = urlsplit(value)
    credential = "@" in parts.netloc or bool(parts.query) or bool(parts.fragment)
    return parts.scheme in ("http", "https") and credential


def _json_tree(value: str) -> Any:
    """``value`` parsed when it is a JSON object or array, else None."""
    if not value.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _hide_urls(data: Any) -> Any:
    """A copy of a JSON-like tree with every URL that carries a credential ``_hidden``."""
    if isinstance(data, dict):
        return {k: _hide_urls(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_hide_urls(v) for v in data]
    if isinstance(data, str) and _carries_credential(data):
        return _hidden(data)
    return data


def _hidden(url: str) -> str:
    """``url`` to print, with its user and password, query and fragment as ``****``."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query, fragment = ("****" if part else "" for part in (parts.query, parts.fragment))
    return urlunsplit(
        (parts.scheme, f"****@{host}" if "@" in parts.netloc else host, parts.path, query, fragment)
    )


def _claude(profile: Profile, key: str) -> Built:
    endpoint = profile.endpoint("anthropic", "Claude Code")
    env = {
        "ANTHROPIC_BASE_URL": _argv_url(profile, "anthropic", "claude"),
        "ANTHROPIC_MODEL": str(endpoint.model),
    }
    for var, value in (
        ("ANTHROPIC_DEFAULT_OPUS_MODEL", endpoint.opus_model),
        ("ANTHROPIC_DEFAULT_SONNET_MODEL", endpoint.sonnet_model),
        ("ANTHROPIC_DEFAULT_HAIKU_MODEL", endpoint.haiku_model),
        ("API_TIMEOUT_MS", str(endpoint.timeout_ms) if endpoint.timeout_ms else None),
    ):
        if value:
            env[var] = value
    # The key stays in the environment; the helper (flag settings outrank the user's own helper)
    # prints it from there, so it is never on a command line. An inline token in the user's
    # settings.json, or one the shell exports, would outrank the helper (or go along with its key):
    # "" in flag settings blanks them inside Claude Code, which sends neither then.
    blanks = dict.fromkeys(SHELL_CREDENTIALS, "")
    flag_settings = {"env": {**env, **blanks}, "apiKeyHelper": f"printenv {RUN_KEY_VAR}"}
    return ["--settings", json.dumps(flag_settings, separators=(",", ":"))], {**env, RUN_KEY_VAR: key}, []


def _codex(profile: Profile, key: str) -> Built:
    endpoint = profile.endpoint("openai", "Codex CLI")
    if endpoint.wire_api != "responses":
        raise no_responses_api(profile, endpoint, "Codex CLI")
    provider = run_provider(profile.name)
    table = f"model_providers.{provider}"
    overrides = {
        f"{table}.name": f"{profile.label} (mahavishnu run)",
        f"{table}.base_url": _argv_url(profile, "openai", "codex"),
        f"{table}.wire_api": "responses",
        f"{table}.env_key": RUN_KEY_VAR,
        "model_provider": provider,
        "model": str(endpoint.model),
    }
    args = [part for k, v in overrides.items() for part in ("-c", f"{k}={json.dumps(v)}")]
    return args, {RUN_KEY_VAR: key}, []


def _qwen(profile: Profile, key: str) -> Built:
    """Qwen Code 0.24 speaks the Responses API under the auth type ``openai-responses`` (the same
    variables; checked against a mock: ``POST /v1/responses``), Chat Completions under ``openai``.

    A ``modelProviders`` entry of the user's settings with the model's id outranks ``--model``,
    ``--openai-base-url`` and ``OPENAI_BASE_URL`` alike (0.24.4 ``resolveCliGenerationConfig`` picks
    the first entry of that id, whose ``baseUrl`` and ``envKey`` win; checked against two mocks): the
    run's own entry, and the model with its ``baseUrl``, come from the shipped system settings
    ``QWEN_RUN_SETTINGS`` (see that file), filled from the environment. The model is not given as
    ``--model``: Qwen Code takes the entry at ``model.baseUrl`` only for a model of the settings, and
    without it an entry of the user's in another list (``openai-responses``, a provider of their
    own) came first. An administrator's system settings are not set aside for it."""
    endpoint = profile.endpoint("openai", "Qwen Code")
    responses = endpoint.wire_api == "responses"
    system = _qwen_system_settings()
    if system.exists() and system.resolve() != QWEN_RUN_SETTINGS.resolve():
        raise InvalidInputError(
            f"Qwen Code's system settings {system} are in use: `mahavishnu run` sets the run's provider "
            "in the system settings layer (the only one that outranks a model of the same id in your own "
            "settings), which would set them aside",
            hint=f"Switch instead: `mahavishnu ai switch-llm {profile.name} --tool qwen`.",
        )
    # no --model: Qwen Code reads model.baseUrl only for a model it took from the settings
    args = ["--auth-type", "openai-responses" if responses else "openai"]
    env = {
        QWEN_SETTINGS_VAR: str(QWEN_RUN_SETTINGS),
        "MAHAVISHNU_RUN_QWEN_MODEL": str(endpoint.model),
        "MAHAVISHNU_RUN_QWEN_BASE_URL": str(endpoint.base_url),
        "MAHAVISHNU_RUN_QWEN_WIRE_API": "responses" if responses else "chat-completions",
        # (also where Qwen Code looks without an entry: nothing in the run reads another provider's)
        "OPENAI_BASE_URL": str(endpoint.base_url),
        "OPENAI_API_KEY": key,
    }
    return args, env, []


def _qwen_system_settings() -> Path:
    """The system settings file Qwen Code 0.24 reads (``getSystemSettingsPath``)."""
    if os.environ.get(QWEN_SETTINGS_VAR):
        return Path(os.environ[QWEN_SETTINGS_VAR])
    if sys.platform == "darwin":
        return Path("/Library/Application Support/QwenCode/settings.json")
    if sys.platform == "win32":
        return Path("C:\\ProgramData\\qwen-code\\settings.json")
    return Path("/etc/qwen-code/settings.json")


def _gemini(profile: Profile, key: str) -> Built:
    """Gemini CLI 0.61 takes GOOGLE_GEMINI_BASE_URL alone for its "gateway" auth type, which it
    refuses in a non-interactive run: the base URL is set only when it is not Google's own, and then
    the user's settings must select the API-key auth type (``switch-llm … --tool gemini`` once)."""
    from mahavishnu.environments.assistants import gemini
    from mahavishnu.files.json_values import member
    from mahavishnu.files.safe_write import read_text

    endpoint = profile.endpoint("gemini", "Gemini CLI")
    env = {"GEMINI_API_KEY": key}
    warnings = []
    if str(endpoint.base_url).rstrip("/") != GOOGLE_GEMINI_URL:
        env[gemini.BASE_URL_VAR] = str(endpoint.base_url)
        data = gemini.load(read_text(gemini.config_path("user")), gemini.config_path("user")).data
        if member(data, "security", "auth", "selectedType") != gemini.AUTH_TYPE:
            warnings.append(
                f"Gemini CLI uses a custom base URL only with security.auth.selectedType "
                f'"{gemini.AUTH_TYPE}" in {gemini.config_path("user")}: set it once (or run '
                f"`mahavishnu ai switch-llm {profile.name} --tool gemini`)"
            )
    return ["--model", str(endpoint.model)], env, warnings


def _opencode(profile: Profile, key: str) -> Built:
    endpoint = profile.endpoint("openai", "OpenCode")
    from mahavishnu.environments.assistants.base import refuse_expanded
    from mahavishnu.environments.assistants.opencode import SUBSTITUTIONS, npm_package

    model = str(endpoint.model)
    small = endpoint.haiku_model or model  # (titles carry the prompt: not the user's small_model)
    values = {"openai.base_url": str(endpoint.base_url), "openai.model": model, "label": profile.label}
    values |= {"openai.haiku_model": small}
    refuse_expanded(profile.name, "OpenCode", values, SUBSTITUTIONS)  # (its OPENCODE_CONFIG_CONTENT too)
    provider = {
        "npm": npm_package(endpoint.wire_api),  # (the Responses API: @ai-sdk/openai)
        "name": f"{profile.label} (mahavishnu run)",
        "options": {"baseURL": str(endpoint.base_url), "apiKey": f"{{env:{RUN_KEY_VAR}}}"},
        "models": {name: {"name": name} for name in (model, small)},
    }
    name = run_provider(profile.name)
    content = {"provider": {name: provider}, "model": f"{name}/{model}", "small_model": f"{name}/{small}"}
    return [], {"OPENCODE_CONFIG_CONTENT": json.dumps(content), RUN_KEY_VAR: key}, []


def _pi(profile: Profile, key: str) -> Built:
    """Pi reads a base URL only from models.json or an extension: the shipped extension registers the
    provider from the environment (the key by its variable's name, as Pi resolves ``apiKey``)."""
    endpoint = profile.endpoint("openai", "Pi")
    model = str(endpoint.model)
    provider = {
        "name": f"{profile.label} (mahavishnu run)",
        "baseUrl": str(endpoint.base_url),
        "api": "openai-responses" if endpoint.wire_api == "responses" else "openai-completions",
        "apiKey": RUN_KEY_VAR,
        "models": [
            {
                "id": model,
                "name": model,
                "reasoning": False,
                "input": ["text"],
                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                "contextWindow": 128000,
                "maxTokens": 16384,
            }
        ],
    }
    name = run_provider(profile.name)
    args = ["--extension", str(PI_EXTENSION), "--provider", name, "--model", model]
    return args, {PI_PROVIDER_ID_VAR: name, PI_PROVIDER_VAR: json.dumps(provider), RUN_KEY_VAR: key}, []


#: How ``run`` starts each assistant (a test checks every registered assistant has one).
BUILDERS: dict[str, Callable[[Profile, str], Built]] = {
    "claude": _claude,
    "codex": _codex,
    "qwen": _qwen,
    "gemini": _gemini,
    "opencode": _opencode,
    "pi": _pi,
}
