"""Quality: length distribution, empty and truncated responses, refusals and boilerplate,
and judge-score distributions when the records carry scores.

Against a reference every rule is a significance test with a minimum effect and support: a
rate warns when Fisher's exact test (one-sided, the exact permutation test of the pooled
records) gives p < :data:`RATE_P`, the synthetic rate is at least :data:`RATE_MIN_EXCESS` above
the reference's and at least :data:`RATE_MIN_COUNT` records are flagged; the length spread
warns when it is under half the reference's and the Brown-Forsythe test of equal spread gives
p < :data:`RATE_P`. Without a reference the fixed thresholds apply (empty > 1%, refusals > 2%,
boilerplate > 5%, truncation > 5%).

Example:
    >>> is_refusal("I'm sorry, but I can't help with that.")
    True
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tether.audit.base import (
    MetricResult,
    bootstrap_ci,
    dynamic_metric_prefix,
    metric,
    offenders,
    wilson_ci,
)
from tether.audit.dataset import AuditData

log = logging.getLogger(__name__)

F = "quality"
LENGTH = metric(F, "length_mean", higher_is_better=None, bounds=(0.0, math.inf),
                description="Mean length of records in words (distribution in the details).")
EMPTY = metric(F, "empty_rate", higher_is_better=False, bounds=(0.0, 1.0),
               description="Share of records whose response is empty or whitespace.")
TRUNC = metric(F, "truncated_rate", higher_is_better=False, bounds=(0.0, 1.0),
               description="Share of responses that stop mid-sentence (no closing punctuation) or "
                           "carry finish_reason 'length'.")
REFUSAL = metric(F, "refusal_rate", higher_is_better=False, bounds=(0.0, 1.0),
                 description="Share of responses that refuse or disclaim instead of answering.")
BOILER = metric(F, "boilerplate_rate", higher_is_better=False, bounds=(0.0, 1.0),
                description="Share of responses with assistant boilerplate ('Certainly! Here is', "
                            "'I hope this helps').")
JUDGE = metric(F, "judge_score_mean", higher_is_better=True, bounds=(-math.inf, math.inf),
               description="Mean of a judge or reward score column (distribution in the details).")
#: a rate warns against the reference when Fisher's one-sided p is below this, ...
RATE_P = 0.001
#: ... it is at least this much above the reference's rate ...
RATE_MIN_EXCESS = 0.02
#: ... and at least this many records are flagged
RATE_MIN_COUNT = 5
#: without a reference, a rate warns above its fixed threshold
NO_REFERENCE_LIMIT = {"empty_rate": 0.01, "refusal_rate": 0.02, "boilerplate_rate": 0.05, "truncated_rate": 0.05}
#: a score column other than ``judge_score`` gets its own metric, named after it
JUDGE_COLUMN = dynamic_metric_prefix(F, "judge_score_mean")

_REFUSAL = re.compile(
    r"\b(i(?:'m| am) sorry,? but i (?:can(?:'|no)t|am unable|won't)|i can(?:'|no)t (?:help|assist|comply|provide)"
    r"|i(?:'m| am) (?:unable|not able) to (?:help|assist|provide|comply)|as an ai(?: language model)?,? i"
    r"|i must decline|i won't be able to)", re.I)
_BOILER = re.compile(
    r"(^\s*(certainly|sure|absolutely|of course)[!,.]\s*(here(?:'s| is| are))?|i hope this helps"
    r"|feel free to ask|let me know if you (?:have|need) any|^\s*great question)", re.I | re.M)
_END = re.compile(r"[.!?。…\"'”’)\]}`*>|:;]\s*$|```\s*$|\d\s*$")


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text))


def is_boilerplate(text: str) -> bool:
    return bool(_BOILER.search(text))


def is_truncated(text: str, finish_reason: Any = None) -> bool:
    """Stopped by the length limit, or ends without closing punctuation after 5+ words."""
    if finish_reason == "length":
        return True
    t = text.rstrip()
    if len(t.split()) < 5:
        return False
    return not _END.search(t)


def length_stats(lengths: np.ndarray) -> dict[str, Any]:
    if lengths.size == 0:
        return {}
    q = np.quantile(lengths, [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    hist, edges = np.histogram(lengths, bins=min(30, max(1, int(np.unique(lengths).size))))
    return {"quantiles": dict(zip(["min", "p05", "p25", "p50", "p75", "p95", "max"], q.tolist(), strict=True)),
            "std": float(lengths.std()), "histogram": {"edges": edges.tolist(), "counts": hist.tolist()}}


def score_columns(records: Sequence[Mapping[str, Any]], fields: Sequence[str] | None) -> list[str]:
    """Numeric columns named like judge/reward scores (``*score*``, ``*judge*``, ``*reward*``)."""
    if fields:
        return list(fields)
    names: dict[str, None] = {}
    for r in records[:200]:
        for k, v in r.items():
            low = k.lower()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and any(
                    w in low for w in ("score", "judge", "reward", "rating")):
                names.setdefault(k, None)
    return list(names)


def excess_rate_test(k: int, n: int, k_ref: int, n_ref: int) -> float:
    """One-sided p-value that the synthetic rate ``k / n`` exceeds the reference's ``k_ref /
    n_ref``: Fisher's exact test, i.e. the share of random splits of the pooled records that put
    at least ``k`` flagged ones on the synthetic side (nan when a side is empty)."""
    from scipy.stats import fisher_exact

    if n <= 0 or n_ref <= 0:
        return float("nan")
    return float(fisher_exact([[k, n - k], [k_ref, n_ref - k_ref]], alternative="greater")[1])


def _rate(info, flags: np.ndarray, ids, texts, ref_flags: np.ndarray | None) -> MetricResult:  # noqa: ANN001
    n = len(flags)
    k = int(flags.sum())
    res = MetricResult.of(info, k / n if n else float("nan"), n=n, ci=wilson_ci(k, n), details={"count": k},
                          offenders=offenders(ids, flags.astype(float), texts) if k else [])
    res.offenders = [o for o in res.offenders if o["score"] > 0]
    if ref_flags is not None and len(ref_flags):
        kr, nr = int(ref_flags.sum()), len(ref_flags)
        rr = kr / nr
        p = excess_rate_test(k, n, kr, nr)
        res.details["reference"] = rr
        res.details["reference_count"] = kr
        res.details["p_value"] = p
        res.warn_if(p < RATE_P and res.value >= rr + RATE_MIN_EXCESS and k >= RATE_MIN_COUNT,
                    f"{res.value:.1%} against the reference's {rr:.1%} (Fisher p = {p:.2g})")
    else:
        limit = NO_REFERENCE_LIMIT[info.name]
        res.warn_if(res.value > limit, f"over {limit:.0%} of responses (no reference to compare with)")
    return res


def spread_test(lengths: np.ndarray, reference: np.ndarray) -> float:
    """Brown-Forsythe p-value (Levene's test around the medians) that the two length
    distributions have the same spread (nan with under 2 records a side or no spread at all)."""
    from scipy.stats import levene

    if len(lengths) < 2 or len(reference) < 2 or (np.ptp(lengths) == 0 and np.ptp(reference) == 0):
        return float("nan")
    return float(levene(lengths, reference, center="median").pvalue)


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn, ref = data.synthetic, data.reference
    n = len(syn)
    out: list[MetricResult] = []

    lens = np.array([len(t.split()) for t in syn.texts], float)
    res = MetricResult.of(LENGTH, float(lens.mean()), n=n, ci=bootstrap_ci(lens, n_boot=cfg.bootstrap, seed=cfg.seed),
                          details=length_stats(lens))
    if ref is not None:
        rl = np.array([len(t.split()) for t in ref.texts], float)
        res.details["reference"] = float(rl.mean())
        res.details["reference_std"] = float(rl.std())
        p = spread_test(lens, rl)
        res.details["spread_p_value"] = p
        res.warn_if(rl.std() > 0 and lens.std() < 0.5 * rl.std() and p < RATE_P,
                    f"length spread is under half the reference's ({lens.std():.1f} against {rl.std():.1f} words; "
                    f"Brown-Forsythe p = {p:.2g})")
    out.append(res)

    resp = syn.responses()
    ref_resp = ref.responses() if ref is not None else None
    finish = [r.get("finish_reason") for r in syn.records]
    out.append(_rate(EMPTY, np.array([not t.strip() for t in resp]), syn.ids, syn.texts,
                     None if ref_resp is None else np.array([not t.strip() for t in ref_resp])))
    ref_trunc = None if ref_resp is None else np.array(
        [is_truncated(t, r.get("finish_reason")) for t, r in zip(ref_resp, ref.records, strict=True)])  # type: ignore[union-attr]
    out.append(_rate(TRUNC, np.array([is_truncated(t, f) for t, f in zip(resp, finish, strict=True)]), syn.ids,
                     syn.texts, ref_trunc))
    out.append(_rate(REFUSAL, np.array([is_refusal(t) for t in resp]), syn.ids, syn.texts,
                     None if ref_resp is None else np.array([is_refusal(t) for t in ref_resp])))
    out.append(_rate(BOILER, np.array([is_boilerplate(t) for t in resp]), syn.ids, syn.texts,
                     None if ref_resp is None else np.array([is_boilerplate(t) for t in ref_resp])))

    for col in score_columns(syn.records, cfg.score_fields):
        vals = [r.get(col) for r in syn.records]
        idx = [i for i, v in enumerate(vals) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(idx) < 2:
            continue
        arr = np.array([vals[i] for i in idx], dtype=float)
        info = JUDGE if col == "judge_score" else metric(
            F, JUDGE_COLUMN.split(".", 1)[1] + col, higher_is_better=True, bounds=(-math.inf, math.inf),
            description=f"Mean of the score column '{col}' (distribution in the details).")
        res = MetricResult.of(info, float(arr.mean()), n=len(arr),
                              ci=bootstrap_ci(arr, n_boot=cfg.bootstrap, seed=cfg.seed),
                              details={"column": col, **length_stats(arr)},
                              offenders=offenders([syn.ids[i] for i in idx], arr, [syn.texts[i] for i in idx],
                                                  largest=False))
        out.append(res)
    return out


__all__ = ["excess_rate_test", "is_boilerplate", "is_refusal", "is_truncated", "run", "score_columns", "spread_test"]
