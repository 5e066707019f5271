"""A run's requests are logged under a provider named for its profile (``launch.run_provider``):
usage files each under that profile by the name alone, so two runs of one assistant with the same
model on two profiles at once (``gpt-5`` from OpenAI in one terminal, through the company's gateway
in another) are each their own profile's, not both the later one's."""

from __future__ import annotations

import pytest

from mahavishnu.environments.launch import run_provider
from mahavishnu.usage.attribution import RUN, Attribution, ProfileEndpoints, Switch
from mahavishnu.usage.records import Provider, Tool
from mahavishnu.usage.runs import Run

OPENAI = "https://api.openai.com/v1"
GATEWAY = "https://gw.corp.example/v1"
PROFILES = {
    "openai-direct": ProfileEndpoints(stock=(), base_urls={"openai": OPENAI}, models=frozenset({"gpt-5"})),
    "corp.gw": ProfileEndpoints(
        stock=(), base_urls={"openai": GATEWAY}, models=frozenset({"gpt-5"}), own=True
    ),
    # what a Codex switch to it writes, ``mahavishnu-run-lab``, looks like a run of ``lab`` in the old form
    "run-lab": ProfileEndpoints(stock=(), base_urls={"openai": "http://127.0.0.1:4000/v1"}),
    "lab": ProfileEndpoints(stock=(), base_urls={"openai": "http://127.0.0.1:4001/v1"}),
}
TOOLS: list[Tool] = ["codex", "pi", "opencode"]


def _attribution(tool: Tool) -> Attribution:
    """Switched to ``run-lab``; then a run on ``openai-direct``, and one on ``corp.gw`` started after it."""
    started = [Run(100, tool, "openai-direct", "gpt-5"), Run(110, tool, "corp.gw", "gpt-5")]
    return Attribution([Switch(50, tool, "run-lab", None, "s1")], PROFILES, started)


@pytest.mark.parametrize("tool", TOOLS)
def test_two_runs_of_one_model_at_once_are_each_billed_to_its_own_profile(tool: Tool) -> None:
    attribution = _attribution(tool)
    for at in (105, 120, 5000):
        direct = attribution.provider(tool, at, None, "gpt-5", run_provider("openai-direct"))
        gateway = attribution.provider(tool, at, None, "gpt-5", run_provider("corp.gw"))
        assert direct == Provider("openai-direct", "openai-direct", OPENAI)
        assert gateway == Provider("corp.gw", "corp.gw", GATEWAY, gateway=True)


@pytest.mark.parametrize("tool", TOOLS)
def test_the_old_name_is_still_the_latest_run_of_that_model(tool: Tool) -> None:
    """Logs written before each profile's run had its own name: the runs recorded say whose."""
    attribution = _attribution(tool)
    assert attribution.provider(tool, 105, None, "gpt-5", RUN).profile == "openai-direct"
    assert attribution.provider(tool, 120, None, "gpt-5", RUN).profile == "corp.gw"


@pytest.mark.parametrize("tool", TOOLS)
def test_a_run_of_a_profile_deleted_since_is_unpriced_under_its_run_name(tool: Tool) -> None:
    attribution = _attribution(tool)
    for gone in (run_provider("gone"), run_provider("gone.v2")):
        assert attribution.provider(tool, 120, None, "gpt-5", gone) == Provider(gone)


def test_a_switch_s_names_keep_their_meaning() -> None:
    attribution = _attribution("codex")
    assert attribution.provider("codex", 120, None, "m", "mahavishnu-run-lab").profile == "run-lab"
    assert attribution.provider("codex", 120, None, "m", "mahavishnu-lab").profile == "lab"
    for tool in ("pi", "opencode"):
        assert _attribution(tool).provider(tool, 120, None, "m", "mahavishnu").profile == "run-lab"
        assert _attribution(tool).provider(tool, 120, None, "m", "lab").profile == "lab"
