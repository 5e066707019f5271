"""The assistant registry is the one list: each row names a class that agrees with it, and the
versions it calls tested are the ones .ci/install-e2e.sh installs."""

from __future__ import annotations

import re
from pathlib import Path

from mahavishnu.environments.assistants.registry import REGISTRY, assistant_class
from mahavishnu.environments.switcher import ASSISTANTS, EXECUTABLES, LABELS, PROTOCOL

INSTALL_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "install-e2e.sh"


def test_each_row_names_a_class_that_agrees_with_it() -> None:
    for info in REGISTRY:
        cls = assistant_class(info.name)
        assert (cls.name, cls.label, cls.protocol) == (info.name, info.label, info.protocol)
    assert set(LABELS) == set(PROTOCOL) == set(EXECUTABLES) == set(ASSISTANTS)


def test_the_tested_versions_are_the_ones_the_e2e_install_pins() -> None:
    pattern = r'^([A-Z_]+)_VERSION="\$\{[A-Z_]+:-([0-9.]+)\}"'
    pins = dict(re.findall(pattern, INSTALL_SCRIPT.read_text(), re.M))
    variable = {"claude": "CLAUDE_CODE", "codex": "CODEX", "qwen": "QWEN_CODE", "gemini": "GEMINI_CLI"}
    for info in REGISTRY:
        assert pins[variable.get(info.name, info.name.upper())] == info.tested, info.name
