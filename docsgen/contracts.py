"""The import contracts of pyproject.toml's ``[tool.importlinter]``, as the architecture page shows them."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def markdown() -> str:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    parts: list[str] = []
    for contract in config["contracts"]:
        parts += [f"**{contract['name']}** ({contract['type']}):", ""]
        if contract["type"] == "layers":
            container = ", ".join(f"`{c}`" for c in contract.get("containers", []))
            parts.append(f"in {container}, from the top down; each imports only from the layers below it:")
            parts.append("")
            parts += [
                f"{n}. " + " · ".join(f"`{m.strip()}`" for m in layer.split("|"))
                for n, layer in enumerate(contract["layers"], 1)
            ]
        else:
            parts.append("none of these imports another:")
            parts.append("")
            parts += [f"- `{m}`" for m in contract["modules"]]
        parts.append("")
    return "\n".join(parts)
