"""The audit's validity on real data: false alarms on real-vs-real splits, and the smallest
size at which each planted defect is found.

Real-vs-real: each real set (benchmarks/validity/common.py: AlpacaEval outputs of four
models, Code Alpaca, WinoBias) is split at random into five disjoint equal parts: synthetic,
reference, private, holdout and a benchmark. Nothing is wrong with such a "synthetic" part,
so every warning is a false alarm. For each family the share of audits in which any of its
metrics warned must be at most 5%.

Planted defects: the ``DEFECTS`` of each module in benchmarks/validity/ (one per family's
risks), planted at each of their sizes into real splits; a defect is found in an audit when
its metric (or, for defects without one, any metric of its family) warns. A size counts as
found when the defect is found in at least 80% of the seeds.

Needs ../shared/data (the real sets); embeddings are the default MiniLM, cached in
/tmp/tether-validity-cache.sqlite (TETHER_VALIDITY_CACHE).

    .venv/bin/python benchmarks/audit_validity.py [--seeds 10] [--defect-seeds 5]
        [--sets alpaca_gpt4o ...] [--families bias ...] [--skip-null] [--skip-defects] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from validity.common import SETS, embedder, have_data, load, run_audit, split  # noqa: E402

from tether.audit.base import FAIL, FAMILIES, WARN  # noqa: E402

DEFECT_MODULES = ("quality", "diversity", "fidelity", "utility", "bias", "privacy", "contamination", "integrity")
FOUND_SHARE = 0.8


def flagged(status: str) -> bool:
    return status in (WARN, FAIL)


def real_vs_real(sets: list[str], seeds: int, families: list[str], emb: Any) -> tuple[str, dict[str, Any]]:
    fam_warns: Counter[str] = Counter()
    fam_runs: Counter[str] = Counter()
    met_warns: Counter[str] = Counter()
    met_runs: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    t0 = time.time()
    for name in sets:
        records = load(name)
        for seed in range(seeds):
            parts = split(records, 1000 + seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rep = run_audit(parts, families, emb=emb, seed=seed)
            card = rep.scorecard()
            for fam in families:
                if card.get(fam) in ("skipped", None):
                    continue
                fam_runs[fam] += 1
                fam_warns[fam] += flagged(card[fam])
            for r in rep.results:
                met_runs[r.name] += 1
                if flagged(r.status):
                    met_warns[r.name] += 1
                    if len(examples[r.name]) < 3:
                        examples[r.name].append(f"{name}/{seed}: {'; '.join(r.notes)[:160]}")
        print(f"  real-vs-real {name}: {seeds} audits, {time.time() - t0:.0f} s so far", file=sys.stderr, flush=True)
    lines = ["| family | audits | warned | false-alarm rate |", "|---|---|---|---|"]
    for fam in families:
        if fam_runs[fam]:
            lines.append(f"| {fam} | {fam_runs[fam]} | {fam_warns[fam]} | {fam_warns[fam] / fam_runs[fam]:.1%} |")
    lines += ["", "| metric | audits | warned | rate |", "|---|---|---|---|"]
    for key in sorted(met_runs):
        lines.append(f"| `{key}` | {met_runs[key]} | {met_warns[key]} | {met_warns[key] / met_runs[key]:.1%} |")
    if examples:
        lines += ["", "False alarms (first three per metric):", ""]
        lines += [f"- `{k}`: " + " / ".join(v) for k, v in sorted(examples.items())]
    summary = {"family": {f: (fam_warns[f], fam_runs[f]) for f in families if fam_runs[f]},
               "metric": {k: (met_warns[k], met_runs[k]) for k in met_runs}}
    return "\n".join(lines), summary


def defects(families: list[str], seeds: int, emb: Any) -> tuple[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    lines = ["| defect | family | metric | set(s) | size: found/seeds | smallest size found | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for mod_name in DEFECT_MODULES:
        try:
            mod = importlib.import_module(f"validity.{mod_name}")
        except ModuleNotFoundError:
            continue
        for d in getattr(mod, "DEFECTS", []):
            if d["family"] not in families:
                continue
            t0 = time.time()
            found_at: dict[float, tuple[int, int]] = {}
            for size in d["sizes"]:
                hits = runs = 0
                for set_name in d["sets"]:
                    records = load(set_name)
                    for seed in range(seeds):
                        rng = np.random.default_rng(7000 + seed)
                        parts = d["make"](split(records, 2000 + seed), size, rng)
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            rep = run_audit(parts, [d["family"]], emb=emb, seed=seed)
                        if d.get("metric"):
                            try:
                                hit = flagged(rep.get(d["metric"]).status)
                            except KeyError:
                                hit = False
                        else:
                            hit = flagged(rep.scorecard()[d["family"]])
                        hits += hit
                        runs += 1
                found_at[size] = (hits, runs)
            smallest = next((s for s in d["sizes"] if found_at[s][0] >= FOUND_SHARE * found_at[s][1]), None)
            target = d.get("target")
            met = "–" if target is None else ("yes" if smallest is not None and smallest <= target else "NO")
            if d.get("negative_control"):
                met = "yes" if all(h == 0 for h, _ in found_at.values()) else "NO"
            sizes = ", ".join(f"{s:g}: {h}/{r}" for s, (h, r) in found_at.items())
            lines.append(f"| {d['name']} | {d['family']} | `{d.get('metric') or 'any'}` | {', '.join(d['sets'])} | "
                         f"{sizes} | {'none' if smallest is None else f'{smallest:g}'} | "
                         f"{'–' if target is None else f'{target:g}'} | {met} |")
            rows.append({"name": d["name"], "found_at": found_at, "smallest": smallest, "met": met})
            print(f"  defect {d['name']}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return "\n".join(lines), rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="real-vs-real splits per set")
    ap.add_argument("--defect-seeds", type=int, default=5, help="seeds per planted defect and size")
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--families", nargs="*", default=list(FAMILIES))
    ap.add_argument("--skip-null", action="store_true", help="skip the real-vs-real splits")
    ap.add_argument("--skip-defects", action="store_true", help="skip the planted defects")
    ap.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    args = ap.parse_args()
    if not have_data():
        print("audit_validity: ../shared/data is missing (set TETHER_SHARED_DATA)", file=sys.stderr)
        return 2
    from threadpoolctl import threadpool_limits

    # one thread for BLAS and OpenMP: the audits here are small, and beside other work on a
    # few cores multi-threaded scikit-learn runs several times slower
    threadpool_limits(1)
    emb = embedder()
    parts = []
    t0 = time.time()
    if not args.skip_null:
        table, summary = real_vs_real(args.sets, args.seeds, args.families, emb)
        parts += [f"### Real-vs-real: {len(args.sets)} sets x {args.seeds} splits", "", table, ""]
        bad = {f: v for f, v in summary["family"].items() if v[0] > 0.05 * v[1]}
        parts.append("Families over 5%: " + (", ".join(f"{f} ({w}/{n})" for f, (w, n) in bad.items()) or "none"))
        parts.append("")
    if not args.skip_defects:
        table, _ = defects(args.families, args.defect_seeds, emb)
        parts += [f"### Planted defects ({args.defect_seeds} seeds per size; found = flagged in at least "
                  f"{FOUND_SHARE:.0%} of them)", "", table, ""]
    parts.append(f"({time.time() - t0:.0f} s)")
    text = "\n".join(parts)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
