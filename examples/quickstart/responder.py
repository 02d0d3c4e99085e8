"""The scripted stand-in for a model that recorded ``responses.jsonl`` (not a real model).

The same responder as ``examples/grounded_qa/responder.py`` (read there what it answers).
Regenerate the file with ``python examples/_record.py quickstart``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_grounded_qa_responder", Path(__file__).resolve().parents[1] / "grounded_qa" / "responder.py"
)
assert _spec is not None and _spec.loader is not None
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)

respond = _mod.respond
