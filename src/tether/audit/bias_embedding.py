"""Embedding association test on the records (WEAT, Caliskan et al. 2017; its sentence form
SEAT, May et al. 2019), synthetic beside reference.

The targets are records: those that mention male terms and no female ones (X) and the
reverse (Y). The attributes are short sentences built from the WinoBias male- and
female-stereotyped occupations (A, B), embedded with the audit's embedder. Each record gets
``s(r) = mean cos(r, A) - mean cos(r, B)``; the effect size is Caliskan's
``d = (mean_X s - mean_Y s) / sd_{X u Y} s``. The metric is ``d`` in the synthetic data minus
``d`` in the reference: how much more the synthetic records that speak of men (women) lean
towards male (female) occupations. The embedder's own bias is the same on both sides and
cancels. Its null permutes the synthetic/reference labels of the records.

Example:
    >>> x, y = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    >>> round(weat_effect_size(np.vstack([x, x * 0.9 + y * 0.1]), np.vstack([y, y * 0.9 + x * 0.1]), x, y), 3)
    1.729
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tether.audit.bias_null import max_column_test, side_sums

#: SEAT-style templates the attribute words are embedded in (May et al. 2019 bleach words
#: into semantically empty sentences like these).
TEMPLATES = ("This is the {}.", "That is the {}.", "The {} is here.", "Here is the {}.", "The {} is there.")
#: Records each target set needs on each side.
MIN_RECORDS = 20
#: Smallest effect-size shift (Cohen's d units) that warns.
MIN_EFFECT = 0.2


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, float)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


def association_scores(vectors: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Caliskan et al.'s ``s(w, A, B)``: mean cosine with A minus mean cosine with B, per row."""
    v = _unit(vectors)
    return v @ _unit(a).mean(0) - v @ _unit(b).mean(0)


def weat_effect_size(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """WEAT effect size: ``(mean_x s - mean_y s) / std_{x u y} s`` (sample sd, as Caliskan
    et al.'s code); nan when undefined."""
    sx, sy = association_scores(x, a, b), association_scores(y, a, b)
    both = np.concatenate([sx, sy])
    if len(sx) == 0 or len(sy) == 0 or len(both) < 3:
        return float("nan")
    sd = both.std(ddof=1)
    return float((sx.mean() - sy.mean()) / sd) if sd > 0 else float("nan")


def attribute_sentences(words: Sequence[str]) -> list[str]:
    """Each attribute word in every template."""
    return [t.format(w) for w in words for t in TEMPLATES]


def _effect_rows(masks: np.ndarray, s: np.ndarray, in_x: np.ndarray, in_y: np.ndarray) -> tuple[np.ndarray, ...]:
    """The effect size of each side for every row of ``masks``, and the target sizes."""
    cols = np.column_stack([in_x, s * in_x, in_y, s * in_y, (in_x | in_y), s * (in_x | in_y),
                            s * s * (in_x | in_y)]).astype(float)
    syn, ref = side_sums(masks, cols)

    def d(t: np.ndarray) -> np.ndarray:
        nx, sx, ny, sy, n, sm, ss = t.T
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (ss - sm * sm / n) / (n - 1)
            return (sx / nx - sy / ny) / np.sqrt(var)

    return d(syn), d(ref), syn[:, 0], syn[:, 2], ref[:, 0], ref[:, 2]


def embedding_association(masks: np.ndarray, emb: np.ndarray, in_x: np.ndarray, in_y: np.ndarray,
                          a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    """The WEAT effect size of the pooled records (synthetic first) on each side, their
    difference (row 0 observed) and its permutation test; None without enough targets."""
    s = association_scores(emb, a, b)
    ds, dr, nxs, nys, nxr, nyr = _effect_rows(masks, s, in_x, in_y)
    if min(nxs[0], nys[0], nxr[0], nyr[0]) < MIN_RECORDS:
        return None
    stat = ds - dr
    return {"value": float(stat[0]), "synthetic_effect": float(ds[0]), "reference_effect": float(dr[0]),
            "targets": {"synthetic_x": int(nxs[0]), "synthetic_y": int(nys[0]), "reference_x": int(nxr[0]),
                        "reference_y": int(nyr[0])}, "test": max_column_test(stat[:, None]), "scores": s}


__all__ = ["TEMPLATES", "association_scores", "attribute_sentences", "embedding_association", "weat_effect_size"]
