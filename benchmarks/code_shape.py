"""The package's shape, as issue #32 measures it: lines, `Any` per 1,000 lines, function length and
cyclomatic complexity (share of functions ranked C or worse by radon), and import cycles.

    python benchmarks/code_shape.py            # needs radon and grimp (import-linter) installed

Prints one figure a line; nothing is asserted (the contracts are checked by `lint-imports`, the cycles
by tests/test_architecture.py)."""

from __future__ import annotations

import ast
import re
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "mahavishnu"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))  # testkit


def main() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    texts = [f.read_text(encoding="utf-8") for f in files]
    lines = sum(t.count("\n") for t in texts)
    anys = sum(len(re.findall(r"\bAny\b", t)) for t in texts)
    print(f"files: {len(files)}  lines: {lines:,}")
    print(f"Any: {anys} ({1000 * anys / lines:.1f} per 1,000 lines)")
    lengths = [_length(node) for t in texts for node in ast.walk(ast.parse(t)) if _is_function(node)]
    lengths.sort()
    print(
        f"functions: {len(lengths)}  length median {statistics.median(lengths):.0f}"
        f"  p90 {lengths[int(0.9 * (len(lengths) - 1))]} lines"
    )
    _complexity()
    _cycles()


def _is_function(node: ast.AST) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)


def _length(node: ast.AST) -> int:
    return int(getattr(node, "end_lineno", 0) or 0) - int(getattr(node, "lineno", 0) or 0) + 1


def _complexity() -> None:
    try:
        from radon.complexity import cc_rank, cc_visit
    except ImportError:
        print("complexity: radon not installed (pip install radon)")
        return
    blocks = [b for f in sorted(PACKAGE.rglob("*.py")) for b in cc_visit(f.read_text(encoding="utf-8"))]
    functions = [b for b in blocks if b.letter in ("F", "M")]
    worse = [b for b in functions if cc_rank(b.complexity) >= "C"]
    share = 100 * len(worse) / len(functions)
    print(f"complexity: {len(worse)} of {len(functions)} functions rank C or worse ({share:.1f} %)")


def _cycles() -> None:
    try:
        import grimp
        from testkit.import_cycles import cycles as find
    except ImportError:
        print("import cycles: grimp not installed (pip install import-linter)")
        return
    found = find(grimp.build_graph("mahavishnu", exclude_type_checking_imports=False))
    print(f"import cycles of more than one module: {len(found)}")


if __name__ == "__main__":
    main()
