"""A new name with white space at an end is refused: it was checked stripped and stored whole, so
a note stored with ``--project $'walrus\\n'`` (or ``'walrus '``) sat under a project no search named."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.models import check_name

runner = CliRunner()


@pytest.mark.parametrize("name", ["walrus\n", "walrus ", " walrus", "\twalrus", "   "])
def test_a_name_with_white_space_at_an_end_is_refused(name: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        check_name("project", name)
    assert "white space" in refused.value.message


def test_names_inside_and_plain_still_pass() -> None:
    assert check_name("project", "my project") == "my project"
    assert check_name("project", "walrus") == "walrus"


def test_the_cli_refuses_it_and_stores_nothing() -> None:
    said = runner.invoke(app, ["memory", "store", "Walruses sleep on ice floes", "--project", "walrus\n"])
    assert said.exit_code != 0 and "white space" in said.output and "Traceback" not in said.output
    listed = runner.invoke(app, ["memory", "list", "--json"])
    assert "Walruses" not in listed.output
