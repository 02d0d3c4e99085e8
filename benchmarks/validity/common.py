"""Real sets for the audit's calibration, their random splits, and one audit call.

The sets come from ``../shared/data/`` (see its README for sources and licenses):
AlpacaEval outputs of several models (instruction + output, labelled by the AlpacaEval
subset they come from), 2k Code Alpaca records (instruction + input + output) and the
WinoBias sentences (text, labelled pro- or anti-stereotyped).

A planted defect module lists ``DEFECTS``: dicts with
``name`` (snake_case), ``family``, ``metric`` (the metric key that must warn, or None when any
metric of the family warning counts), ``sizes`` (the defect sizes tried, ascending),
``target`` (the size the issue names: the defect must be found at it), ``sets`` (the real
sets it is planted in) and ``make(parts, size, rng) -> parts`` which returns new parts (a
dict ``synthetic`` / ``reference`` / ``private`` / ``holdout`` / ``benchmarks`` of record
lists, ``benchmarks`` a dict name -> records) with the defect planted at ``size``.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("TETHER_SHARED_DATA", ROOT.parent / "shared" / "data"))
CACHE = Path(os.environ.get("TETHER_VALIDITY_CACHE", "/tmp/tether-validity-cache.sqlite"))

ALPACA_MODELS = {
    "alpaca_gpt4o": "gpt-4o-2024-05-13.json",
    "alpaca_claude_verbose": "claude-2.1_verbose.json",
    "alpaca_qwen72b": "Qwen1.5-72B-Chat.json",
    "alpaca_ppo_human": "alpaca-farm-ppo-human.json",
}
SETS = (*ALPACA_MODELS, "code_alpaca", "winobias")
PARTS = ("synthetic", "reference", "private", "holdout", "benchmark")


def have_data() -> bool:
    return (DATA / "alpaca_eval").is_dir()


@cache
def _load(name: str) -> tuple[dict[str, Any], ...]:
    if name in ALPACA_MODELS:
        rows = json.loads((DATA / "alpaca_eval" / ALPACA_MODELS[name]).read_text(encoding="utf-8"))
        return tuple({"id": f"{name}-{i}", "instruction": r["instruction"], "output": r["output"],
                      "label": r["dataset"]} for i, r in enumerate(rows))
    if name == "alpaca_instructions":
        rows = json.loads((DATA / "alpaca_eval" / ALPACA_MODELS["alpaca_gpt4o"]).read_text(encoding="utf-8"))
        return tuple({"id": f"instr-{i}", "text": r["instruction"], "label": r["dataset"]} for i, r in enumerate(rows))
    if name == "code_alpaca":
        rows = json.loads((DATA / "code_alpaca" / "code_alpaca_2k.json").read_text(encoding="utf-8"))
        return tuple({"id": f"code-{i}", "instruction": r["instruction"], "input": r["input"],
                      "output": r["output"]} for i, r in enumerate(rows))
    if name == "winobias":
        out = []
        for f in sorted((DATA / "winobias").glob("*_stereotyped_type*.txt.*")):
            kind = "pro" if f.name.startswith("pro") else "anti"
            for line in f.read_text(encoding="utf-8").splitlines():
                text = re.sub(r"^\d+\s+", "", line.strip()).replace("[", "").replace("]", "")
                if text:
                    out.append({"id": f"wino-{f.name}-{len(out)}", "text": text, "label": kind})
        return tuple(out)
    raise KeyError(name)


def load(name: str) -> list[dict[str, Any]]:
    """The records of one real set (fresh dicts)."""
    return [dict(r) for r in _load(name)]


def split(records: list[dict[str, Any]], seed: int, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """A random split of ``records`` into equal, disjoint ``parts``; ``benchmark`` becomes
    ``benchmarks: {"bench": [...]}`` (real items the synthetic part never saw)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(records))
    size = len(records) // len(parts)
    out: dict[str, Any] = {}
    for i, p in enumerate(parts):
        chunk = [dict(records[j]) for j in perm[i * size : (i + 1) * size]]
        if p == "benchmark":
            out["benchmarks"] = {"bench": chunk}
        else:
            out[p] = chunk
    return out


def embedder():  # noqa: ANN201
    from tether.embed import Embedder, EmbedderConfig

    return Embedder(EmbedderConfig(), cache_path=CACHE)


def run_audit(parts: dict[str, Any], families: list[str] | None = None, emb: Any = None, **settings: Any):  # noqa: ANN201
    """Audit ``parts`` (the default MiniLM embedder, embeddings cached in ``CACHE``)."""
    from tether.audit import AuditConfig, audit

    cfg = AuditConfig(**({"families": families} if families else {}), workers=1, **settings)
    return audit(parts["synthetic"], reference=parts.get("reference"), private=parts.get("private"),
                 holdout=parts.get("holdout"), benchmarks=parts.get("benchmarks") or None, config=cfg,
                 embedder=emb if emb is not None else embedder())


def warm_cache() -> None:
    """Embed every real set's texts once (the audit's own text of each record)."""
    from tether.audit.dataset import record_text

    emb = embedder()
    for name in (*SETS, "alpaca_instructions"):
        texts = [record_text(r) for r in load(name)]
        emb.encode(texts)
        print(f"{name}: {len(texts)} texts embedded", flush=True)


if __name__ == "__main__":
    warm_cache()
