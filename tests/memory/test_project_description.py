"""What a project is (``MemoryStore.describe_project``, ``memory describe``): its notes and
decisions are embedded with it, on every backend, so a question naming the project by what it is
finds them; turns and other projects' memories are left as they are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _backends import Factory, open_store
from fake_backend import FakeBackend

from mahavishnu.config import MemorySettings
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.embedders.local import LocalEmbedder
from mahavishnu.memory.core.models import PROJECT_ABOUT_CHARS, embedding_text, project_context
from mahavishnu.memory.core.store import MemoryStore

LEDGER = "the payments and refunds service (FastAPI)"


def vector(store: MemoryStore, memory_id: int) -> np.ndarray:
    return np.asarray(store.backend.vectors([memory_id])[memory_id])


def test_a_question_naming_the_project_by_what_it_is_finds_its_decision(backend_factory: Factory) -> None:
    """The real model: "which DB backs the refunds backend?" put the hiking app's SQLite first,
    since neither decision says what its project is."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        store.store(
            "Storage is PostgreSQL 16; we need multi-row transactions for postings.",
            "decision",
            project="ledger",
        )
        store.store(
            "The offline cache is SQLite, synced when the phone is back online.", "decision", project="trails"
        )
        question = "which DB backs the refunds backend?"
        assert store.search(question, limit=2)[0].memory.project == "trails"

        store.describe_project("ledger", LEDGER)
        store.describe_project("trails", "a hiking app for iOS and Android")

        assert store.search(question, limit=2)[0].memory.project == "ledger"


def test_describing_embeds_only_the_projects_notes_again_and_clearing_restores_them(
    store: MemoryStore,
) -> None:
    note = store.store("Storage is PostgreSQL 16", "decision", project="ledger")
    turn = store.store("so which storage did we pick again", "agent", project="ledger")
    other = store.store("Storage is SQLite on the phone", "decision", project="trails")
    before = {m.id: vector(store, m.id) for m in (note, turn, other)}

    assert store.describe_project("ledger", LEDGER) == 1
    assert store.project_description("ledger") == LEDGER
    assert not np.allclose(vector(store, note.id), before[note.id])
    assert np.array_equal(vector(store, turn.id), before[turn.id])
    assert np.array_equal(vector(store, other.id), before[other.id])
    assert store.get(note.id).updated_at == note.updated_at  # embedded again, not edited
    assert store.describe_project("ledger", LEDGER) == 0  # the same words: nothing to do

    assert store.describe_project("ledger", None) == 1
    assert store.project_description("ledger") is None
    assert np.allclose(vector(store, note.id), before[note.id], atol=1e-6)


def test_every_way_a_vector_is_made_reads_the_description(store: MemoryStore) -> None:
    """Stored after describing, moved into the project, edited, or re-embedded: each vector is made
    from the project's context and the content (``models.embedding_text``)."""

    def made_from(text: str, about: str | None) -> np.ndarray:
        return np.asarray(store.embedder.embed_many([embedding_text(text, {}, about)], kind="document")[0])

    context = project_context("ledger", LEDGER)
    store.describe_project("ledger", LEDGER)
    stored = store.store("Refunds are posted as negative entries", "note", project="ledger")
    assert np.allclose(vector(store, stored.id), made_from(stored.content, context), atol=1e-6)

    moved = store.store("Chargebacks reverse the original posting", "note", project="elsewhere")
    store.update(moved.id, project="ledger")
    assert np.allclose(vector(store, moved.id), made_from(moved.content, context), atol=1e-6)
    store.update(moved.id, content="Chargebacks reverse the posting")
    assert np.allclose(
        vector(store, moved.id), made_from("Chargebacks reverse the posting", context), atol=1e-6
    )

    store.reembed(store.embedder)
    assert np.allclose(vector(store, stored.id), made_from(stored.content, context), atol=1e-6)

    store.update(moved.id, project="trails")  # out of the described project: read without it
    assert np.allclose(vector(store, moved.id), made_from("Chargebacks reverse the posting", None), atol=1e-6)


def test_a_description_is_cleaned_scrubbed_and_cut(tmp_path: Path) -> None:
    key = "sk-ant-api03-" + "A" * 93 + "-AAAAAAAA"
    with MemoryStore.open(MemorySettings(path=tmp_path / "m.db")) as store:
        store.describe_project("ledger", f" payments\x00 service,\x1b]0;owned\x07\n key {key} " + "x" * 400)
        about = store.project_description("ledger") or ""

        assert about.startswith("payments service,]0;owned key [REDACTED")
        assert key not in about and not {"\x00", "\x1b", "\x07", "\n"} & set(about)
        assert len(about) <= PROJECT_ABOUT_CHARS
        for bad in (" ", ""):
            with pytest.raises(InvalidInputError, match="empty project description"):
                store.describe_project("ledger", bad)
        with pytest.raises(InvalidInputError, match="invalid project name"):
            store.describe_project("a/b", "what it is")
        assert store.project_description("ledger") == about


def test_a_key_pasted_as_the_project_is_filed_redacted_as_a_memorys_project_is(tmp_path: Path) -> None:
    """``memory store --project KEY`` files the memory under ``[REDACTED:...]``: describing KEY
    describes that project, and neither the store, an export nor an error holds the key."""
    key = "sk-ant-api03-" + "A" * 93 + "-AAAAAAAA"
    with MemoryStore.open(MemorySettings(path=tmp_path / "m.db")) as store:
        memory = store.store("Storage is PostgreSQL 16", "decision", project=key)
        store.describe_project(key, "the payments service")
        assert store.project_description(key) == "the payments service"
        assert store.project_description(memory.project or "") == "the payments service"
        assert key not in json.dumps(store.backend.meta_under(""))
        with pytest.raises(InvalidInputError) as refused:
            store.describe_project(key + "/x", "what it is")
        assert key not in str(refused.value) and "invalid project name" in str(refused.value)
        store.export(tmp_path / "m.jsonl")
    exported_text = (tmp_path / "m.jsonl").read_text()
    assert key not in exported_text and '"described": "[REDACTED' in exported_text

    with open_store(lambda: FakeBackend()) as target:
        line = json.dumps({"described": key, "about": "the payments service"})
        head, *rest = (tmp_path / "m.jsonl").read_text().splitlines()
        rest = [r for r in rest if '"described"' not in r]
        (tmp_path / "k.jsonl").write_text("\n".join([head, line, *rest]) + "\n")
        target.import_(tmp_path / "k.jsonl")
        assert target.project_description(memory.project or "") == "the payments service"
        assert key not in json.dumps(target.backend.meta_under(""))


def test_a_description_belongs_to_its_own_project_only(store: MemoryStore) -> None:
    """Names alike ("a_b" as a pattern matches "axb"; "api" begins "api-gateway") share nothing."""
    store.describe_project("a_b", "the billing service")
    store.describe_project("api", "the public API")
    about = store.project_contexts()

    assert about("a_b", "note") == "a_b (the billing service)"
    assert about("axb", "note") is None
    assert about("api-gateway", "decision") is None
    assert about("api", "agent") is None  # a captured turn reads the turn before it instead


# -- export and import ------------------------------------------------------------------------
def exported(path: Path, describe: bool = True) -> int:
    """A file from a store whose "ledger" is described (``describe``); the note's id."""
    with open_store(lambda: FakeBackend()) as source:
        if describe:
            source.describe_project("ledger", LEDGER)
        note = source.store("Storage is PostgreSQL 16", "decision", project="ledger")
        source.store("so which storage did we pick again", "agent", project="ledger")
        source.export(path)
        return note.id


def made_from(store: MemoryStore, text: str, about: str | None) -> np.ndarray:
    return np.asarray(store.embedder.embed_many([embedding_text(text, {}, about)], kind="document")[0])


def test_an_export_carries_the_descriptions_and_an_empty_store_takes_them(
    backend_factory: Factory, tmp_path: Path
) -> None:
    """Moving a store (embedded -> PostgreSQL) keeps what its projects are, and the vectors made
    with it, exactly; a second import takes nothing again."""
    path = tmp_path / "m.jsonl"
    note = exported(path)
    with open_store(lambda: FakeBackend()) as source_again:  # what the vector was made from
        expected = made_from(source_again, "Storage is PostgreSQL 16", project_context("ledger", LEDGER))

    with open_store(backend_factory) as target:
        counts = target.import_(path)
        assert (counts.imported, counts.descriptions_adopted, counts.descriptions_kept_own) == (2, 1, 0)
        assert target.project_description("ledger") == LEDGER
        assert np.allclose(vector(target, note), expected, atol=1e-6)

        again = target.import_(path)
        assert (again.imported, again.descriptions_adopted, again.descriptions_kept_own) == (0, 0, 0)


def test_a_store_that_describes_the_project_otherwise_keeps_its_own_and_embeds_the_notes_with_it(
    backend_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "m.jsonl"
    note = exported(path)
    ours = "the accounting back office"
    with open_store(backend_factory) as target:
        target.describe_project("ledger", ours)
        counts = target.import_(path)

        assert (counts.descriptions_adopted, counts.descriptions_kept_own) == (0, 1)
        assert target.project_description("ledger") == ours
        expected = made_from(target, "Storage is PostgreSQL 16", project_context("ledger", ours))
        assert np.allclose(vector(target, note), expected, atol=1e-6)


def test_a_file_of_no_descriptions_into_a_store_that_describes_the_project(
    backend_factory: Factory, tmp_path: Path
) -> None:
    """A version-2 file, or one from a store that never described "ledger": its note's vector was
    made without a context, and this store reads it with one: embedded again."""
    path = tmp_path / "m.jsonl"
    note = exported(path, describe=False)
    with open_store(backend_factory) as target:
        target.describe_project("ledger", LEDGER)
        target.import_(path)
        expected = made_from(target, "Storage is PostgreSQL 16", project_context("ledger", LEDGER))
        assert np.allclose(vector(target, note), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("after", "a project description after the memory lines"),
        ("twice", "project 'ledger' is described twice"),
        ("name", "invalid project name"),
        ("unnamed", "project must be a non-empty string"),
        ("empty", "project 'ledger' is described by no text"),
        ("extra", r"a project description line is \{"),
    ],
)
def test_a_bad_description_line_is_named_and_nothing_is_imported(
    tmp_path: Path, edit: str, message: str
) -> None:
    path = tmp_path / "m.jsonl"
    exported(path)
    head, about, *memories = path.read_text(encoding="utf-8").splitlines()
    line = json.loads(about)
    lines = {
        "after": [head, *memories, about],
        "twice": [head, about, about, *memories],
        "name": [head, json.dumps({**line, "described": "a/b"}), *memories],
        "unnamed": [head, json.dumps({**line, "described": "  "}), *memories],
        "empty": [head, json.dumps({**line, "about": " "}), *memories],
        "extra": [head, json.dumps({**line, "owner": "bob"}), *memories],
    }[edit]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with open_store(lambda: FakeBackend()) as target:
        with pytest.raises(InvalidInputError, match=message):
            target.import_(path)
        assert target.stats()["count"] == 0
        assert target.project_description("ledger") is None


def test_a_dashboard_forget_undone_keeps_the_vectors_it_had(store: MemoryStore) -> None:
    """The undo file carries the descriptions its vectors were made with: undo embeds nothing."""
    from mahavishnu.ui import memories

    store.describe_project("ledger", LEDGER)
    note = store.store("Storage is PostgreSQL 16", "decision", project="ledger")
    before = vector(store, note.id)
    embedded: list[str] = []
    real = store.embedder.embed_many

    def counted(texts: list[str], **kw: object) -> np.ndarray:
        embedded.extend(texts)
        return real(texts, **kw)  # type: ignore[arg-type]

    store.embedder.embed_many = counted  # type: ignore[method-assign]
    _, undo_id = memories.forget(store, [note.id])
    assert memories.undo(store, undo_id) == 1
    assert embedded == [] and np.array_equal(vector(store, note.id), before)


def test_an_import_of_a_folder_or_a_device_says_it_is_not_a_file(tmp_path: Path) -> None:
    with open_store(lambda: FakeBackend()) as target:
        for path in (tmp_path, Path("/dev/null")):
            with pytest.raises(InvalidInputError, match="not a file"):
                target.import_(path)


def test_a_description_of_nothing_printable_is_neither_taken_nor_counted_as_kept(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    exported(path)
    head, about, *memories = path.read_text(encoding="utf-8").splitlines()
    blank = json.dumps({**json.loads(about), "about": "\u001b\u0001\u0000"})
    path.write_text("\n".join([head, blank, *memories]) + "\n", encoding="utf-8")

    with open_store(lambda: FakeBackend()) as target:
        counts = target.import_(path)
        assert (counts.descriptions_adopted, counts.descriptions_kept_own) == (0, 0)
        assert target.project_description("ledger") is None
