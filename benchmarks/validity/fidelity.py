"""Planted fidelity defects on real data (see common.py for the interface).

- ``other_model``: a share of the synthetic records answered by another AlpacaEval model (the
  same instructions, another model's outputs): a real style shift, the whole synthetic side at
  size 1.0. The reference keeps its own model.
- ``replaced_by_other_set``: a share of the synthetic records replaced by records of another
  real set (Code Alpaca into AlpacaEval, AlpacaEval into Code Alpaca, AlpacaEval instructions
  into WinoBias): off-distribution records.

    .venv/bin/python benchmarks/validity/fidelity.py [--seeds 8]   # false alarms and defects
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ALPACA_MODELS, SETS, load  # noqa: E402

#: The model whose answers replace a set's own: a different style (lengths, formatting, tone).
OTHER_MODEL = {"alpaca_gpt4o": "alpaca_claude_verbose", "alpaca_claude_verbose": "alpaca_gpt4o",
               "alpaca_qwen72b": "alpaca_ppo_human", "alpaca_ppo_human": "alpaca_qwen72b"}
#: The set whose records replace a share of a set's own.
OTHER_SET = {**dict.fromkeys(ALPACA_MODELS, "code_alpaca"), "code_alpaca": "alpaca_gpt4o",
             "winobias": "alpaca_instructions"}


def _set_of(parts: dict[str, Any]) -> str:
    rid = str(parts["synthetic"][0]["id"])
    for name in ALPACA_MODELS:
        if rid.startswith(name + "-"):
            return name
    return "code_alpaca" if rid.startswith("code-") else "winobias"


def _replace(parts: dict[str, Any], size: float, rng: np.random.Generator, make) -> dict[str, Any]:  # noqa: ANN001
    syn = [dict(r) for r in parts["synthetic"]]
    k = int(round(size * len(syn)))
    for i in rng.choice(len(syn), size=k, replace=False):
        syn[i] = make(syn[i], int(i))
    return {**parts, "synthetic": syn}


def other_model(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """``size`` of the synthetic records get another model's answer to their instruction."""
    other = OTHER_MODEL[_set_of(parts)]
    answers = {r["instruction"]: r["output"] for r in load(other)}
    return _replace(parts, size, rng, lambda r, i: dict(r, id=f"{other}-for-{r['id']}",
                                                        output=answers[r["instruction"]]))


def replaced_by_other_set(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    """``size`` of the synthetic records replaced by records of another real set."""
    pool = load(OTHER_SET[_set_of(parts)])
    pick = rng.permutation(len(pool))
    return _replace(parts, size, rng, lambda r, i: dict(pool[pick[i % len(pool)]], id=f"other-{i}"))


DEFECTS = [
    {"name": "other_model", "family": "fidelity", "metric": None, "sizes": [0.25, 0.5, 1.0], "target": 1.0,
     "sets": list(ALPACA_MODELS), "make": other_model},
    {"name": "replaced_by_other_set", "family": "fidelity", "metric": None, "sizes": [0.05, 0.1, 0.2, 0.3],
     "target": 0.3, "sets": list(SETS), "make": replaced_by_other_set},
]


def main() -> None:
    import argparse
    import json

    from common import run_audit, split

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--only", nargs="*", help="defect names (default: all)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/tether-validity-fidelity.jsonl"))
    args = ap.parse_args()
    with args.out.open("a") as out:
        for d in DEFECTS:
            if args.only and d["name"] not in args.only:
                continue
            for s in d["sets"]:
                recs = load(s)
                for size in d["sizes"]:
                    for seed in range(args.seeds):
                        parts = d["make"](split(recs, seed), size, np.random.default_rng(seed))
                        rep = run_audit(parts, families=["fidelity"], seed=seed)
                        warned = [r.name for r in rep.results if r.status == "warn"]
                        row = {"defect": d["name"], "set": s, "size": size, "seed": seed, "warned": warned,
                               "found": rep.scorecard()["fidelity"] == "warn"}
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        print(row, flush=True)


if __name__ == "__main__":
    main()
