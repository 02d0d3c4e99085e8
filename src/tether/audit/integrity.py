"""Integrity: a model-free trigger scan. A token that appears in many records and is almost
always tied to one label (or one fixed response) is a poisoning suspect; its z-score is taken
against the label's prior. Tokens tied just as strongly in the reference are natural, not
triggers, and are left out when a reference is given.

Example:
    >>> round(binomial_z(k=50, n=50, p=0.5), 2)
    7.07
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tether.audit.base import MetricResult, metric
from tether.audit.dataset import AuditData

log = logging.getLogger(__name__)

F = "integrity"
TRIGGER = metric(F, "trigger_tokens", higher_is_better=False, bounds=(0.0, math.inf),
                 description="Tokens abnormally tied to one label or fixed response (z-score against the "
                             "label prior above the threshold, purity >= 0.95).", warn="> 0")


def binomial_z(k: float, n: float, p: float) -> float:
    """z-score of ``k`` successes in ``n`` trials against success probability ``p``."""
    if n <= 0 or p <= 0 or p >= 1:
        return float("nan")
    return (k - n * p) / math.sqrt(n * p * (1 - p))


def trigger_scan(texts: Sequence[str], labels: Sequence[Any], *, min_count: int = 10,
                 z_threshold: float = 5.0, purity: float = 0.95) -> list[dict[str, Any]]:
    """Tokens whose records carry one label far more than its prior predicts, worst first."""
    from sklearn.feature_extraction.text import CountVectorizer

    keep = [i for i, y in enumerate(labels) if y is not None]
    if len(keep) < 2 * min_count:
        return []
    texts = [texts[i] for i in keep]
    y = np.array([str(labels[i]) for i in keep])
    try:
        vec = CountVectorizer(binary=True, min_df=min_count, lowercase=True, token_pattern=r"(?u)\b\w+\b")
        x = vec.fit_transform(texts).tocsc()
    except ValueError:  # no token reaches min_count
        return []
    vocab = vec.get_feature_names_out()
    df = np.asarray(x.sum(0)).ravel()
    out = []
    for lab, cnt in Counter(y).items():
        p = cnt / len(y)
        if p >= 1.0:
            continue
        k = np.asarray(x[y == lab].sum(0)).ravel()
        z = (k - df * p) / np.sqrt(df * p * (1 - p))
        for j in np.where((z >= z_threshold) & (k >= purity * df))[0]:
            out.append({"token": str(vocab[j]), "label": str(lab), "count": int(df[j]), "with_label": int(k[j]),
                        "purity": float(k[j] / df[j]), "prior": p, "z": float(z[j])})
    return sorted(out, key=lambda d: -d["z"])


def token_purities(texts: Sequence[str], labels: Sequence[Any],
                   pairs: Sequence[tuple[str, str]]) -> list[tuple[int, float]]:
    """For each ``(token, label)``: how many records hold the token and the share of them with
    the label. Each text is split into words once, whatever the number of pairs."""
    from tether.text import words

    held: dict[str, list[str]] = {tok: [] for tok, _ in pairs}
    for t, y in zip(texts, labels, strict=True):
        if y is None:
            continue
        for w in set(words(t)) & held.keys():
            held[w].append(str(y))
    out = []
    for tok, label in pairs:
        hold = held[tok]
        out.append((len(hold), sum(1 for y in hold if y == label) / len(hold)) if hold else (0, float("nan")))
    return out


def token_purity(texts: Sequence[str], labels: Sequence[Any], token: str, label: str) -> tuple[int, float]:
    """How many records hold ``token`` and the share of them with ``label``."""
    return token_purities(texts, labels, [(token, label)])[0]


def _fixed_responses(data: AuditData) -> list[Any] | None:
    resp = data.synthetic.responses()
    counts = Counter(r.strip() for r in resp if r.strip())
    common = {r for r, c in counts.items() if c >= data.config.trigger_min_count}
    if not common:
        return None
    return [r.strip() if r.strip() in common else "(other)" for r in resp]


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn, ref = data.synthetic, data.reference
    labels = syn.labels(cfg.label_field)
    target = "label"
    prompts = syn.texts
    if labels is None:
        labels = _fixed_responses(data)
        target = "fixed_response"
        prompts = [t[: max(0, len(t) - len(r))] if r and t.endswith(r) else t
                   for t, r in zip(syn.texts, syn.responses(), strict=True)]
    if labels is None:
        return [MetricResult.of(TRIGGER, 0, n=len(syn), details={"target": None,
                                "note": "no label field and no repeated response to scan"})]
    found = trigger_scan(prompts, labels, min_count=cfg.trigger_min_count, z_threshold=cfg.trigger_z)
    ref_labels = ref.labels(cfg.label_field) if (ref is not None and target == "label") else None
    natural: list[dict[str, Any]] = []
    if ref_labels is not None:
        kept: list[dict[str, Any]] = []
        purities = token_purities(ref.texts, ref_labels, [(f["token"], f["label"]) for f in found])  # type: ignore[union-attr]
        for f, (cnt, pur) in zip(found, purities, strict=True):
            f["reference_count"], f["reference_purity"] = cnt, pur
            (natural if cnt >= 5 and pur >= 0.8 else kept).append(f)
        found = kept
    offs: list[dict[str, Any]] = []
    if found:
        from tether.text import words

        tok = found[0]["token"]
        offs = [{"id": syn.ids[i], "score": found[0]["z"], "token": tok, "text": syn.texts[i][:300]}
                for i, t in enumerate(prompts) if tok in set(words(t))][:10]
    return [MetricResult.of(TRIGGER, len(found), n=len(syn),
                            details={"target": target, "z_threshold": cfg.trigger_z, "tokens": found[:50],
                                     "natural_correlations": natural[:20]}, offenders=offs)]


__all__ = ["binomial_z", "run", "token_purities", "token_purity", "trigger_scan"]
