"""Run every benchmark script in this folder, one after another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
failed = []
for script in sorted(here.glob("*.py")):
    if script.name in ("run_all.py",) or script.name.startswith("_"):
        continue
    if script.name == "vllm_backend.py":  # needs vLLM, in a venv of its own
        print("== vllm_backend.py: run with `make vllm-check`", flush=True)
        continue
    print(f"== {script.name}", flush=True)
    rc = subprocess.call([sys.executable, str(script)])
    if rc:
        failed.append(script.name)
if failed:
    print("failed:", ", ".join(failed))
    sys.exit(1)
