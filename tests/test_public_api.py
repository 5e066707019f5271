from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path

import pytest

import mahavishnu
from mahavishnu.config import MemorySettings, Settings
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore


def test_all_is_complete_and_every_name_resolves():
    for name in mahavishnu.__all__:
        assert getattr(mahavishnu, name) is not None, name
    errors = importlib.import_module("mahavishnu.errors")
    public_errors = {n for n in dir(errors) if n.endswith("Error") and not n.startswith("_")}
    assert public_errors <= set(mahavishnu.__all__)


def test_exception_tree_has_one_root():
    for name in mahavishnu.__all__:
        value = getattr(mahavishnu, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, mahavishnu.MahavishnuError), name


#: Public calls given a wrong type, None or an empty text; each raised a bare AttributeError,
#: TypeError, KeyError or sqlite3 error from deep inside (``scrub(5)``: "'int' object has no
#: attribute 'lower'"), naming neither the call nor what it takes.
_WRONG: dict[str, Callable[[MemoryStore, Settings], object]] = {
    "scrub": lambda s, c: mahavishnu.scrub(5),  # type: ignore[arg-type]
    "find_secrets": lambda s, c: mahavishnu.find_secrets(None),  # type: ignore[arg-type]
    "get_embedder": lambda s, c: mahavishnu.get_embedder("nope"),  # type: ignore[arg-type]
    "project_description": lambda s, c: s.project_description(5),  # type: ignore[arg-type]
    "reembed": lambda s, c: s.reembed(None),  # type: ignore[arg-type]
    "reembed batch_size": lambda s, c: s.reembed(FakeEmbedder(), batch_size=None),  # type: ignore[arg-type]
    "describe_project": lambda s, c: s.describe_project("p", 5),  # type: ignore[arg-type]
    "edit": lambda s, c: s.edit(1, None),  # type: ignore[arg-type]
    "export": lambda s, c: s.export(5),  # type: ignore[arg-type]
    "import_": lambda s, c: s.import_(None),  # type: ignore[arg-type]
    "performance_metrics": lambda s, c: s.performance_metrics(component=["x"]),  # type: ignore[arg-type]
    "search fusion": lambda s, c: s.search("hello", fusion=5),  # type: ignore[arg-type]
    "store_many": lambda s, c: s.store_many(5),  # type: ignore[arg-type]
    "resolve": lambda s, c: mahavishnu.resolve(None, c),  # type: ignore[arg-type]
    "resolve settings": lambda s, c: mahavishnu.resolve("claude", "x"),  # type: ignore[arg-type]
    "all_profiles": lambda s, c: mahavishnu.all_profiles(None),  # type: ignore[arg-type]
    "current": lambda s, c: mahavishnu.current(5),  # type: ignore[arg-type]
    "switch_llm": lambda s, c: mahavishnu.switch_llm(5, c, dry_run=True),  # type: ignore[arg-type]
    "hooks_status": lambda s, c: mahavishnu.hooks_status(None),  # type: ignore[arg-type]
    "install_memory_hooks": lambda s, c: mahavishnu.install_memory_hooks(5, dry_run=True),  # type: ignore[arg-type]
    "remove_memory_hooks": lambda s, c: mahavishnu.remove_memory_hooks(["nope"], dry_run=True),  # type: ignore[list-item]
    "store_insight": lambda s, c: mahavishnu.store_insight(s, None),  # type: ignore[arg-type]
    "share_insight": lambda s, c: mahavishnu.share_insight(s, None, projects=["p"]),  # type: ignore[arg-type]
    "share_insight projects": lambda s, c: mahavishnu.share_insight(s, 1, projects=5),  # type: ignore[arg-type]
    "create_group": lambda s, c: mahavishnu.create_group(s, "g", 5),  # type: ignore[arg-type]
    "create_group description": lambda s, c: mahavishnu.create_group(s, "g", description=5),  # type: ignore[arg-type]
    "store_workflow_execution": lambda s, c: mahavishnu.store_workflow_execution(s, "w", "a", repos=5),  # type: ignore[arg-type]
    "ingest_repository": lambda s, c: mahavishnu.ingest_repository(s, None),  # type: ignore[arg-type]
    "ingest_repository include": lambda s, c: mahavishnu.ingest_repository(s, ".", include=5),  # type: ignore[arg-type]
    "ingest_repository settings": lambda s, c: mahavishnu.ingest_repository(s, ".", settings=c),  # type: ignore[arg-type]
    "import_session": lambda s, c: mahavishnu.import_session(s, "nope", "x.jsonl"),  # type: ignore[arg-type]
    "import_history": lambda s, c: mahavishnu.import_history(s, None),  # type: ignore[arg-type]
    "import_transcripts": lambda s, c: mahavishnu.import_transcripts(s, 5),  # type: ignore[arg-type]
    "capture_hook": lambda s, c: mahavishnu.capture_hook(s, "claude", "{}"),  # type: ignore[arg-type]
    "build_context": lambda s, c: mahavishnu.build_context(s, "{}", "claude", c.recall),  # type: ignore[arg-type]
    "search_everywhere filters": lambda s, c: mahavishnu.search_everywhere(s, "hello", filters=["x"]),  # type: ignore[arg-type]
    "search_everywhere settings": lambda s, c: mahavishnu.search_everywhere(s, "hello", settings=5),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("call", _WRONG.values(), ids=_WRONG.keys())
def test_a_public_call_given_a_wrong_type_says_what_it_takes(
    call: Callable[[MemoryStore, Settings], object], tmp_path: Path
) -> None:
    settings = mahavishnu.load_settings()
    with MemoryStore.open(MemorySettings(path=tmp_path / "memory.db"), embedder=FakeEmbedder()) as store:
        store.store("hello world", project="p")
        with pytest.raises(mahavishnu.InvalidInputError) as refused:
            call(store, settings)
    assert "\n" not in refused.value.message


def test_get_embedder_takes_the_settings_as_memory_store_open_does() -> None:
    """``get_embedder(load_settings())`` raised "'Settings' object has no attribute 'embedder'"."""
    settings = mahavishnu.load_settings()
    assert mahavishnu.get_embedder(settings).identity == mahavishnu.get_embedder(settings.memory).identity


#: Every public function taking a store, called with something else in its place: each raised
#: "'NoneType' object has no attribute 'backend'" (or 'search', 'settings', 'recent'), and
#: import_history(None, ...) passed without a word when there was no history to read.
_STORE_TAKERS: dict[str, Callable[[object], object]] = {
    "store_workflow_execution": lambda s: mahavishnu.store_workflow_execution(s, "w", "prefect"),  # type: ignore[arg-type]
    "workflow_executions": lambda s: mahavishnu.workflow_executions(s),  # type: ignore[arg-type]
    "query_knowledge_base": lambda s: mahavishnu.query_knowledge_base(s, "hello"),  # type: ignore[arg-type]
    "list_repos": lambda s: mahavishnu.list_repos(s),  # type: ignore[arg-type]
    "forget_repo": lambda s: mahavishnu.forget_repo(s, "r"),  # type: ignore[arg-type]
    "ingest_repository": lambda s: mahavishnu.ingest_repository(s, "."),  # type: ignore[arg-type]
    "store_insight": lambda s: mahavishnu.store_insight(s, "an insight long enough to be stored as one"),  # type: ignore[arg-type]
    "list_insights": lambda s: mahavishnu.list_insights(s),  # type: ignore[arg-type]
    "share_insight": lambda s: mahavishnu.share_insight(s, 1, projects=["p"]),  # type: ignore[arg-type]
    "import_session": lambda s: mahavishnu.import_session(s, "claude", "x.jsonl"),  # type: ignore[arg-type]
    "import_history": lambda s: mahavishnu.import_history(s, "claude"),  # type: ignore[arg-type]
    "capture_hook": lambda s: mahavishnu.capture_hook(s, "claude", {}),  # type: ignore[arg-type]
    "store_conversation": lambda s: mahavishnu.store_conversation(s, "a", "s", "user", "hi"),  # type: ignore[arg-type]
    "conversations": lambda s: mahavishnu.conversations(s),  # type: ignore[arg-type]
    "import_transcripts": lambda s: mahavishnu.import_transcripts(s, "x.jsonl"),  # type: ignore[arg-type]
    "build_context": lambda s: mahavishnu.build_context(s, {}, "claude", mahavishnu.load_settings().recall),  # type: ignore[arg-type]
    "search_everywhere": lambda s: mahavishnu.search_everywhere(s, "hello"),  # type: ignore[arg-type]
    "create_group": lambda s: mahavishnu.create_group(s, "g"),  # type: ignore[arg-type]
    "add_to_group": lambda s: mahavishnu.add_to_group(s, "g", ["p"]),  # type: ignore[arg-type]
    "remove_from_group": lambda s: mahavishnu.remove_from_group(s, "g", ["p"]),  # type: ignore[arg-type]
    "list_groups": lambda s: mahavishnu.list_groups(s),  # type: ignore[arg-type]
}


def test_every_public_function_taking_a_store_is_checked_below() -> None:
    taking = {
        name
        for name in mahavishnu.__all__
        if inspect.isfunction(value := getattr(mahavishnu, name))
        and next(iter(inspect.signature(value).parameters), None) == "store"
    }
    assert taking == set(_STORE_TAKERS)


@pytest.mark.parametrize("not_a_store", [None, "memory.db"], ids=["None", "a path"])
@pytest.mark.parametrize("call", _STORE_TAKERS.values(), ids=_STORE_TAKERS.keys())
def test_a_public_function_given_no_store_says_it_takes_one(
    call: Callable[[object], object], not_a_store: object
) -> None:
    with pytest.raises(mahavishnu.InvalidInputError) as refused:
        call(not_a_store)
    assert refused.value.message.endswith(f"takes a MemoryStore, not {type(not_a_store).__name__}")
    assert "MemoryStore.open(" in str(refused.value.hint)
