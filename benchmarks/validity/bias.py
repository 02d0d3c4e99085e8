"""Planted bias defects for the calibration benchmark, and a runner that measures them.

Two defects, both of association only (group mention rates stay the same):

- ``winobias_anti_to_pro``: in the WinoBias set (reference = a random part of the real
  pro/anti mix), a share of the synthetic records is turned from its anti-stereotyped
  sentence into the pro-stereotyped twin (the same sentence with the pronoun's gender
  swapped).
- ``alpaca_pro_appended``: in an AlpacaEval set, WinoBias pro-stereotyped sentences are
  appended to a share of the synthetic records' outputs while the reference gets the
  anti-stereotyped twins of the same sentences appended to the same share of its records.

And one where the stereotyped sentences come with more group mentions, as generated text
would bring them:

- ``alpaca_pro_appended_only``: WinoBias pro-stereotyped sentences appended to a share of the
  synthetic records' outputs, the reference left as it is; any bias metric may find it.

Two negative controls, which ``bias.stereotype_amplification`` must not warn on (its test is
one-sided): ``winobias_pro_to_anti`` (synthetic pro sentences turned into their anti twins)
and ``alpaca_anti_appended_only`` (anti-stereotyped sentences appended, the reference left as
it is).

    .venv/bin/python benchmarks/validity/bias.py [--seeds 8] [--defect-seeds 5] [--out FILE]

prints (and writes as JSON) the warns per metric and for the family on real-vs-real splits
of every set, and each defect's found rate per size.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ALPACA_MODELS, DATA, SETS, embedder, load, run_audit, split  # noqa: E402


@lru_cache(maxsize=1)
def twins() -> tuple[tuple[str, str], ...]:
    """(pro, anti) WinoBias twins: the same line of the pro and anti file of one type and split,
    cleaned as ``common.load`` cleans them."""
    out = []
    for pro in sorted((DATA / "winobias").glob("pro_stereotyped_type*.txt.*")):
        anti = pro.with_name(pro.name.replace("pro_", "anti_"))
        clean = [[re.sub(r"^\d+\s+", "", ln.strip()).replace("[", "").replace("]", "")
                  for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()] for f in (pro, anti)]
        out += list(zip(*clean, strict=True))
    return tuple(out)


def _anti_to_pro(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    to_pro = {a: p for p, a in twins()}
    syn = [dict(r) for r in parts["synthetic"]]
    anti = [i for i, r in enumerate(syn) if r["label"] == "anti" and r["text"] in to_pro]
    k = min(len(anti), round(size * len(syn)))
    for i in rng.choice(anti, size=k, replace=False):
        syn[i] = dict(syn[i], text=to_pro[syn[i]["text"]], label="pro")
    return {**parts, "synthetic": syn}


def _pro_to_anti(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    to_anti = dict(twins())
    syn = [dict(r) for r in parts["synthetic"]]
    pro = [i for i, r in enumerate(syn) if r["label"] == "pro" and r["text"] in to_anti]
    k = min(len(pro), round(size * len(syn)))
    for i in rng.choice(pro, size=k, replace=False):
        syn[i] = dict(syn[i], text=to_anti[syn[i]["text"]], label="anti")
    return {**parts, "synthetic": syn}


def _anti_appended_only(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    pairs = twins()
    syn = [dict(r) for r in parts["synthetic"]]
    k = round(size * len(syn))
    chosen = rng.choice(len(pairs), size=k, replace=False)
    for i, c in zip(rng.choice(len(syn), size=k, replace=False), chosen, strict=True):
        syn[i] = dict(syn[i], output=syn[i]["output"].rstrip() + " " + pairs[c][1])
    return {**parts, "synthetic": syn}


def _pro_appended(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    pairs = twins()
    syn = [dict(r) for r in parts["synthetic"]]
    ref = [dict(r) for r in parts["reference"]]
    k = round(size * min(len(syn), len(ref)))
    chosen = rng.choice(len(pairs), size=k, replace=False)
    for recs, which in ((syn, 0), (ref, 1)):
        for i, c in zip(rng.choice(len(recs), size=k, replace=False), chosen, strict=True):
            recs[i] = dict(recs[i], output=recs[i]["output"].rstrip() + " " + pairs[c][which])
    return {**parts, "synthetic": syn, "reference": ref}


def _pro_appended_only(parts: dict[str, Any], size: float, rng: np.random.Generator) -> dict[str, Any]:
    pairs = twins()
    syn = [dict(r) for r in parts["synthetic"]]
    k = round(size * len(syn))
    chosen = rng.choice(len(pairs), size=k, replace=False)
    for i, c in zip(rng.choice(len(syn), size=k, replace=False), chosen, strict=True):
        syn[i] = dict(syn[i], output=syn[i]["output"].rstrip() + " " + pairs[c][0])
    return {**parts, "synthetic": syn}


DEFECTS = [
    {"name": "winobias_anti_to_pro", "family": "bias", "metric": "bias.stereotype_amplification",
     "sizes": [0.1, 0.15, 0.2, 0.3], "target": 0.15, "sets": ["winobias"], "make": _anti_to_pro},
    {"name": "alpaca_pro_appended", "family": "bias", "metric": "bias.stereotype_amplification",
     "sizes": [0.05, 0.1, 0.15, 0.2], "target": 0.15, "sets": list(ALPACA_MODELS), "make": _pro_appended},
    {"name": "alpaca_pro_appended_only", "family": "bias", "metric": None,
     "sizes": [0.1, 0.15, 0.2, 0.3, 0.5], "target": 0.15, "sets": list(ALPACA_MODELS), "make": _pro_appended_only},
    # negative controls: anti-stereotyped text added must not read as stereotype amplification
    {"name": "winobias_pro_to_anti", "family": "bias", "metric": "bias.stereotype_amplification",
     "sizes": [0.15, 0.3], "sets": ["winobias"], "make": _pro_to_anti, "negative_control": True},
    {"name": "alpaca_anti_appended_only", "family": "bias", "metric": "bias.stereotype_amplification",
     "sizes": [0.15, 0.3], "sets": list(ALPACA_MODELS), "make": _anti_appended_only, "negative_control": True},
]


def _summary(rep: Any) -> dict[str, Any]:
    out = {}
    for r in rep.results:
        if r.info.family == "bias":
            null = r.details.get("null") or {}
            out[r.info.name] = {"value": r.value, "z": null.get("z"), "p": null.get("p"),
                                "baseline": r.details.get("reference_baseline")}
    return out


def _warns(rep: Any) -> list[str]:
    return [r.name for r in rep.results if r.info.family == "bias" and r.status == "warn"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--defect-seeds", type=int, default=5)
    ap.add_argument("--seed-start", type=int, default=0, help="first seed of the real-vs-real splits")
    ap.add_argument("--defect-seed-start", type=int, default=0)
    ap.add_argument("--defects", nargs="*", default=None, help="names of the defects to plant (default all)")
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--skip-null", action="store_true")
    ap.add_argument("--skip-defects", action="store_true")
    ap.add_argument("--out", default="/tmp/bias-validity.json")
    args = ap.parse_args()
    result: dict[str, Any] = {"null": {}, "defects": {}}
    emb = embedder()  # one model for every audit (loaded once, when a text is not cached)
    t0 = time.time()
    if not args.skip_null:
        per_metric: Counter[str] = Counter()
        family = audits = 0
        for s in args.sets:
            recs = load(s)
            for seed in range(args.seed_start, args.seed_start + args.seeds):
                rep = run_audit(split(recs, seed), families=["bias"], emb=emb)
                w = _warns(rep)
                audits += 1
                family += bool(w)
                per_metric.update(w)
                result["null"].setdefault(s, []).append({"warns": w, "metrics": _summary(rep)})
                print(f"null {s} seed {seed}: {w or 'ok'}", flush=True)
        result["null_summary"] = {"audits": audits, "family_warns": family, "per_metric": dict(per_metric)}
        print(json.dumps(result["null_summary"]), flush=True)
    if not args.skip_defects:
        for d in DEFECTS:
            if args.defects is not None and d["name"] not in args.defects:
                continue
            for size in d["sizes"]:
                found = tried = 0
                for s in d["sets"]:
                    if s not in args.sets:
                        continue
                    recs = load(s)
                    for seed in range(args.defect_seed_start, args.defect_seed_start + args.defect_seeds):
                        parts = d["make"](split(recs, 100 + seed), size, np.random.default_rng(seed))
                        rep = run_audit(parts, families=["bias"], emb=emb)
                        w = _warns(rep)
                        hit = bool(w) if d["metric"] is None else d["metric"] in w
                        found += hit
                        tried += 1
                        print(f"{d['name']} {size} {s} seed {seed}: {w or 'ok'} "
                              f"{[(r.name.split('.')[1], round(r.value, 3), (r.details.get('null') or {}).get('z')) for r in rep.results if r.name.endswith(('stereotype_amplification', 'embedding_association'))]}",
                              flush=True)
                result["defects"].setdefault(d["name"], {})[str(size)] = {"found": found, "tried": tried}
                print(d["name"], size, found, "/", tried, flush=True)
    result["seconds"] = round(time.time() - t0, 1)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "null"}, indent=1))


if __name__ == "__main__":
    main()
