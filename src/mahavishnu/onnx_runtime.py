"""onnxruntime, imported with its telemetry off.

Since 1.32 the PyPI build of onnxruntime for Linux collects usage telemetry on import: it writes a
device id and an event database under ``~/.cache/Microsoft/DeveloperTools`` and may send them to
Microsoft. Mahavishnu runs offline and keeps its users' data to itself, so every import of
onnxruntime goes through here: ``ORT_DISABLE_TELEMETRY`` (this version's switch) and
``ORT_TELEMETRY_DISABLED`` (later versions') are set first, unless the user set them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: The variables onnxruntime reads to turn its telemetry off (1.32, and the releases after it).
OFF = ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED")


def import_onnxruntime() -> ModuleType:
    """``import onnxruntime``, its telemetry off. ImportError when it is not installed."""
    for name in OFF:
        os.environ.setdefault(name, "1")
    return importlib.import_module("onnxruntime")
