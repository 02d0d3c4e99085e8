"""Shared helpers for the lineage tests: a small project and its pipeline."""

from __future__ import annotations

from pathlib import Path

from tether.pipeline import Pipeline

DOCS = {
    "a-compost.md": "# Compost\nCompost is decomposed organic matter used to feed soil.",
    "b-worms.md": "# Worms\nRed wigglers eat kitchen scraps in a worm bin.",
    "c-heat.md": "# Heat\nA hot pile reaches 60 degrees and kills most weed seeds.",
}

PIPELINE = """
name: lt
seed: 7
batch_size: 4
plugins: [lineage_steps]
steps:
  - read: {path: docs/, require: [text]}
  - lt_expand: {per_record: 2, temperature: 0.5}
  - lt_min_len: {min_chars: 40}
export:
  formats: [parquet, jsonl]
"""


def make_project(root: Path, pipeline: str = PIPELINE) -> Path:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (root / "docs" / name).write_text(text, encoding="utf-8")
    (root / "p.yaml").write_text(pipeline, encoding="utf-8")
    return root


def run_project(project: Path, run_dir: Path, overrides: list[str] | None = None, name: str = "p.yaml") -> Path:
    Pipeline.from_yaml(project / name, overrides=overrides).run(run_dir)
    return run_dir


def tether_cli(*args: str):  # noqa: ANN201
    """Run the CLI in a subprocess, with this folder importable (for the test plugin steps)."""
    import os
    import subprocess
    import sys

    here = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run([sys.executable, "-m", "tether", *args], capture_output=True, text=True, timeout=120, env=env)
