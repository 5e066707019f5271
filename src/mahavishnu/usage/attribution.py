"""Which provider served a request: what Mahavishnu switched the assistant to at that time.

The switch history (``files/switch_log``: each ``switch-llm``, and each rollback of one, with its
time, profile, assistants and scope) gives, for each assistant, the profile in force at any
moment; a project- or local-scope switch holds in its project only, over the user's. The profile
gives the provider and the endpoint the assistant was pointed at (its base URL, for the
assistant's protocol); a stock profile, the assistant's own provider. So a request Claude Code sent
while switched to ``qwen`` is DashScope's, whatever model name the log shows, and is priced as
DashScope's (or not at all), never at Anthropic's rates.

Where the log itself names the provider (Codex's ``session_meta.model_provider``; Pi's and
OpenCode's, which talk to many providers, name one on every message), that wins when it is a
switch's (``mahavishnu-<profile>``), the assistant's own, or one ``genai-prices`` knows by that id
(``anthropic``, ``openrouter``…). Codex's log names the provider of its config, which a switch
writes as ``mahavishnu-<profile>``: any other name there is the user's own (``myproxy``, a local
``ollama``), filed under that name and unpriced unless ``usage.yaml`` prices it. Pi's and
OpenCode's provider of a switch is named ``mahavishnu`` (``SWITCHED``; or the profile): only that
name (or none) is the switch history's. One of Pi's own providers ``genai-prices`` has no id for
(``_BUILT_IN``: ``vercel-ai-gateway``, OpenCode Zen's ``opencode``…) is a known vendor's: the
model says whose, as with no switch. Any other name is a provider the user defined in Pi's or
OpenCode's config: it keeps its name, switched or not, unpriced unless ``usage.yaml`` prices it
(``myproxy`` serving ``gpt-4o`` is not billed at OpenAI's list price).

``mahavishnu run`` gives Codex, Pi and OpenCode a provider named for the profile
(``run_names.run_provider``, a name no switch writes): a request logged under it is that profile's; one
of that form no profile now has (a profile deleted since) keeps the name, unpriced. Before, every
run's provider was ``RUN``: a request logged under it is the profile of the latest run of that
assistant and model started before it (``usage/runs``, which ``run`` appends to); with none
recorded, the one profile that names the model, else ``RUN`` itself, unpriced.

With no switch recorded before a request, the log's model says: the provider ``genai-prices``
prices it at, else the one whose model names it has (``claude-opus-9``, newer than the price
data: Anthropic's, unpriced), else ``UNKNOWN`` (unpriced): a model no provider's names match (a
local model behind a proxy set by hand) is not the assistant's own provider's, whose prices
would be looked up for it. Only an assistant whose own login has no price list (Qwen Code's
``coder-model``) keeps it, and a request of no model.

Boundaries: a request is logged when its answer ends, so one sent just before a switch is logged
just after it. Within ``GRACE`` of a switch, a request whose model the new profile does not serve
but the one before did (``qwen3-coder-plus`` a minute after switching from DashScope to a lab) is
the one before's. Switches are taken in the journal's order (``switch_log.records`` lists them
newest first: ``from_history`` turns it round): two in one second keep their order,
and one stamped before the switch logged ahead of it (the clock went back) takes effect at that
switch's time. Each request gets exactly one provider.

The profile is read as it is defined now: a profile edited since the switch is attributed by its
new endpoint. A profile of the user's own (not the catalogue's) is taken for a gateway: a LiteLLM,
a company proxy or a local router passes the model name on to its provider, so when nothing
prices the gateway itself its requests are priced at their model's list price (``pricing``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from mahavishnu.environments.assistants.registry import REGISTRY
from mahavishnu.environments.run_names import RUN_PREFIX, SWITCH_PREFIX, run_provider, switched_profile
from mahavishnu.files import switch_log
from mahavishnu.files.switch_log import SwitchRecord
from mahavishnu.usage import runs as run_log
from mahavishnu.usage.own_providers import OwnUrls
from mahavishnu.usage.pricing import (
    exact_provider_id,
    known_provider_id,
    model_ref,
    provider_named,
    provider_of_model,
)
from mahavishnu.usage.readers.fields import project
from mahavishnu.usage.records import TOOLS, Provider, Tool
from mahavishnu.usage.runs import Run

#: Each assistant's own provider (its login), as reports name it, and genai-prices' id for it.
NATIVE: dict[Tool, str] = {
    "claude": "anthropic",
    "codex": "openai",
    "qwen": "qwen-code",
    "gemini": "google",
    "pi": "pi",
    "opencode": "opencode",
}
#: Who served a request nothing names: no switch, a model no provider's names match.
UNKNOWN = "unknown"
#: Assistants with no provider of their own: each message names the one it was sent to.
_MANY_PROVIDERS: frozenset[Tool] = frozenset({"pi", "opencode"})
_PRICE_IDS = {"anthropic": "anthropic", "openai": "openai", "google": "google"}
#: The wire protocol each assistant speaks (the profile endpoint it uses).
PROTOCOL: dict[str, str] = {info.name: info.protocol for info in REGISTRY}
_NO_SWITCH = (0, 0, False)
#: How long after a switch a request may still be the previous profile's: the longest a request
#: runs (a long answer, a tool loop's last turn) between being sent and being logged.
GRACE = 15 * 60
#: The provider a switch writes into Pi's models.json and OpenCode's config (``assistants.pi`` and
#: ``assistants.opencode``'s ``PROVIDER``): the switch history says which profile it was.
SWITCHED = "mahavishnu"
#: The provider ``mahavishnu run`` defined for Codex, Pi and OpenCode before each profile's had its own
#: name (``run_names.run_provider``): the runs recorded (``usage/runs``) say which profile it was.
RUN = "mahavishnu-run"
#: The assistants whose logs name a run's provider.
_RUN_NAMED: frozenset[str] = frozenset({"codex", "pi", "opencode"})
#: Pi's and OpenCode's own providers of a known vendor that genai-prices has no id for (Pi 0.73's
#: built-in providers ``known_provider_id`` does not match; OpenCode Zen is ``opencode`` in both):
#: the model says whose they are, as with no switch. Any other name genai-prices does not know is a
#: provider the user defined.
_BUILT_IN = frozenset(
    {
        "huggingface",
        "kimi-coding",
        "minimax-cn",
        "opencode",
        "opencode-go",
        "vercel-ai-gateway",
        "xiaomi",
        "xiaomi-token-plan-ams",
        "xiaomi-token-plan-cn",
        "xiaomi-token-plan-sgp",
    }
)
#: Pi's and OpenCode's own providers of a vendor that genai-prices matches by a part of their name
#: (``amazon-bedrock`` is its ``aws``, ``google-vertex`` its ``google``): that vendor's. Any other
#: name genai-prices matches only by a part (``anthropic-proxy`` contains ``anthropic``, ``my-openai``
#: ``openai``) is a provider the user defined: its name says nothing of whose it is, its base URL
#: (``own_providers``) does.
_MATCHED_BUILT_IN = frozenset(
    {
        "amazon-bedrock",
        "azure-openai-responses",
        "cloudflare-ai-gateway",
        "cloudflare-workers-ai",
        "github-copilot",
        "google-antigravity",
        "google-gemini-cli",
        "google-vertex",
        "google-vertex-anthropic",
        "moonshotai-cn",
        "openai-codex",
        "xai",
    }
)


@dataclass(frozen=True)
class Switch:
    """One recorded switch of one assistant: when, to which profile (None: the one in force before
    the switch a rollback undid), in which project (None: user scope)."""

    time: float
    tool: Tool
    profile: str | None
    project: str | None
    id: str = ""
    undoes: str | None = None


@dataclass(frozen=True)
class ProfileEndpoints:
    """What attribution needs of a profile: the assistants it is a stock login for, and the base
    URL of each protocol it speaks."""

    stock: tuple[str, ...]
    base_urls: Mapping[str, str | None]
    #: the models it names (every protocol's model, opus/sonnet/haiku models), lower case
    models: frozenset[str] = frozenset()
    #: a profile of the user's own, not the catalogue's: a gateway (``Provider.gateway``)
    own: bool = False


class Attribution:
    """The provider in force for an assistant at a moment, from the switch history."""

    def __init__(
        self,
        switches: Iterable[Switch],
        profiles: Mapping[str, ProfileEndpoints],
        runs: Iterable[Run] = (),
        own_urls: OwnUrls | None = None,
    ) -> None:
        """``switches`` in the journal's order (oldest first); ``runs``: those ``mahavishnu run``
        recorded; ``own_urls``: the base URL of each provider the user defined in an assistant's
        config, per assistant (``own_providers``)."""
        self._profiles = profiles
        self._run_names = {run_provider(name): name for name in profiles}
        self._own_urls = {tool: dict(urls) for tool, urls in (own_urls or {}).items()}
        self._timelines: dict[tuple[Tool, str | None], tuple[list[float], list[str | None]]] = {}
        for switch in _resolved(_in_journal_order(switches)):
            times, names = self._timelines.setdefault((switch.tool, switch.project), ([], []))
            times.append(switch.time)
            names.append(switch.profile)
        self._switched = {tool for tool, _ in self._timelines}
        self._runs: dict[str, tuple[list[float], list[Run]]] = {}
        for run in sorted((r for r in runs if r.tool in _RUN_NAMED), key=lambda r: r.time):
            times, started = self._runs.setdefault(run.tool, ([], []))
            times.append(run.time)
            started.append(run)

    def signature(self) -> str:
        """All that decides who served a request, as text: the timelines and the profiles (a cached
        sum is good only while this is the same)."""
        timelines = sorted(
            ((tool, project or ""), times, [name or "" for name in names])
            for (tool, project), (times, names) in self._timelines.items()
        )
        profiles = sorted(
            (name, p.stock, sorted((k, v or "") for k, v in p.base_urls.items()), sorted(p.models), p.own)
            for name, p in self._profiles.items()
        )
        started = sorted(
            (tool, times, [(run.profile, run.model) for run in each])
            for tool, (times, each) in self._runs.items()
        )
        own = sorted((tool, sorted(urls.items())) for tool, urls in self._own_urls.items())
        return repr((timelines, profiles, started, own))

    def provider(self, tool: Tool, time: float, project: str | None, model: str, via: str = "") -> Provider:
        if via.startswith(RUN_PREFIX) and tool in _RUN_NAMED:  # a run's, named for its profile
            profile = self._run_names.get(via)  # (None: a profile deleted since, unpriced by this name)
            return Provider(via) if profile is None else self._of_profile(tool, profile)
        if via == RUN and tool in _RUN_NAMED:
            run = self._of_run(tool, time, model)
            if run is not None:
                return run
        named = self._named(tool, via)
        if named is not None:
            return named
        if via == RUN and tool in _RUN_NAMED:  # a run of no profile known: unpriced, never the switch's
            return Provider(RUN)
        if via and via != SWITCHED and tool in _MANY_PROVIDERS:
            if via in _BUILT_IN and (found := _provider_of_model(model)) is not None:
                return Provider(found, price_id=found)  # (Vercel's gateway, OpenCode Zen…): the model's
            return Provider(via)  # the user's own provider: unpriced unless usage.yaml prices it
        profile = self._in_force(tool, project, time, model) if project is not None else None
        if profile is None:
            profile = self._in_force(tool, None, time, model)
        if profile is None:
            if via and tool in _MANY_PROVIDERS and _provider_of_model(model) is None:
                return Provider(via)  # the user's own provider of that name: unpriced, not "pi"
            return by_model(tool, model)
        return self._of_profile(tool, profile)

    def _named(self, tool: Tool, via: str) -> Provider | None:
        """The provider a log names: ``mahavishnu-<profile>`` (what a switch writes into Codex's
        config) is that profile's; the assistant's own provider id is its stock login. Pi and
        OpenCode name one on each message: a profile's name is that profile, an id genai-prices
        knows is that provider (``provider`` takes the others). Any other name Codex logs is a
        provider the user defined (or one of Codex's own, ``ollama``, ``azure``…): it keeps its
        name, priced as genai-prices prices that id, else unpriced unless ``usage.yaml`` prices it,
        never at OpenAI's rates."""
        if (switched := switched_profile(via, self._profiles)) is not None:
            return self._of_profile(tool, switched)
        if tool in _MANY_PROVIDERS:
            if via in self._profiles:  # a provider a switch wrote under the profile's own name
                return self._of_profile(tool, via)
            return self._vendor(tool, via)
        if via and via == NATIVE[tool]:
            return Provider(via, price_id=_PRICE_IDS.get(via))
        if via and not via.startswith(SWITCH_PREFIX):  # the user's own (Codex's [model_providers.NAME])
            return self._vendor(tool, via) or Provider(via)
        return None

    def _vendor(self, tool: Tool, via: str) -> Provider | None:
        """The provider a log names, priced as a vendor's: genai-prices' own id for one
        (``anthropic``, ``openrouter``, ``azure``) or an assistant's own provider it matches
        (``_MATCHED_BUILT_IN``); else a provider the user defined with a base URL, priced as the
        vendor of that URL (or not at all). None for any other name: the user's own, unpriced,
        even where genai-prices would match a vendor's name inside it (``anthropic-proxy``)."""
        if not via:
            return None
        if (_exact_provider_id(via) or via in _MATCHED_BUILT_IN) and _known_provider_id(via):
            return Provider(via, price_id=via)
        url = self._own_urls.get(tool, {}).get(via)
        return Provider(via, base_url=url) if url else None

    def era(self, tool: Tool, project: str | None, time: float) -> tuple[int, int, bool]:
        """How many switches of ``tool`` (in ``project``; at user scope, plus the runs of it
        recorded) came before ``time``, and whether the last switch was within ``GRACE``: two
        requests of a model with the same era have the same provider (each count only grows with
        ``time``, so an equal sum is an equal count of each)."""
        runs = self._runs.get(tool)
        if tool not in self._switched and runs is None:  # never switched nor run: one era (most requests)
            return _NO_SWITCH
        here, since_here = self._count(tool, project, time) if project is not None else (0, GRACE)
        there, since_there = self._count(tool, None, time)
        if runs is not None:
            there += bisect_right(runs[0], time)
        return here, there, min(since_here, since_there) < GRACE

    def _count(self, tool: Tool, project: str | None, time: float) -> tuple[int, float]:
        timeline = self._timelines.get((tool, project))
        if timeline is None:
            return 0, GRACE
        count = bisect_right(timeline[0], time)
        return count, time - timeline[0][count - 1] if count else GRACE

    def _of_run(self, tool: Tool, time: float, model: str) -> Provider | None:
        """For a request logged under ``RUN`` (a run from before each profile's provider had its own
        name): the profile of the latest run of ``tool`` on ``model`` started before ``time``; with none
        recorded (a run before runs were), the one profile that names ``model`` for ``tool``'s
        protocol, if only one does; else None."""
        wanted = model_ref(model)
        times, started = self._runs.get(tool, ([], []))
        for run in reversed(started[: bisect_right(times, time)]):
            if model_ref(run.model) == wanted:
                return self._of_profile(tool, run.profile)
        serving = [
            name
            for name, endpoints in self._profiles.items()
            if wanted in endpoints.models and endpoints.base_urls.get(PROTOCOL[tool])
        ]
        return self._of_profile(tool, serving[0]) if len(serving) == 1 else None

    def _in_force(self, tool: Tool, project: str | None, time: float, model: str) -> str | None:
        """The profile in force in this scope (None: none, or the assistant's own as before any
        switch); the one before it for a request logged within ``GRACE`` of the switch whose model
        only that one serves."""
        timeline = self._timelines.get((tool, project))
        if timeline is None:
            return None
        times, names = timeline
        index = bisect_right(times, time) - 1
        if index < 0:
            return None
        now, before = names[index], names[index - 1] if index > 0 else None
        if (
            before is not None
            and time - times[index] < GRACE
            and self._serves(tool, now, model) is False
            and self._serves(tool, before, model) is True
        ):
            return before
        return now

    def _serves(self, tool: Tool, name: str | None, model: str) -> bool | None:
        """Whether the profile ``name`` serves ``model`` (None: it does not say)."""
        endpoints = self._profiles.get(name or "")
        if endpoints is None:
            return None
        if tool in endpoints.stock:
            return _provider_of_model(model) == NATIVE[tool]
        return model_ref(model) in endpoints.models if endpoints.models else None

    def _of_profile(self, tool: Tool, name: str) -> Provider:
        endpoints = self._profiles.get(name)
        if endpoints is None:  # deleted since: its name, unpriced unless usage.yaml prices it
            return Provider(name, profile=name)
        if tool in endpoints.stock:
            native = NATIVE[tool]
            return Provider(native, profile=name, price_id=_PRICE_IDS.get(native))
        return Provider(
            name, profile=name, base_url=endpoints.base_urls.get(PROTOCOL[tool]), gateway=endpoints.own
        )


def _in_journal_order(switches: Iterable[Switch]) -> list[Switch]:
    """The switches as the journal has them, each at least as late as the one before (the clock
    may have gone back between them; the journal's order is what happened)."""
    ordered: list[Switch] = []
    latest = float("-inf")
    for switch in switches:
        latest = max(latest, switch.time)
        ordered.append(replace(switch, time=latest))
    return ordered


def _resolved(switches: list[Switch]) -> Iterable[Switch]:
    """Switches with a rollback's profile filled in: the one in force before the switch it undid."""
    before: dict[str, str | None] = {}  # switch id -> profile in force before it (same tool, project)
    current: dict[tuple[Tool, str | None], str | None] = {}
    for switch in switches:
        where = (switch.tool, switch.project)
        before[f"{switch.id}/{switch.tool}"] = current.get(where)
        profile = before.get(f"{switch.undoes}/{switch.tool}") if switch.undoes else switch.profile
        current[where] = profile
        yield Switch(switch.time, switch.tool, profile, switch.project, switch.id)


def by_model(tool: Tool, model: str) -> Provider:
    """With no switch recorded: the provider genai-prices prices ``model`` at, else the one whose
    model names it has; else ``UNKNOWN``, or the assistant's own when its login has no price list
    (its own model names: Qwen Code's) or no model is named."""
    found = _provider_of_model(model) or _provider_named(model)
    if found is not None:
        return Provider(found, price_id=found)
    native = NATIVE[tool]
    if model and native in _PRICE_IDS:
        return Provider(UNKNOWN)
    return Provider(native, price_id=_PRICE_IDS.get(native))


@lru_cache(maxsize=256)
def _known_provider_id(name: str) -> bool:
    return known_provider_id(name)


@lru_cache(maxsize=256)
def _exact_provider_id(name: str) -> bool:
    """Whether ``name`` is one of genai-prices' provider ids itself (not one it matches by a part)."""
    return exact_provider_id(name)


@lru_cache(maxsize=1024)
def _provider_of_model(model: str) -> str | None:
    return provider_of_model(model)


@lru_cache(maxsize=1024)
def _provider_named(model: str) -> str | None:
    return provider_named(model)


def from_history() -> Attribution:
    """The attribution of this machine: Mahavishnu's switch history, the runs it started and its
    profiles now."""
    from mahavishnu.config import load_settings
    from mahavishnu.environments.profiles import all_profiles
    from mahavishnu.errors import MahavishnuError

    try:
        profiles = all_profiles(load_settings())
    except MahavishnuError:  # a broken settings file: no profile is known, names are still shown
        profiles = {}
    endpoints = {
        name: ProfileEndpoints(
            stock=tuple(profile.settings.stock),
            base_urls={
                protocol: endpoint.base_url if (endpoint := getattr(profile.settings, protocol)) else None
                for protocol in ("anthropic", "openai", "gemini")
            },
            own=not profile.builtin,
            models=frozenset(
                model_ref(name)
                for protocol in ("anthropic", "openai", "gemini")
                if (endpoint := getattr(profile.settings, protocol))
                for name in (endpoint.model, endpoint.opus_model, endpoint.sonnet_model, endpoint.haiku_model)
                if name
            ),
        )
        for name, profile in profiles.items()
    }
    journal = reversed(switch_log.records())  # (it lists them newest first: here, oldest first)
    from mahavishnu.usage.own_providers import own_urls

    switches = [s for record in journal for s in switches_of(record)]
    return Attribution(switches, endpoints, run_log.runs(), own_urls())


def switches_of(record: SwitchRecord) -> list[Switch]:
    """A recorded switch (or rollback of one), one ``Switch`` per assistant it changed."""
    try:
        time = datetime.fromisoformat(record.time).timestamp()
    except ValueError:
        return []
    undoes = None
    profile: str | None = record.profile
    if record.profile.startswith("rollback of "):
        undoes = record.profile.removeprefix("rollback of ").split(" ", 1)[0]
        profile = None
    found = []
    for tool in TOOLS:
        if tool in record.tools:
            project = _project_of(record, tool) if record.scope in ("project", "local") else None
            found.append(Switch(time, tool, profile, project, record.id, undoes))
    return found


def _project_of(record: SwitchRecord, tool: Tool) -> str | None:
    """The project a project-scope switch wrote into: the folder holding its ``.claude``, ``.codex``…"""
    for entry in record.files:
        if switch_log.tools_of([entry.path]) == [tool]:
            folder = entry.path.parent
            if folder.name.startswith("."):
                folder = folder.parent
            return project(str(folder))
    return None
