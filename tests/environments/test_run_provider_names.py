"""Each profile's run has a provider name of its own (``launch.run_provider``), which Codex, Pi and
OpenCode log on every request: no two profiles share one, no switch writes one, and each assistant
takes it where ``run`` puts it (a Codex ``-c`` key path, OpenCode's ``provider/model``, Pi's
``--provider`` and the extension that registers it)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from _switch_helpers import write_profiles
from hypothesis import given, settings
from hypothesis import strategies as st

from mahavishnu.config import load_settings
from mahavishnu.environments.assistants import codex, opencode, pi
from mahavishnu.environments.launch import PI_EXTENSION, PI_PROVIDER_ID_VAR, PI_PROVIDER_VAR, plan
from mahavishnu.environments.profiles import PROFILE_NAME
from mahavishnu.environments.run_names import RUN_PREFIX, run_provider
from mahavishnu.usage import attribution

names = st.from_regex(PROFILE_NAME, fullmatch=True)
#: A TOML bare key: what a Codex ``-c`` key path is made of (it splits the path at each ".").
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _lookalikes(name: str) -> set[str]:
    """``name`` and the profile names most like its run provider's: its "." as "-", and that with
    the digest its run provider's name carries."""
    dashed = name.replace(".", "-")
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return {name, dashed, f"{dashed}-{digest}"[:64]}


@settings(max_examples=300, deadline=None)
@given(st.lists(names, min_size=2, max_size=8, unique=True))
def test_no_two_profiles_share_a_run_provider(profiles: list[str]) -> None:
    every = {n for name in profiles for n in _lookalikes(name)}
    assert len({run_provider(name) for name in every}) == len(every)


@settings(max_examples=300, deadline=None)
@given(names)
def test_a_run_provider_is_no_switch_s_and_each_assistant_takes_it(name: str) -> None:
    run = run_provider(name)
    # not what a switch writes: a profile's own name (Pi, OpenCode), ``mahavishnu``, ``mahavishnu-X``
    assert not PROFILE_NAME.fullmatch(run) and run not in (pi.PROVIDER, opencode.PROVIDER)
    assert not run.startswith(codex.PROVIDER_PREFIX) and run != attribution.RUN
    assert not codex.provider_id(name).startswith(RUN_PREFIX)
    # a Codex key path; OpenCode's provider/model; not a flag on Pi's command line
    assert BARE_KEY.fullmatch(run) and not run.startswith("-")
    assert tomllib.loads(f"model_providers.{run}.base_url = 'u'") == {
        "model_providers": {run: {"base_url": "u"}}
    }
    assert f"{run}/gpt-5".split("/", 1) == [run, "gpt-5"]
    assert run.startswith(RUN_PREFIX)
    assert (run == RUN_PREFIX + name) == ("." not in name)  # readable as it is when it can be


def test_a_name_with_a_dot_is_told_from_the_name_with_a_dash() -> None:
    assert run_provider("lab") == "_mahavishnu-run-lab"
    dotted = run_provider("lab.v2")
    assert re.fullmatch(r"_mahavishnu-run--lab-v2-[0-9a-f]{8}", dotted)
    assert dotted != run_provider("lab-v2") and dotted != run_provider(dotted.removeprefix(RUN_PREFIX + "-"))


PROFILE = "gw.corp"


@pytest.fixture
def gateway(tools_on_path: None, isolated_home: Path) -> None:
    write_profiles(
        isolated_home,
        f"  {PROFILE}:\n    requires_key: false\n"
        "    openai: {base_url: 'http://127.0.0.1:9/v1', model: m, wire_api: responses}\n",
    )


def test_codex_opencode_and_pi_are_given_the_profile_s_run_provider(gateway: None) -> None:
    name = run_provider(PROFILE)
    argv = plan(PROFILE, load_settings(), tool="codex", args=[]).argv
    assert (
        f'model_provider="{name}"' in argv
        and f'model_providers.{name}.env_key="MAHAVISHNU_RUN_API_KEY"' in argv
    )
    content = json.loads(
        plan(PROFILE, load_settings(), tool="opencode", args=[]).env["OPENCODE_CONFIG_CONTENT"]
    )
    assert list(content["provider"]) == [name] and content["model"] == content["small_model"] == f"{name}/m"
    launch = plan(PROFILE, load_settings(), tool="pi", args=[])
    assert launch.argv[3:] == ["--provider", name, "--model", "m"] and launch.env[PI_PROVIDER_ID_VAR] == name
    assert launch.shown_env()[PI_PROVIDER_ID_VAR] == name  # (``--show`` masks no name)


NODE = shutil.which("node")
HARNESS = """
const registered = [];
const mod = await import(process.argv[1]);
mod.default({ registerProvider: (name, config) => registered.push([name, config]) });
process.stdout.write(JSON.stringify(registered));
"""


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_the_pi_extension_registers_the_provider_under_the_name_it_is_given(gateway: None) -> None:
    env = plan(PROFILE, load_settings(), tool="pi", args=[]).env
    done = subprocess.run(
        [str(NODE), "--input-type=module", "-e", HARNESS, str(PI_EXTENSION)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == [[run_provider(PROFILE), json.loads(env[PI_PROVIDER_VAR])]]
