"""What a search returns (``relevance.py``), on every backend: memories rather than repository
chunks unless asked, the relevance judge's verdicts (``judge.py``), and no query of an unknown
repository."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from _backends import Factory

from mahavishnu.config import MemorySettings, RecallSettings
from mahavishnu.errors import NotFoundError
from mahavishnu.memory.core import judge_weights
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.local import LocalEmbedder
from mahavishnu.memory.core.judge import FEATURES, Candidate, features, judge
from mahavishnu.memory.core.relevance import check_repo, is_chatter
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ingest.knowledge import query_knowledge_base
from mahavishnu.memory.ingest.pipeline import ingest_repository
from mahavishnu.memory.loop.conversations import Turn, store_turns
from mahavishnu.memory.loop.recall import build_context

NOTES = [
    ("SQLite in WAL mode survives a crash", "decision"),
    ("pytest fixtures keep tests small", "note"),
    ("the retry policy backs off exponentially", "decision"),
    ("bananas are yellow and rich in potassium", "note"),
]
ABSENT = "orbital mechanics of comets"
_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def fill(store: MemoryStore) -> None:
    store.store_many([{"content": text, "type": kind} for text, kind in NOTES])


# -- the relevance floor ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_a_search_for_something_absent_returns_nothing(store: MemoryStore, mode: str) -> None:
    """Vector and text mode return nothing; hybrid search may show its nearest hits, none of them
    relevant (the judge's verdict, ``judge.py``): only those the prompt hook would inject count."""
    fill(store)

    assert [h for h in store.search(ABSENT, mode=mode) if h.relevant] == []
    if mode != "hybrid":
        assert store.search(ABSENT, mode=mode) == []
    assert store.search("bananas", mode=mode)[0].memory.content.startswith("bananas")


def test_without_the_floor_an_absent_search_returns_the_whole_store(store: MemoryStore) -> None:
    """The floor is what keeps the answer empty: the vector leg always has a nearest neighbour."""
    fill(store)
    store.settings = store.settings.model_copy(update={"relevance_floor": 0.0})

    assert len(store.search(ABSENT, mode="vector")) == len(NOTES)


def test_a_hybrid_hit_sharing_only_a_minor_word_is_dropped(store: MemoryStore) -> None:
    fill(store)

    hits = store.search("bananas and the kubernetes cluster", mode="hybrid")

    assert hits[0].memory.content == NOTES[3][0]  # the others come after it, judged not relevant
    assert [h.memory.content for h in hits if h.relevant] == [NOTES[3][0]]


@pytest.mark.parametrize("query", ["which kafka partitions are used", "how do I run kubernetes pods"])
def test_a_common_word_alone_is_no_evidence(backend_factory: Factory, query: str) -> None:
    """The real model: the fake one calls texts sharing any word close."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        store.store("We run tests with pytest -x for quick feedback", "decision")
        store.store("Use UTC everywhere for timestamps", "decision")
        store.store("The frontend uses React with Vite", "decision")

        assert store.search(query, mode="hybrid") == []
        assert store.search("how do we run the tests?", mode="hybrid")[0].memory.content.startswith("We run")


# -- kinds: memories, not repository chunks -----------------------------------------------------
@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_a_memory_search_leaves_repository_chunks_out_unless_asked(store: MemoryStore, mode: str) -> None:
    note = store.store("retry policy: back off exponentially", "decision")
    chunk = store.store("def retry(policy): back off exponentially", "rag", repo_id="api")

    assert [h.memory.id for h in store.search("retry policy back off", mode=mode)] == [note.id]
    asked = store.search("retry policy back off", mode=mode, filters={"type": "rag"})
    assert [h.memory.id for h in asked] == [chunk.id]
    both = store.search("retry policy back off", mode=mode, filters={"types": ["rag", "decision"]})
    assert {h.memory.id for h in both} == {note.id, chunk.id}


def test_memories_are_found_even_when_chunks_crowd_the_top(store: MemoryStore) -> None:
    """40 chunks match better than the two notes: the notes still come back."""
    chunks = [
        {"content": f"deploy pipeline deploy pipeline stage {i}", "type": "rag", "repo_id": "ci"}
        for i in range(40)
    ]
    store.store_many([*chunks, {"content": "deploy pipeline notes"}, {"content": "deploy pipeline rota"}])

    hits = store.search("deploy pipeline", limit=5)

    assert sorted(h.memory.content for h in hits) == ["deploy pipeline notes", "deploy pipeline rota"]


# -- repositories -------------------------------------------------------------------------------
@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "client.py").write_text("def send(request, retries=3):\n    return transport(request, retries)\n")
    return root


def test_chunks_come_back_from_the_knowledge_base_query(store: MemoryStore, shop: Path) -> None:
    ingest_repository(store, shop, repo_id="shop")
    store.store("we send requests with three retries", "note")

    assert [h.path for h in query_knowledge_base(store, "send request retries", repo_id="shop")] == [
        "client.py"
    ]
    assert [h.memory.memory_type for h in store.search("send request retries")] == ["note"]


def test_an_unknown_repository_is_an_error_naming_the_known_ones(store: MemoryStore, shop: Path) -> None:
    ingest_repository(store, shop, repo_id="shop")
    store.store("a chunk stored by hand", "rag", repo_id="handmade")

    check_repo(store, "shop")
    check_repo(store, "handmade")
    with pytest.raises(NotFoundError, match="no ingested repository 'shpo'") as raised:
        check_repo(store, "shpo")
    assert "Known repositories: shop." in raised.value.hint


# -- chatter, absent things and exact words (issue 35) -----------------------------------------
CHATTER_TURNS = [
    "hi",
    "hello",
    "ok thanks",
    "continue",
    "Thanks!",
    "yes do it",
    "Hello! How can I help you today?",
]


@pytest.mark.parametrize("text", [*CHATTER_TURNS, "👍", "LGTM.", "You're welcome!"])
def test_greetings_and_acknowledgements_are_chatter(text: str) -> None:
    assert is_chatter("agent", text)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("agent", "All tests passed."),
        ("agent", "continue with the migration to Postgres"),
        ("note", "ok thanks"),
    ],
)
def test_a_turn_that_says_something_or_a_kept_note_is_not_chatter(kind: str, text: str) -> None:
    assert not is_chatter(kind, text)


def test_an_absent_query_finds_nothing_in_captured_chatter(backend_factory: Factory) -> None:
    """The real model: "xyzzy" is 0.3 close to "hi" and "hello", above the floor."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        turns = [
            Turn("codex", "s1", "user" if n % 2 else "assistant", t) for n, t in enumerate(CHATTER_TURNS)
        ]
        store_turns(
            store, [*turns, Turn("codex", "s1", "user", "We deploy the API with blue-green releases")]
        )

        for mode in ("vector", "text"):
            assert store.search("xyzzy", mode=mode) == []
            assert store.search("6543", mode=mode) == []
        for query in ("xyzzy", "6543"):  # hybrid: at most the nearest hits, none relevant
            assert [
                h for h in store.search(query) if h.relevant or is_chatter("agent", h.memory.content)
            ] == []
        assert store.search("hello", mode="hybrid") == []  # kept as conversation, never as knowledge
        assert [h.memory.content for h in store.search("how do we deploy?")] == [
            "We deploy the API with blue-green releases"
        ]


def test_a_word_held_verbatim_by_code_is_found_by_the_default_search(backend_factory: Factory) -> None:
    """The real model puts "retries" far from a block of code that has it (cosine < 0.1): before,
    hybrid search returned nothing while --mode text found the chunk."""
    code = (
        "class HTTPTransport:\n    def __init__(self, verify=True, http2=False, limits=DEFAULT_LIMITS,\n"
        "                 uds=None, local_address=None, retries: int = 0) -> None:\n"
        "        self._pool = ConnectionPool(ssl_context, max_connections=limits.max_connections,\n"
        "                                    uds=uds, local_address=local_address, retries=retries)\n"
    )
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        chunk = store.store(code, "rag", repo_id="api")
        store.store("def parse_url(text):\n    return urlparse(text)\n", "rag", repo_id="api")
        rag = {"types": ["rag"], "repo_id": "api"}

        assert [h.memory.id for h in store.search("retries", mode="text", filters=rag)] == [chunk.id]
        assert [h.memory.id for h in store.search("retries", filters=rag)][:1] == [chunk.id]


def test_a_keyword_search_marks_the_notes_holding_it_relevant(backend_factory: Factory) -> None:
    """ "PostgreSQL" and "kafka" put the note holding them first, dimmed: the judge, fitted on
    questions, weighs a one-word query's cosine with a whole note low. A search now marks a hit
    holding every word of a query of one or two words relevant."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        ledger = store.store("Ledger storage is PostgreSQL 15, not DynamoDB", "decision", project="ledgerd")
        store.store("Prefer httpx over requests", "decision", project="api")
        store.store("We run tests with pytest -x for quick feedback", "decision")
        kafka = [
            store.store(f"consumer note {i}: we read events from kafka partitions", "note") for i in (1, 2)
        ]
        store.store("Retries are configured in the retry policy of the billing client", "note")

        for query, holders in (("PostgreSQL", [ledger.id]), ("kafka", [m.id for m in kafka])):
            hits = store.search(query)
            assert {h.memory.id for h in hits if h.relevant} == set(holders), query
        assert not any(h.relevant for h in store.search("pytest kafka httpx"))  # three words: the judge's


def test_a_query_whose_words_the_store_holds_nowhere_is_not_answered_by_a_vector_alone(
    backend_factory: Factory,
) -> None:
    """The real model puts "oauth2 PKCE code verifier" at a cosine of ~0.48 from a turn about the
    auth module's config loader (above ``ANSWER_FLOOR``): none of the query's words is in the store,
    so the hybrid search and the prompt hook say nothing (turns are judged only when a candidate
    holds a word of the query: ``MemoryStore._judged``); a query sharing its words is answered as
    before. Vector mode, with no full-text leg to tell, is unchanged."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        store.store_many(
            [
                {"content": "Can you simplify the config loader in app/auth.py?", "type": "agent"},
                {"content": "Can you document the login form in app/web/forms.py?", "type": "agent"},
            ]
        )
        cosine = store.search("oauth2 PKCE code verifier", mode="vector")[0].vector_score
        assert cosine is not None and cosine >= 0.4  # close enough once

        assert store.search("oauth2 PKCE code verifier") == []
        assert _hook(store, "oauth2 PKCE code verifier") == ""
        answered = store.search("where is the auth config loader?")
        assert answered and answered[0].memory.content == "Can you simplify the config loader in app/auth.py?"
        assert "config loader in app/auth.py" in _hook(store, "where is the auth config loader?")
        assert store.search("oauth2 PKCE code verifier", mode="vector")  # (no text leg: the cosine)


def _hook(store: MemoryStore, prompt: str) -> str:
    """What the prompt hook adds for ``prompt`` in a session of its own ("" for nothing)."""
    asked = {"hook_event_name": "UserPromptSubmit", "session_id": prompt, "prompt": prompt}
    found = build_context(store, asked, "claude", RecallSettings())
    return found["hookSpecificOutput"]["additionalContext"] if found else ""


def test_a_query_sharing_one_common_word_with_the_store_is_not_answered(backend_factory: Factory) -> None:
    """The real model: "bazel remote cache" is ~0.45 from a turn about the cache layer (above
    ``ANSWER_FLOOR``), which holds only "cache", and the store never says "bazel" nor "remote":
    the prompt hook adds nothing and a search marks nothing relevant (it shows the nearest turns,
    weak, as a search does when something is close); "where is the cache layer?" is answered."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        store.store_many(
            [
                {"content": "Can you document the cache layer in app/cache.py?", "type": "agent"},
                {"content": "Can you refactor the cache layer in app/auth.py?", "type": "agent"},
                {"content": "Can you document the login form in app/web/forms.py?", "type": "agent"},
            ]
        )
        cosine = store.search("bazel remote cache", mode="vector")[0].vector_score
        assert cosine is not None and cosine >= 0.4  # close enough once

        asked = {"hook_event_name": "UserPromptSubmit", "session_id": "s1", "cwd": "/w/app"}
        bazel = {**asked, "prompt": "bazel remote cache"}
        assert build_context(store, bazel, "claude", RecallSettings()) is None
        assert store.search("bazel remote cache", quiet=True) == []
        assert not any(hit.relevant for hit in store.search("bazel remote cache"))
        assert store.search("where is the cache layer?")[0].memory.content.startswith(
            "Can you document the c"
        )


def _project_with_its_sessions(path: Path, settings: MemorySettings, project: str) -> MemoryStore:
    """The development set's ``project`` (``benchmarks/data/devmem.json``), described and with its
    notes, and 300 turns of coding sessions in it (``benchmarks/_coding_turns.py``), as ``python
    benchmarks/devmem.py --fast --turns 300`` stores a project; with the real model."""
    data = json.loads((_BENCHMARKS / "data" / "devmem.json").read_text(encoding="utf-8"))
    spec = importlib.util.spec_from_file_location("_coding_turns", _BENCHMARKS / "_coding_turns.py")
    assert spec is not None and spec.loader is not None
    coding = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(coding)
    store = MemoryStore(SqliteBackend(path), settings, LocalEmbedder())
    store.describe_project(project, data["projects"][project])
    notes = [f["text"] for f in data["facts"] if f["project"] == project]
    store.store_many([{"content": text, "type": "note", "project": project} for text in notes])
    said = coding.coding_turns(300)
    for n in range(0, len(said), 20):
        store_turns(
            store, [Turn("claude", f"s{n}", who, text, project=project) for who, text in said[n : n + 20]]
        )
    assert len(store.recent(limit=1000)) == len(notes) + len(said)
    return store


def test_a_projects_captured_turns_do_not_open_the_hook_for_a_question_its_notes_do_not_answer(
    tmp_path: Path,
) -> None:
    """The judge weighs a note against the other candidates (margin, z-scores); judged among the
    hundreds of turns a project's sessions leave, atrium's notes stood out from them, and the hook
    added three of them to a question about a COBOL compiler. Judged among the notes alone, as
    without the turns, it adds nothing; a question the notes answer still gets its answer."""
    (tmp_path / "atrium").mkdir()
    with _project_with_its_sessions(tmp_path / "m.db", MemorySettings(), "atrium") as store:

        def hook(prompt: str) -> str:
            asked = {"hook_event_name": "UserPromptSubmit", "session_id": prompt, "prompt": prompt}
            asked["cwd"] = str(tmp_path / "atrium")
            found = build_context(store, asked, "claude", RecallSettings())
            return found["hookSpecificOutput"]["additionalContext"] if found else ""

        assert hook("which COBOL compiler does the billing mainframe use?") == ""
        assert "Auth0" in hook("how do clients log in to the portal?")


@pytest.mark.parametrize("penalty", [0.2, 0.0])
def test_the_note_holding_a_fact_comes_before_the_turns_that_talked_about_its_topic(
    tmp_path: Path, penalty: float
) -> None:
    """A captured turn ranks as if its fused score were ``memory.hybrid_turn_penalty`` lower: asked
    in other words, ledgerd's decision to keep its API synchronous came sixth, after its sessions'
    turns; it comes first. (Without the penalty the search now says nothing: no memory holds a word
    of the question, so the turns are not judged, and the notes the turns leave among the
    candidates are not close.)"""
    settings = MemorySettings(hybrid_turn_penalty=penalty)
    with _project_with_its_sessions(tmp_path / "m.db", settings, "ledgerd") as store:
        asked = "reason the bookkeeping endpoints block instead of using coroutines?"
        hits = store.search(asked, filters={"project": "ledgerd"})

        where = [
            n for n, hit in enumerate(hits) if hit.memory.content.startswith("We chose to keep ledgerd's API")
        ]
        assert where == ([0] if penalty else [])


@pytest.mark.parametrize("deeper", [3, 1])
def test_a_search_reads_deeper_when_turns_fill_its_first_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deeper: int
) -> None:
    """Without a scope, trailmix's sessions' turns fill a search's first candidates: ranking them
    lower reorders only those, so the search reads ``TURNS_DEEPER`` times as far first, and the
    crash-reporting note its turns pushed out comes back among the hits."""
    monkeypatch.setattr(store_module, "TURNS_DEEPER", deeper)
    with _project_with_its_sessions(tmp_path / "m.db", MemorySettings(), "trailmix") as store:
        hits = store.search("what do we use to collect app exceptions on handsets?", limit=10)

        found = any(hit.memory.content.startswith("Crash reporting in trailmix is Sentry") for hit in hits)
        assert found == (deeper > 1)


def test_a_search_shows_what_is_close_where_the_prompt_hook_stays_quiet(backend_factory: Factory) -> None:
    """The real model: "how can I log in to a worker machine?" is 0.18 from its answer, under the
    prompt hook's bar (``HOOK_GATE_COSINE`` x 0.25) and over the search's (``SEARCH_COSINE`` x 0.25):
    a search shows the answer first (at the hook's bar, as before 2026-11-26, it said nothing); the
    hook's search says nothing."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        for text in (
            "Get a shell on a bastion node with `aws ssm start-session --target <instance-id>`; SSH is "
            "closed on all node groups.",
            "Terraform state for bastion lives in the S3 bucket `bastion-tfstate` with DynamoDB locking.",
            "Production changes to bastion need two approvals in the #infra-changes channel.",
        ):
            store.store(text, "note", project="bastion")
        question, scope = "how can I log in to a worker machine?", {"project": "bastion"}

        shown = store.search(question, filters=scope)
        assert shown and shown[0].memory.content.startswith("Get a shell on a bastion node")
        assert store.search(question, filters=scope, quiet=True) == []


def test_a_scope_never_hides_an_answer_the_search_without_it_shows(backend_factory: Factory) -> None:
    """The real model: "how do I get everything off a box before maintenance?" is 0.17 from its
    answer in project harbor, under the search's bar; without ``--project`` a note of another project
    is close, and the answer comes second, dimmed. With ``--project`` the search said nothing; now it
    shows what the search without it shows of harbor, dimmed. A question whose answer is in another
    project (lumen's patch note) gets nothing of harbor, nor does a question nothing stored is close
    to; the prompt hook's search (``quiet``) keeps to the scope."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        for text in (
            "Cordon and drain a node with `kubectl drain --ignore-daemonsets --delete-emptydir-data` "
            "before upgrading its kernel.",
            "The ingress controller is ingress-nginx 1.10, from the Helm chart in `charts/ingress`.",
            "Cluster autoscaler limits: 3 to 40 nodes in the general pool.",
        ):
            store.store(text, "note", project="harbor")
        for text in (
            "Security patches for the mobile app ship in a hotfix release within 48 hours.",
            "Reboot the build agents from the CI dashboard when their disk fills up.",
            "Feature flags live in LaunchDarkly; stale flags are removed every quarter.",
        ):
            store.store(text, "note", project="lumen")
        question, scope = "how do I get everything off a box before maintenance?", {"project": "harbor"}

        everywhere = store.search(question, limit=3)
        shown = store.search(question, filters=scope, limit=3)

        assert any(h.memory.content.startswith("Cordon and drain") for h in everywhere)
        assert shown and shown[0].memory.content.startswith("Cordon and drain")
        assert not any(h.relevant for h in shown)  # dimmed: the judge doubts them
        assert {h.memory.project for h in shown} == {"harbor"}
        alone = store.search(question, filters=scope, include_shared=False)  # a strict scope: no widening
        if store.backend.name != "postgres":  # PostgreSQL's index drops "before": harbor alone is close
            assert alone == [] and {h.memory.id for h in shown} <= {h.memory.id for h in everywhere}
        assert store.search(question, filters=scope, quiet=True) == []
        elsewhere = "how fast do mobile security patches ship?"
        assert store.search(elsewhere, limit=3)[0].memory.project == "lumen"
        assert store.search(elsewhere, filters=scope, limit=3) == []
        assert store.search("what's our favourite pizza topping?", filters=scope) == []


# -- the relevance judge ----------------------------------------------------------------------------
def test_the_judge_has_a_weight_per_feature_and_ordered_operating_points() -> None:
    assert len(judge_weights.WEIGHTS) == len(FEATURES)
    assert 0.0 < judge_weights.SEARCH_POINT <= judge_weights.HOOK_GATE_POINT < judge_weights.HOOK_POINT < 1.0
    assert judge_weights.SEARCH_COSINE <= judge_weights.HOOK_GATE_COSINE  # the hook's bar: stricter


def test_a_hit_standing_out_is_relevant_and_hits_all_alike_are_not_close() -> None:
    """One hit well above the rest (the margin and z-score features) answers; five alike at a
    middling cosine are not relevant, nor close at the prompt hook's bar: its search says
    nothing (a search shows them, weak: they are over the floor)."""
    others = [Candidate(0.3, None, f"unrelated note {n}") for n in range(4)]
    standout = judge(
        "which database did we choose", [Candidate(0.6, None, "We chose PostgreSQL"), *others], 0.25
    )
    alike = judge("which database did we choose", [Candidate(0.3, None, "a note"), *others], 0.25)

    assert standout[0].relevant and not any(v.relevant for v in standout[1:])
    assert not any(v.relevant or v.hook_close for v in alike)
    assert all(v.close for v in alike)


def test_a_hit_stands_out_from_the_floor_when_the_others_are_under_it() -> None:
    """The margin is measured from the best other candidate or the embedder's floor, whichever is
    higher: a lone hit, or one among unrelated ones, does not stand out by the distance to them."""
    alone = features("what's the API's rate limit?", [Candidate(0.30, None, "a note")], 0.25)
    among = features("q", [Candidate(0.30, None, "a"), Candidate(0.05, None, "b")], 0.25)
    standing = features("q", [Candidate(0.60, None, "a"), Candidate(0.40, None, "b")], 0.25)

    margin = FEATURES.index("margin")
    assert alone[0][margin] == pytest.approx(0.2)  # (0.30 - 0.25) / 0.25
    assert among[0][margin] == pytest.approx(0.2)
    assert standing[0][margin] == pytest.approx(0.8)


def test_a_store_of_one_note_does_not_answer_every_question_near_its_topic(
    backend_factory: Factory,
) -> None:
    """The real model: a question a lone note does not answer, a little over the floor from it, is
    not accepted (the margin to no other candidate made it 0.71); one the note answers still is."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        store.store("We deploy the API with blue-green releases", "note", project="api")
        scope = {"project": "api"}

        asked = store.search("what's the API's rate limit?", filters=scope, covered=True)
        answered = store.search("how do we ship the API?", filters=scope, covered=True)

        assert not any(hit.relevant for hit in asked)
        assert answered and answered[0].relevant


def test_the_judge_weighs_only_hits_with_evidence_of_their_own() -> None:
    """Under the embedder's floor a hit is accepted only when it holds every word of the query (what
    a keyword search finds): then it is close, whatever its cosine."""
    far = Candidate(0.05, 6.0, "retries are configured in the transport")
    alone = judge("retry backoff", [far, Candidate(0.02, None, "other")], 0.25)
    held = judge("transport retries", [far, Candidate(0.02, None, "other")], 0.25)

    assert not alone[0].relevant and not alone[0].evidence
    assert held[0].close and held[0].evidence


def test_a_hit_standing_out_but_far_from_the_query_is_not_close() -> None:
    """The probability compares the candidates with each other, so the nearest of a few unrelated
    memories can reach the search point; under ``SEARCH_COSINE`` times the floor (and without every
    word of the query) it is not close: the search says nothing."""
    others = [Candidate(0.02, None, f"unrelated note {n}") for n in range(4)]
    floor = 0.25
    under = judge_weights.SEARCH_COSINE * floor - 0.01
    far = judge("favourite pizza topping", [Candidate(under, None, "We chose Redis"), *others], floor)
    near = judge("favourite pizza topping", [Candidate(under + 0.02, None, "We chose Redis"), *others], floor)

    assert far[0].probability >= judge_weights.SEARCH_POINT  # the comparison alone would answer
    assert not far[0].close
    assert near[0].close


def test_a_question_nothing_stored_is_close_to_gets_nothing_and_a_paraphrase_its_answer(
    backend_factory: Factory,
) -> None:
    """The real model: stored decisions are not shown for a question about something else (issue
    46: "what's our favourite pizza topping?" listed them, dimmed), while a question asked in other
    words than its answer still gets it."""
    with MemoryStore(backend_factory(), MemorySettings(), LocalEmbedder()) as store:
        store.store("Ledger storage is PostgreSQL 15, not DynamoDB.", "decision", project="ledgerd")
        store.store("Amounts are stored as integer cents in a BIGINT column.", "decision", project="ledgerd")
        store.store("Nadia Haddad maintains skiff and triages its GitHub issues.", "note", project="ledgerd")

        assert store.search("what's our favourite pizza topping?", filters={"project": "ledgerd"}) == []
        answered = store.search("which database engine backs the ledger?", filters={"project": "ledgerd"})
        assert answered and answered[0].memory.content.startswith("Ledger storage is PostgreSQL")


def notes_of(data: dict[str, list[dict[str, str]]], project: str) -> list[str]:
    return [f["text"] for f in data["facts"] if f["project"] == project]


def test_a_question_for_a_person_gets_the_note_naming_who_owns_it(tmp_path: Path) -> None:
    """The real model: "who looks after the deploy tool's bug reports?" shares no word with "Nadia
    Haddad maintains skiff and triages its GitHub issues every Monday", and the judge weighed it
    0.09: the hook said nothing. The question asks for a person and the note names one in a role
    (``kinds.py``): it is added. A question for a person about nothing stored gets nothing, though
    the project's notes name its maintainer. A search marks the note relevant as the hook adds it."""
    data = json.loads((_BENCHMARKS / "data" / "devmem.json").read_text(encoding="utf-8"))
    with MemoryStore(SqliteBackend(tmp_path / "m.db"), MemorySettings(), LocalEmbedder()) as store:
        for project in ("skiff", "ledgerd"):
            (tmp_path / project).mkdir()
            store.describe_project(project, data["projects"][project])
            notes = notes_of(data, project)
            store.store_many([{"content": text, "type": "note", "project": project} for text in notes])

        def hook(project: str, prompt: str) -> str:
            asked = {"hook_event_name": "UserPromptSubmit", "session_id": prompt, "prompt": prompt}
            found = build_context(store, asked | {"cwd": str(tmp_path / project)}, "claude", RecallSettings())
            return found["hookSpecificOutput"]["additionalContext"] if found else ""

        assert "Nadia Haddad" in hook("skiff", "who looks after the deploy tool's bug reports?")
        assert hook("skiff", "who won the chess tournament at the offsite?") == ""
        assert hook("ledgerd", "who catered the summer offsite?") == ""

        # a search marks it relevant too (it was shown dimmed, weighed 0.22), and only it
        asked = "who owns the deployment CLI?"
        marked = [h.memory.content for h in store.search(asked, filters={"project": "skiff"}) if h.relevant]
        assert marked == [next(t for t in notes_of(data, "skiff") if t.startswith("Nadia Haddad"))]
