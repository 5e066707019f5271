"""The layers hold (``lint-imports`` checks the contracts in pyproject.toml in .ci/run) and no import
cycle of more than one module exists anywhere in the package: function-level and TYPE_CHECKING
imports count, since a cycle through either is still two modules that cannot be read apart."""

from __future__ import annotations

import grimp
import pytest
from testkit.import_cycles import cycles as _cycles


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("mahavishnu", exclude_type_checking_imports=False)


def test_no_import_cycle_anywhere(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(graph: grimp.ImportGraph) -> None:
    graph.add_import(importer="mahavishnu.paths", imported="mahavishnu.memory.core.store")
    try:
        assert any("mahavishnu.paths" in cycle for cycle in _cycles(graph))
    finally:
        graph.remove_import(importer="mahavishnu.paths", imported="mahavishnu.memory.core.store")


def test_function_level_imports_are_in_the_graph(graph: grimp.ImportGraph) -> None:
    # masking imports the scrubber inside a function (start-up cost): the graph must see it
    assert "mahavishnu.redaction.scrub" in graph.find_modules_directly_imported_by("mahavishnu.masking")
