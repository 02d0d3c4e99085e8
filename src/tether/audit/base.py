"""Metric metadata, typed results, the per-family registry and the bootstrap helper.

A metric is a pure function (in its family's module) plus a :class:`MetricInfo` the report
reads. A family's ``run(data, config)`` returns :class:`MetricResult` objects.

Example:
    >>> info = MetricInfo("distinct_2", "diversity", True, (0.0, 1.0), "share of distinct bigrams")
    >>> MetricResult.of(info, 0.42, n=100).name
    'diversity.distinct_2'
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

OK, WARN, FAIL, SKIP, UNDEFINED = "ok", "warn", "fail", "skipped", "undefined"
FAMILIES = ("quality", "diversity", "fidelity", "utility", "bias", "privacy", "contamination", "integrity")


@dataclass(frozen=True)
class MetricInfo:
    """What the report needs to know about a metric.

    ``warn`` is an optional rule ``"OP NUMBER"`` (``"> 0.6"``) on the value that marks the
    metric ``warn`` when it holds; families may also set ``warn`` from a comparison with the
    reference (see :meth:`MetricResult.warn_if`).
    """

    name: str
    family: str
    higher_is_better: bool | None
    bounds: tuple[float, float]
    description: str
    warn: str | None = None

    @property
    def key(self) -> str:
        return f"{self.family}.{self.name}"


@dataclass
class MetricResult:
    """One measured metric: value, confidence interval, sample size, details, offenders.

    ``offenders`` are the ids of the records that drive the value, worst first, each a dict
    ``{"id": ..., "score": ..., "text": ...}``.
    """

    info: MetricInfo
    value: float
    n: int
    ci: tuple[float, float] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    offenders: list[dict[str, Any]] = field(default_factory=list)
    status: str = OK
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, info: MetricInfo, value: float, *, n: int, **kw: Any) -> MetricResult:
        """A result; ``undefined`` when the value is nan (the metric could not be computed on
        this input), ``warn`` when the metric's default rule holds."""
        res = cls(info=info, value=float(value), n=int(n), **kw)
        if math.isnan(res.value):
            res.status = UNDEFINED
            res.notes.append("undefined on this input (too few records, or nothing to measure)")
        elif info.warn and compare(res.value, info.warn):
            res.status = WARN
            res.notes.append(f"value {res.value:.4g} {info.warn}")
        return res

    @property
    def name(self) -> str:
        return self.info.key

    def warn_if(self, condition: bool, note: str) -> MetricResult:
        """Mark the metric ``warn`` (unless it already failed or is undefined) when
        ``condition`` holds."""
        if condition and self.status == OK:
            self.status = WARN
        if condition and self.status != UNDEFINED:
            self.notes.append(note)
        return self

    def beyond_null(self, null: float, *, worse: str) -> bool:
        """Whether the confidence interval lies wholly on the bad side of ``null``
        (``worse="above"`` or ``"below"``): the departure from the null is significant at the
        interval's level. False without an interval or with an undefined value."""
        if self.ci is None or math.isnan(self.value):
            return False
        lo, hi = self.ci
        return bool(lo > null) if worse == "above" else bool(hi < null)

    def to_dict(self) -> dict[str, Any]:
        i = self.info
        return {
            "name": self.name,
            "family": i.family,
            "metric": i.name,
            "description": i.description,
            "higher_is_better": i.higher_is_better,
            "bounds": list(i.bounds),
            "value": _num(self.value),
            "ci": None if self.ci is None else [_num(self.ci[0]), _num(self.ci[1])],
            "n": self.n,
            "status": self.status,
            "notes": list(self.notes),
            "details": _jsonable(self.details),
            "offenders": _jsonable(self.offenders),
        }


def _num(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return _num(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    return v


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
    "!=": lambda a, b: not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


def parse_rule(rule: str) -> tuple[str, float]:
    """``">= 0.3"`` -> ``(">=", 0.3)``; raises ``ValueError`` on anything else."""
    text = str(rule).strip()
    for op in (">=", "<=", "==", "!=", ">", "<"):
        if text.startswith(op):
            return op, float(text[len(op) :].strip())
    raise ValueError(f"expected OP NUMBER with OP one of >=, <=, ==, !=, >, <; got '{rule}'")


def compare(value: float, rule: str) -> bool:
    op, target = parse_rule(rule)
    return _OPS[op](float(value), target)


def nan_warn(what: str) -> float:
    """``nan`` with a warning: the metric is undefined on this input."""
    warnings.warn(f"{what}: undefined on this input, returning nan", RuntimeWarning, stacklevel=2)
    return float("nan")


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    stat: Callable[[np.ndarray], float] = np.mean,
    *,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``stat`` over per-record ``values``."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2 or n_boot <= 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    stats = arr[idx].mean(axis=1) if stat is np.mean else np.array([stat(arr[i]) for i in idx])
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def permutation_null(statistic: Callable[[np.ndarray], float], labels: np.ndarray, *, rounds: int = 100,
                     seed: int = 0) -> np.ndarray:
    """``statistic(labels)`` on ``rounds`` random permutations of ``labels`` (a boolean or
    group array over the pooled records of both sides): the statistic's distribution when
    the two sides are exchangeable, i.e. when nothing is wrong."""
    rng = np.random.default_rng(seed)
    lab = np.asarray(labels)
    return np.array([statistic(rng.permutation(lab)) for _ in range(max(0, rounds))], dtype=float)


def permutation_p(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p-value: the share of null statistics at least ``observed``,
    counting the observed one (so never 0: (1 + #{null >= observed}) / (1 + rounds))."""
    null = np.asarray(null, dtype=float)
    null = null[~np.isnan(null)]
    if math.isnan(observed) or null.size == 0:
        return float("nan")
    return float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + null.size))


def wilson_ci(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval of a proportion ``k / n``."""
    if n <= 0:
        return None
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


#: Every metric's metadata, by ``family.name``; filled as family modules are imported.
REGISTRY: dict[str, MetricInfo] = {}


def metric(
    family: str,
    name: str,
    *,
    higher_is_better: bool | None,
    bounds: tuple[float, float],
    description: str,
    warn: str | None = None,
) -> MetricInfo:
    """Declare (and register) a metric's metadata."""
    info = MetricInfo(name, family, higher_is_better, bounds, description, warn)
    REGISTRY[info.key] = info
    return info


#: Prefixes of metrics named at run time, one per column (``quality.judge_score_mean.<column>``):
#: a gate may name such a metric before the family has run.
DYNAMIC_PREFIXES: set[str] = set()


def dynamic_metric_prefix(family: str, name: str) -> str:
    """Declare that metrics ``family.name.<anything>`` are registered when the family runs."""
    prefix = f"{family}.{name}."
    DYNAMIC_PREFIXES.add(prefix)
    return prefix


def is_known_metric(key: str) -> bool:
    """A registered metric, or one a family names at run time after a declared prefix."""
    return key in REGISTRY or any(key.startswith(p) and len(key) > len(p) for p in DYNAMIC_PREFIXES)


def offenders(ids: Sequence[str], scores: Sequence[float] | np.ndarray, texts: Sequence[str], k: int = 10,
              *, largest: bool = True) -> list[dict[str, Any]]:
    """The ``k`` records with the largest (or smallest) scores, worst first."""
    if len(ids) == 0:
        return []
    s = np.asarray(scores, dtype=float)
    order = np.argsort(-s if largest else s, kind="stable")[:k]
    return [{"id": ids[i], "score": float(s[i]), "text": texts[i][:300]} for i in order]


__all__ = [
    "DYNAMIC_PREFIXES",
    "FAIL",
    "FAMILIES",
    "OK",
    "REGISTRY",
    "SKIP",
    "UNDEFINED",
    "WARN",
    "MetricInfo",
    "MetricResult",
    "bootstrap_ci",
    "compare",
    "dynamic_metric_prefix",
    "is_known_metric",
    "metric",
    "nan_warn",
    "offenders",
    "parse_rule",
    "permutation_null",
    "permutation_p",
    "wilson_ci",
]
