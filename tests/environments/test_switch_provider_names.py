"""A Codex switch names its provider for the profile (``run_names.switch_provider``), and Codex logs
that name on each request: no two profiles share one (``lab.v2`` and ``lab-v2`` did, both
``mahavishnu-lab-v2``, so ``ai current`` and usage could name the other), and what an earlier
release wrote is still read back."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from _switch_helpers import write_profiles
from hypothesis import given, settings
from hypothesis import strategies as st

from mahavishnu.config import load_settings
from mahavishnu.environments.assistants import codex
from mahavishnu.environments.profiles import PROFILE_NAME
from mahavishnu.environments.run_names import RUN_PREFIX, SWITCH_PREFIX, switch_provider, switched_profile
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.usage.attribution import Attribution, ProfileEndpoints

names = st.from_regex(PROFILE_NAME, fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(names, min_size=2, max_size=8, unique=True))
def test_no_two_profiles_share_a_switch_provider(profiles: list[str]) -> None:
    dashed = [name.replace(".", "-") for name in profiles]  # each name's look-alike without a dot
    every = set(profiles) | {name for name in dashed if PROFILE_NAME.fullmatch(name)}
    assert len({switch_provider(name) for name in every}) == len(every)
    for name in every:
        assert switched_profile(switch_provider(name), every) == name


@settings(max_examples=300, deadline=None)
@given(names)
def test_a_switch_provider_is_a_codex_key_and_no_run_s(name: str) -> None:
    provider = switch_provider(name)
    assert tomllib.loads(f"model_providers.{provider}.base_url = 'u'") == {
        "model_providers": {provider: {"base_url": "u"}}
    }
    assert provider.startswith(SWITCH_PREFIX) and not provider.startswith(RUN_PREFIX)
    assert (provider == SWITCH_PREFIX + name) == ("." not in name)  # readable as it is when it can be


def test_a_dotted_name_gets_a_digest_and_the_older_form_is_still_read() -> None:
    dotted = switch_provider("glm.4-6")
    assert re.fullmatch(r"mahavishnu--glm-4-6-[0-9a-f]{8}", dotted)
    assert switched_profile(dotted, ["glm.4-6", "glm-4-6"]) == "glm.4-6"
    assert switched_profile("mahavishnu-glm-4-6", ["glm.4-6", "glm-4-6"]) == "glm-4-6"  # its own name
    assert switched_profile("mahavishnu-glm-4-6", ["glm.4-6"]) == "glm.4-6"  # what an earlier release wrote
    assert switched_profile("mahavishnu-a-b-c", ["a.b-c", "a-b.c"]) is None  # either: the history says
    assert switched_profile("mine", ["mine"]) is None  # the user's own provider, not a switch's


PROFILES = "".join(
    f"  {name}:\n    requires_key: false\n"
    f"    openai: {{base_url: '{url}', model: gpt-5, wire_api: responses}}\n"
    for name, url in (("lab.v2", "http://127.0.0.1:4001/v1"), ("lab-v2", "http://127.0.0.1:4002/v1"))
)


@pytest.mark.parametrize("chosen", ["lab.v2", "lab-v2"])
def test_codex_switches_to_look_alike_profiles_are_each_told_apart(
    chosen: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profiles(isolated_home, PROFILES)
    monkeypatch.setenv("CODEX_HOME", str(isolated_home / ".codex"))
    switch_llm(chosen, load_settings(), tool="codex")
    written = tomllib.loads((isolated_home / ".codex" / "config.toml").read_text())
    assert written["model_provider"] == switch_provider(chosen)
    (status,) = [s for s in current(load_settings()) if s.tool == "codex"]
    assert status.profile == chosen


def test_codex_usage_of_a_dotted_profile_is_its_own_by_the_log_s_name() -> None:
    profiles = {
        name: ProfileEndpoints(stock=(), base_urls={"openai": url}, models=frozenset({"gpt-5"}))
        for name, url in (("lab.v2", "http://127.0.0.1:4001/v1"), ("lab-v2", "http://127.0.0.1:4002/v1"))
    }
    attribution = Attribution([], profiles)
    for name in profiles:
        assert attribution.provider("codex", 100, None, "gpt-5", switch_provider(name)).profile == name
    assert attribution.provider("codex", 100, None, "gpt-5", codex.provider_id("lab.v2")).profile == "lab.v2"
