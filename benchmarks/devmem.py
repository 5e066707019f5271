"""Developer memory answered in other words (issue 46), on the hand-written development set.

    python benchmarks/devmem.py              # headline: the real CLI and daemon, and the baselines
    python benchmarks/devmem.py --fast       # in-process only (MemoryStore.search, recall): sweeps

``benchmarks/data/devmem.json``: 106 facts of six projects (and six of no project) and 224 questions
about them asked as a developer asks a week later (63 % paraphrases sharing at most one content word
with the fact), 64 whose answer is not stored (half near-misses on a stored topic). Every fact is
stored; each question belongs to the half (tuning / validation) of the fact it asks about.

Headline (without ``--fast``): a throwaway ``MAHAVISHNU_HOME`` (and ``HOME``); each fact stored with
``mahavishnu memory store --project P`` (``--type decision`` for decisions); each question asked with
``mahavishnu memory search Q --project P --limit 5 --json`` and without ``--project`` (the first
command starts the memory daemon, which answers the rest); each question typed to the prompt hook,
``mahavishnu memory context --tool claude`` with the hook's JSON on standard input, in a folder named
after its project, a new session each.

Figures, per half and question style:
  hit@1, hit@3   the answer among the first 1 / 3 hits
  nothing        the search returned no hit although the answer is stored
  wrong1st       the search returned hits and the first is not the answer
  relevant       the answer is among the hits marked ``"relevant": true``
  absent: nothing  a question whose answer is not stored got no hit; ``rel``: a hit marked relevant
  hook: answer   the answer memory was injected; absent: anything injected
Baselines from the same run (in-process, the same stored facts and scope): ``cosine`` ranks by the
embedder's cosine alone (no floor, no fusion), ``bm25`` by the full-text leg alone (text mode).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _embed_cache import CachedEmbedder, default_cache_dir

from mahavishnu.config import MemorySettings, RecallSettings
from mahavishnu.memory.core.embedders import get_embedder
from mahavishnu.memory.core.store import MemoryStore

DATA = Path(__file__).resolve().parent / "data" / "devmem.json"
STYLES = ("paraphrase", "keyword", "why", "identifier", "partial")
SPLITS = ("tune", "valid")


@dataclass(frozen=True, slots=True)
class Ask:
    """One question: the fact that answers it (None: not stored), its style and half."""

    q: str
    project: str | None
    answer: str | None
    style: str  # a question style, or "near" / "unrelated" for absent ones
    split: str


def load(path: Path = DATA) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def asks(data: dict[str, Any]) -> list[Ask]:
    found = [
        Ask(q, f["project"], f["id"], style, f["split"]) for f in data["facts"] for style, q in f["questions"]
    ]
    found += [Ask(a["q"], a["project"], None, a["kind"], a["split"]) for a in data["absent"]]
    return found


def memory_type(fact: dict[str, Any]) -> str:
    return "decision" if fact["type"] == "decision" else "note"


# -- scoring ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Answer:
    """What a search returned for one question: fact ids in order, and those marked relevant."""

    ranked: tuple[str, ...]
    relevant: frozenset[str]


def figures(pairs: Sequence[tuple[Ask, Answer]]) -> dict[str, float]:
    """The search figures of these questions (see the module docstring); NaN where none apply."""
    stored = [(a, r) for a, r in pairs if a.answer is not None]
    absent = [(a, r) for a, r in pairs if a.answer is None]

    def share(items: Sequence[tuple[Ask, Answer]], test: Callable[[Ask, Answer], bool]) -> float:
        return sum(test(a, r) for a, r in items) / len(items) if items else float("nan")

    return {
        "n": float(len(stored) or len(absent)),
        "hit@1": share(stored, lambda a, r: r.ranked[:1] == (a.answer,)),
        "hit@3": share(stored, lambda a, r: a.answer in r.ranked[:3]),
        "nothing": share(stored, lambda a, r: not r.ranked),
        "wrong1st": share(stored, lambda a, r: bool(r.ranked) and r.ranked[0] != a.answer),
        "relevant": share(stored, lambda a, r: a.answer in r.relevant),
        "any": share(absent, lambda a, r: bool(r.ranked)),
        "rel": share(absent, lambda a, r: bool(r.relevant)),
    }


def groups(asked: Sequence[Ask]) -> Iterator[tuple[str, str, list[int]]]:
    """(half, group, indices): every style and absent kind, and all answerable, per half."""
    for split in SPLITS:
        mine = [i for i, a in enumerate(asked) if a.split == split]
        yield split, "answerable", [i for i in mine if asked[i].answer is not None]
        for style in (*STYLES, "near", "unrelated"):
            yield split, style, [i for i in mine if asked[i].style == style]


def print_search(title: str, asked: Sequence[Ask], answers: dict[str, list[Answer]]) -> None:
    """One table: each pipeline's figures per half and group (hit@3 / nothing, or absent any)."""
    print(f"\n{title}")
    names = list(answers)
    print(f"  {'half':5} {'group':11} {'n':>4}  " + "  ".join(f"{n:>24}" for n in names))
    for split, group, idx in groups(asked):
        cells = []
        for name in names:
            f = figures([(asked[i], answers[name][i]) for i in idx])
            if group in ("near", "unrelated"):
                cells.append(f"nothing {1 - f['any']:.2f} rel {f['rel']:.2f}".rjust(24))
            else:
                cells.append(
                    f"{f['hit@1']:.2f} {f['hit@3']:.2f} {f['nothing']:.2f} {f['relevant']:.2f}".rjust(24)
                )
        print(f"  {split:5} {group:11} {len(idx):>4}  " + "  ".join(cells))
    print(
        "  (answerable rows: hit@1 hit@3 nothing relevant; absent rows: share that got nothing (the"
        " search said no relevant memories) / share with a hit marked relevant)"
    )


def print_hook(asked: Sequence[Ask], injected: dict[str, list[set[str]]]) -> None:
    print("\nprompt hook (memory context --tool claude): answer injected / anything injected")
    names = list(injected)
    print(f"  {'half':5} {'group':11} {'n':>4}  " + "  ".join(f"{n:>14}" for n in names))
    for split, group, idx in groups(asked):
        cells = []
        for name in names:
            got = [injected[name][i] for i in idx]
            if not idx:
                cells.append(f"{'-':>14}")
            elif group in ("near", "unrelated"):
                cells.append(f"any {sum(bool(g) for g in got) / len(idx):.2f}".rjust(14))
            else:
                hit = sum(asked[i].answer in injected[name][i] for i in idx) / len(idx)
                cells.append(f"answer {hit:.2f}".rjust(14))
        print(f"  {split:5} {group:11} {len(idx):>4}  " + "  ".join(cells))


# -- in-process ---------------------------------------------------------------------------------
@contextmanager
def environ(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def stored(store: MemoryStore, data: dict[str, Any]) -> dict[int, str]:
    """Every fact stored as ``memory store --project`` does; memory id -> fact id."""
    ids = {}
    for f in data["facts"]:
        memory = store.store(f["text"], memory_type(f), project=f["project"], source_system="cli")
        ids[memory.id] = f["id"]
    return ids


def scope(project: str | None, scoped: bool) -> dict[str, Any]:
    return {"project": project} if scoped and project else {}


def in_process(store: MemoryStore, asked: Sequence[Ask], ids: dict[int, str], scoped: bool) -> list[Answer]:
    out = []
    for a in asked:
        hits = store.search(a.q, filters=scope(a.project, scoped), limit=5)
        ranked = tuple(ids.get(h.memory.id, "?") for h in hits)
        relevant = frozenset(ids.get(h.memory.id, "?") for h in hits if getattr(h, "relevant", True))
        out.append(Answer(ranked, relevant))
    return out


def bm25_alone(store: MemoryStore, asked: Sequence[Ask], ids: dict[int, str], scoped: bool) -> list[Answer]:
    out = []
    for a in asked:
        hits = store.search(a.q, mode="text", filters=scope(a.project, scoped), limit=5)
        ranked = tuple(ids[h.memory.id] for h in hits)
        out.append(Answer(ranked, frozenset(ranked)))
    return out


def cosine_alone(
    embedder: CachedEmbedder, data: dict[str, Any], asked: Sequence[Ask], scoped: bool
) -> list[Answer]:
    """Rank the facts a question's scope sees by cosine: with a project, its facts and those of no
    project; a question of no project searches every fact (as the pipeline and the CLI do)."""
    facts = data["facts"]
    docs = embedder.embed_many([f["text"] for f in facts], kind="document")
    queries = embedder.embed_many([a.q for a in asked], kind="query")
    out = []
    for a, qv in zip(asked, queries, strict=True):
        seen = [
            i for i, f in enumerate(facts) if not (scoped and a.project) or f["project"] in (a.project, None)
        ]
        cos = docs[seen] @ qv
        ranked = tuple(facts[seen[j]]["id"] for j in np.argsort(-cos)[:5])
        out.append(Answer(ranked, frozenset(ranked)))
    return out


def hook_payload(a: Ask, root: Path, n: int) -> dict[str, str]:
    folder = root / (a.project or "elsewhere")
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "hook_event_name": "UserPromptSubmit",
        "prompt": a.q,
        "cwd": str(folder),
        "session_id": f"dev-{n}",
    }


def injected_ids(text: str) -> list[int]:
    import re

    return [int(i) for i in re.findall(r"\[#(\d+)[ \]]", text)]


def hook_in_process(
    store: MemoryStore, asked: Sequence[Ask], ids: dict[int, str], root: Path
) -> list[set[str]]:
    from mahavishnu.memory.loop import recall

    out = []
    for n, a in enumerate(asked):
        answer = recall.build_context(store, hook_payload(a, root, n), "claude", RecallSettings())
        text = answer["hookSpecificOutput"]["additionalContext"] if answer else ""
        out.append({ids.get(i, "?") for i in injected_ids(text)})
    return out


# -- the real CLI and daemon -------------------------------------------------------------------
def cli(env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mahavishnu {' '.join(args[:3])}: {done.stderr.strip()[-300:]}")
    return done.stdout


def through_cli(
    data: dict[str, Any], asked: Sequence[Ask], home: Path
) -> tuple[dict[str, list[Answer]], list[set[str]]]:
    env = {**os.environ, "MAHAVISHNU_HOME": str(home / "mh"), "HOME": str(home), "NO_COLOR": "1"}
    env.pop("MAHAVISHNU_DAEMON", None)
    began = time.perf_counter()
    ids: dict[int, str] = {}
    for f in data["facts"]:
        args = ["memory", "store", f["text"], "--type", memory_type(f), "--json"]
        if f["project"]:
            args += ["--project", f["project"]]
        ids[int(json.loads(cli(env, *args))["id"])] = f["id"]
    print(f"  stored {len(ids)} facts through the CLI in {time.perf_counter() - began:.0f} s", flush=True)

    def search(a: Ask, scoped: bool) -> Answer:
        args = ["memory", "search", a.q, "--limit", "5", "--json"]
        if scoped and a.project:
            args += ["--project", a.project]
        hits = json.loads(cli(env, *args))
        ranked = tuple(ids.get(h["memory"]["id"], "?") for h in hits)
        relevant = frozenset(ids.get(h["memory"]["id"], "?") for h in hits if h.get("relevant", True))
        return Answer(ranked, relevant)

    def hook(n_a: tuple[int, Ask]) -> set[str]:
        payload = hook_payload(n_a[1], home / "projects", n_a[0])
        text = cli(
            env, "memory", "context", "--tool", "claude", stdin=json.dumps(payload), cwd=Path(payload["cwd"])
        )
        return {ids.get(i, "?") for i in injected_ids(text)}

    began = time.perf_counter()
    answers: dict[str, list[Answer]] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for scoped in (True, False):
            answers["CLI --project" if scoped else "CLI no project"] = list(
                pool.map(lambda a, s=scoped: search(a, s), asked)
            )
        injected = list(pool.map(hook, enumerate(asked)))
    took = time.perf_counter() - began
    print(f"  {3 * len(asked)} searches and prompts through the CLI and daemon in {took:.0f} s", flush=True)
    stop_daemon(env)
    return answers, injected


def stop_daemon(env: dict[str, str]) -> None:
    """Stop the daemon the run started (it would exit when idle, but its home is about to go)."""
    code = "from mahavishnu.memory.loop import daemon; p = daemon.ping(); print(p and p.get('pid') or '')"
    pid = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.strip()
    if pid.isdigit():
        os.kill(int(pid), 15)


def evidence_sweep(
    settings: MemorySettings,
    embedder: CachedEmbedder,
    asked: Sequence[Ask],
    ids: dict[int, str],
    variants: Sequence[tuple[float, int]],
) -> None:
    """The fused ranking's hit@1 and hit@3 on the tuning half at other ``memory.hybrid_evidence``
    and ``memory.hybrid_words`` values."""
    tune = [a for a in asked if a.split == "tune" and a.answer is not None]
    para = [a for a in tune if a.style == "paraphrase"]
    print(
        "\nfusion sweep (tuning half, fused ranking): hit@1 hit@3 all | paraphrase, with | without --project"
    )
    for e, w in variants:
        update = {"hybrid_evidence": e, "hybrid_words": w}
        with MemoryStore.open(settings.model_copy(update=update), embedder=embedder) as store:
            cells = []
            for scoped in (True, False):
                for group in (tune, para):
                    f = figures(list(zip(group, in_process(store, group, ids, scoped), strict=True)))
                    cells.append(f"{f['hit@1']:.3f} {f['hit@3']:.3f}")
        print(f"  evidence {e:.2f} words {w}: " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="in-process only (no CLI, no daemon)")
    parser.add_argument(
        "--evidence-sweep",
        nargs="?",
        default="",
        const="0.34:0,0.34:2,0.34:3,0:2,1:0,1:2",
        metavar="EV:WORDS,...",
        help="also memory.hybrid_evidence:memory.hybrid_words variants (alone: a grid around the defaults)",
    )
    parser.add_argument("--cache", type=Path, default=default_cache_dir(), help="embeddings cache")
    args = parser.parse_args()
    data = load()
    asked = asks(data)
    settings = MemorySettings()
    embedder = CachedEmbedder(get_embedder(settings), args.cache)
    with tempfile.TemporaryDirectory() as tmp, environ(MAHAVISHNU_HOME=str(Path(tmp) / "home")):
        root = Path(tmp)
        where = settings.model_copy(update={"path": root / "dev.db"})
        with MemoryStore.open(where, embedder=embedder) as store:
            ids = stored(store, data)
            search: dict[str, list[Answer]] = {}
            bare: dict[str, list[Answer]] = {}
            search["pipeline"] = in_process(store, asked, ids, True)
            bare["pipeline"] = in_process(store, asked, ids, False)
            search["cosine"], bare["cosine"] = (cosine_alone(embedder, data, asked, s) for s in (True, False))
            search["bm25"], bare["bm25"] = (bm25_alone(store, asked, ids, s) for s in (True, False))
            hooks = {"in-process": hook_in_process(store, asked, ids, root / "projects")}
        # the fused ranking alone, nothing judged (what the relevance decision starts from)
        unjudged = where.model_copy(update={"relevance_floor": 0.0})
        with MemoryStore.open(unjudged, embedder=embedder) as ranking:
            search["ranking"] = in_process(ranking, asked, ids, True)
            bare["ranking"] = in_process(ranking, asked, ids, False)
        if args.evidence_sweep:
            variants = [(float(e), int(w)) for e, w in (v.split(":") for v in args.evidence_sweep.split(","))]
            evidence_sweep(unjudged, embedder, asked, ids, variants)
        if not args.fast:
            answers, injected = through_cli(data, asked, root / "cli")
            search = {"CLI": answers["CLI --project"], **search}
            bare = {"CLI": answers["CLI no project"], **bare}
            hooks = {"CLI": injected, **hooks}
    print_search("search with --project (limit 5)", asked, search)
    print_search("search without --project (limit 5)", asked, bare)
    print_hook(asked, hooks)


if __name__ == "__main__":
    main()
