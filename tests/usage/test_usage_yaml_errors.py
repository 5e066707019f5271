"""A broken ``usage.yaml`` is one line worded as ``mahavishnu.yaml``'s errors are: the place of the
bad value and what is wrong with it (not pydantic's dump), ``invalid YAML in FILE at line N``, and
a hint naming usage.yaml itself (``config path`` prints mahavishnu.yaml's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()


def _usage(home: Path, text: str) -> tuple[str, str, Path]:
    file = home / ".mahavishnu" / "usage.yaml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    result = runner.invoke(app, ["usage"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [error, hint] = [line for line in result.stderr.splitlines() if line]
    return error, hint, file


def test_a_bad_value_names_its_place_and_the_file_in_one_line(isolated_home: Path) -> None:
    error, hint, file = _usage(
        isolated_home, 'pricing:\n  qwen:\n    qwen3.7-max: {input: -1, output: "abc"}\n'
    )
    assert error == (
        f"error: {file} is invalid: pricing.qwen.qwen3.7-max.input: "
        "Input should be greater than or equal to 0; pricing.qwen.qwen3.7-max.output: "
        "Input should be a valid number, unable to parse string as a number"
    )
    assert hint == f"hint: Fix it in {file}; nothing was changed."


def test_invalid_yaml_is_worded_as_mahavishnu_yaml_s(isolated_home: Path) -> None:
    error, hint, file = _usage(isolated_home, "pricing: [\n")
    assert error == f"error: invalid YAML in {file} at line 2"
    assert "unicode string" not in error and "config path" not in hint


@pytest.mark.parametrize("text", ["- a\n", "budgets:\n  - {period: week, usd: 1}\n"])
def test_every_usage_yaml_error_points_at_usage_yaml(isolated_home: Path, text: str) -> None:
    error, hint, file = _usage(isolated_home, text)
    assert str(file) in error and "validation error" not in error and "[type=" not in error
    assert hint == f"hint: Fix it in {file}; nothing was changed."
