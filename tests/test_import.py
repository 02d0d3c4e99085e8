"""``import tether`` stays light: no torch, transformers, vllm, ray, presidio, spacy, datasets."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "sentence_transformers", "vllm", "ray", "presidio_analyzer", "spacy", "datasets")


def test_import_tether_is_light() -> None:
    code = (
        "import sys, json, tether, tether.pipeline, tether.cli.app; tether.pipeline.registry.load_builtins();"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
