"""Quality: length distribution, empty and truncated responses, refusals and boilerplate,
and judge-score distributions when the records carry scores.

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
               description="Share of records whose response is empty or whitespace.", warn="> 0.01")
TRUNC = metric(F, "truncated_rate", higher_is_better=False, bounds=(0.0, 1.0),
               description="Share of responses that stop mid-sentence (no closing punctuation) or "
                           "carry finish_reason 'length'.")
REFUSAL = metric(F, "refusal_rate", higher_is_better=False, bounds=(0.0, 1.0),
                 description="Share of responses that refuse or disclaim instead of answering.", warn="> 0.02")
BOILER = metric(F, "boilerplate_rate", higher_is_better=False, bounds=(0.0, 1.0),
                description="Share of responses with assistant boilerplate ('Certainly! Here is', "
                            "'I hope this helps').", warn="> 0.05")
JUDGE = metric(F, "judge_score_mean", higher_is_better=True, bounds=(-math.inf, math.inf),
               description="Mean of a judge or reward score column (distribution in the details).")
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


def _rate(info, flags: np.ndarray, ids, texts, ref_flags: np.ndarray | None) -> MetricResult:  # noqa: ANN001
    n = len(flags)
    k = int(flags.sum())
    res = MetricResult.of(info, k / n if n else float("nan"), n=n, ci=wilson_ci(k, n), details={"count": k},
                          offenders=offenders(ids, flags.astype(float), texts) if k else [])
    res.offenders = [o for o in res.offenders if o["score"] > 0]
    if ref_flags is not None and len(ref_flags):
        rr = float(ref_flags.mean())
        res.details["reference"] = rr
        res.warn_if(res.value > rr + 0.02 and k >= 3, f"more than 2 points above the reference ({rr:.3f})")
    return res


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
        res.warn_if(rl.std() > 0 and lens.std() < 0.5 * rl.std(), "length spread is under half the reference's")
    out.append(res)

    resp = syn.responses()
    ref_resp = ref.responses() if ref is not None else None
    finish = [r.get("finish_reason") for r in syn.records]
    out.append(_rate(EMPTY, np.array([not t.strip() for t in resp]), syn.ids, syn.texts,
                     None if ref_resp is None else np.array([not t.strip() for t in ref_resp])))
    ref_trunc = None if ref_resp is None else np.array(
        [is_truncated(t, r.get("finish_reason")) for t, r in zip(ref_resp, ref.records, strict=True)])  # type: ignore[union-attr]
    trunc = _rate(TRUNC, np.array([is_truncated(t, f) for t, f in zip(resp, finish, strict=True)]), syn.ids,
                  syn.texts, ref_trunc)
    if ref_trunc is None:
        trunc.warn_if(trunc.value > 0.05, "over 5% of responses look cut off")
    out.append(trunc)
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


__all__ = ["is_boilerplate", "is_refusal", "is_truncated", "run", "score_columns"]
