"""The question each development-set fact answers, written by your own provider (``memory.question_writer``).

``benchmarks/data/devmem_questions.json`` holds questions an assistant wrote for each fact of issue 46's
sets, given the fact and its project alone. This writes the same file with the product's own question
writer (``services/question_writer.py``: its prompt, its cleaning), so that the figures of
``devmem.py --questions`` can be measured with it, on a machine that reaches a provider::

    python benchmarks/write_questions.py --out /tmp/written.json      # your settings' memory.question_writer
    python benchmarks/devmem.py --fast --questions /tmp/written.json
    python benchmarks/devmem.py --fast --questions /tmp/written.json --data benchmarks/data/devmem_fresh.json

One request a fact (172 for both sets); the profile and its key come from your settings, as
``memory store`` finds them (``--profile`` names another). A fact the provider wrote no question for is
left out of the file and said on standard error; the first failure to reach the provider stops it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mahavishnu.config import load_settings
from mahavishnu.services.question_writer import write_questions

DATA = Path(__file__).parent / "data"
SETS = (DATA / "devmem.json", DATA / "devmem_fresh.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="the questions file to write (fact id -> list)"
    )
    parser.add_argument("--profile", help="the provider profile (default: memory.question_writer)")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.profile:
        memory = settings.memory.model_copy(update={"question_writer": args.profile})
        settings = settings.model_copy(update={"memory": memory})
    if not settings.memory.question_writer:
        parser.error("no question writer: set memory.question_writer in your settings, or pass --profile")
    facts = [fact for path in SETS for fact in json.loads(path.read_text(encoding="utf-8"))["facts"]]
    written: dict[str, object] = {
        "_about": f"Written by {settings.memory.question_writer} through services/question_writer.py "
        "(benchmarks/write_questions.py), one request a fact given its text and project alone."
    }
    for done, fact in enumerate(facts, 1):
        answer = write_questions(fact["text"], fact["project"], settings)
        if answer.problem and not answer.answered:
            print(
                f"stopped at {fact['id']} ({done - 1} of {len(facts)} written): {answer.problem}",
                file=sys.stderr,
            )
            return 1
        if answer.questions:
            written[fact["id"]] = list(answer.questions)
        else:
            print(f"{fact['id']}: {answer.problem}", file=sys.stderr)
        print(f"\r{done}/{len(facts)}", end="", file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(written, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\n{len(written) - 1} of {len(facts)} facts have a question: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
