"""Compare two runs side by side: config, per-step counts, dataset size, audit metrics.

So a prompt or parameter change can be judged by its effect: the config keys that differ
(flattened paths, steps addressed by name: ``steps.lt_min_len.min_chars``), the steps whose
counts moved, and the audit metrics that moved (from ``audit/report.json`` when present).

A metric *moved* when its confidence intervals in the two runs do not overlap (when only
one run has an interval: when the other value lies outside it); a metric without intervals
moved when its change exceeds ``rel_tol`` (default 1%) of the larger magnitude. So
resampling noise is not reported as movement.

Example:
    >>> d = diff_runs("runs/a", "runs/b")  # doctest: +SKIP
    >>> [c.key for c in d.config]  # doctest: +SKIP
    ['steps.judge.threshold']
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.lineage._private import audit_metrics, flatten, open_run, read_config, step_entries

_MISSING = "<absent>"


@dataclass
class Change:
    key: str
    a: Any
    b: Any
    delta: float | None = None


@dataclass
class MetricChange(Change):
    """A metric side by side: values, confidence intervals (``[low, high]`` or ``None``) and
    whether it moved beyond noise (see the module docstring)."""

    ci_a: list[float] | None = None
    ci_b: list[float] | None = None
    moved: bool = False


@dataclass
class RunDiff:
    a: str
    b: str
    config: list[Change] = field(default_factory=list)
    counts: list[Change] = field(default_factory=list)  # key: STEP.in|out|rejected|quarantined
    dataset: list[Change] = field(default_factory=list)
    metrics: list[MetricChange] = field(default_factory=list)  # key: family/name; all metrics, moved or not
    reasons: list[Change] = field(default_factory=list)  # key: STEP.REASON rejected counts

    @property
    def moved_metrics(self) -> list[MetricChange]:
        return [m for m in self.metrics if m.moved]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["moved_metrics"] = [asdict(m) for m in self.moved_metrics]
        return d


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _num_delta(a: Any, b: Any) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(b) - float(a)
    return None


def _ci(entry: dict[str, Any] | None) -> list[float] | None:
    ci = (entry or {}).get("ci")
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    lo, hi = ci
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lo, hi)):
        return None
    return [float(min(lo, hi)), float(max(lo, hi))]


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def metric_moved(a: Any, b: Any, ci_a: list[float] | None = None, ci_b: list[float] | None = None,
                 *, rel_tol: float = 0.01) -> bool:
    """Whether a metric moved from ``a`` to ``b`` beyond noise.

    With both intervals: they do not overlap. With one: the other value lies outside it.
    With none: ``|b - a| > rel_tol * max(|a|, |b|)``. A value that appears, disappears or
    turns ``nan`` moved; two ``nan`` did not.

    Example:
        >>> metric_moved(0.50, 0.52, [0.45, 0.55], [0.47, 0.57])
        False
        >>> metric_moved(10.0, 10.05)
        False
        >>> metric_moved(10.0, 12.0)
        True
    """
    if not (_is_num(a) and _is_num(b)):
        return not _same(a, b)
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return not (math.isnan(fa) and math.isnan(fb))
    if ci_a is not None and ci_b is not None:
        return ci_a[1] < ci_b[0] or ci_b[1] < ci_a[0]
    if ci_a is not None:
        return not ci_a[0] <= fb <= ci_a[1]
    if ci_b is not None:
        return not ci_b[0] <= fa <= ci_b[1]
    return abs(fb - fa) > rel_tol * max(abs(fa), abs(fb))


def config_view(raw: dict[str, Any]) -> dict[str, Any]:
    """The config flattened, steps keyed by instance name (so inserting a step does not
    make every later step look changed); ``name`` is left out of step params."""
    view = {k: v for k, v in raw.items() if k != "steps"}
    flat = flatten(view)
    for i, (name, tname, params) in enumerate(step_entries(raw)):
        flat[f"steps.{name}.type"] = tname
        flat[f"steps.{name}.position"] = i
        for k, v in flatten({k: v for k, v in params.items() if k != "name"}).items():
            flat[f"steps.{name}.{k}"] = v
    return flat


def _changes(a: dict[str, Any], b: dict[str, Any], *, all_keys: bool = False) -> list[Change]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, _MISSING), b.get(k, _MISSING)
        if all_keys or not _same(va, vb):
            out.append(Change(k, va, vb, _num_delta(va, vb)))
    return out


def _reasons(run_dir: Path) -> dict[str, int]:
    from tether.core.rundir import RunDir
    from tether.lineage.card import _reject_reasons

    out = {}
    for step, counter in _reject_reasons(RunDir(run_dir)).items():
        for reason, n in counter.items():
            out[f"{step}.{reason}"] = n
    return out


def _metric_changes(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], rel_tol: float) -> list[MetricChange]:
    out = []
    for k in sorted(set(a) | set(b)):
        ea, eb = a.get(k), b.get(k)
        va = ea.get("value") if ea is not None else _MISSING
        vb = eb.get("value") if eb is not None else _MISSING
        ca, cb = _ci(ea), _ci(eb)
        out.append(MetricChange(k, va, vb, _num_delta(va, vb), ci_a=ca, ci_b=cb,
                                moved=metric_moved(va, vb, ca, cb, rel_tol=rel_tol)))
    return out


def diff_runs(run_a: str | Path, run_b: str | Path, *, rel_tol: float = 0.01) -> RunDiff:
    """Differences between two run directories (see the module docstring).

    Args:
        rel_tol: the relative change beyond which a metric without confidence intervals
            counts as moved.
    """
    if not rel_tol >= 0:
        raise ConfigError(f"rel_tol must be a number >= 0, got {rel_tol!r}")
    ra, rb = open_run(run_a), open_run(run_b)
    ma, mb = ra.read_manifest(), rb.read_manifest()
    d = RunDiff(a=str(ra.root), b=str(rb.root))
    d.config = _changes(config_view(read_config(ra)), config_view(read_config(rb)))

    def counts(m: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for s in m.get("steps", []):
            for k, v in (s.get("counts") or {}).items():
                out[f"{s.get('name')}.{k}"] = v
        return out

    d.counts = _changes(counts(ma), counts(mb))
    da, db = ma.get("dataset") or {}, mb.get("dataset") or {}
    d.dataset = _changes({"rows": da.get("rows"), "digest": da.get("digest")},
                         {"rows": db.get("rows"), "digest": db.get("digest")}, all_keys=True)
    d.metrics = _metric_changes(audit_metrics(ra), audit_metrics(rb), rel_tol)
    d.reasons = _changes(_reasons(ra.root), _reasons(rb.root))
    return d


def _fmt(v: Any) -> str:
    if v == _MISSING:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _fmt_ci(ci: list[float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.4g}, {ci[1]:.4g}]"


def format_diff(d: RunDiff) -> str:
    """A plain-text side-by-side view of a diff."""
    lines = [f"A: {d.a}", f"B: {d.b}", ""]

    def block(title: str, changes: list[Change] | list[MetricChange], empty: str) -> None:
        lines.append(title)
        if not changes:
            lines.append(f"  {empty}")
        w = max((len(c.key) for c in changes), default=0)
        for c in changes:
            delta = f"  ({c.delta:+.4g})" if c.delta is not None and c.delta != 0 else ""
            if isinstance(c, MetricChange):
                va, vb = _fmt(c.a) + _fmt_ci(c.ci_a), _fmt(c.b) + _fmt_ci(c.ci_b)
                mark = "  *" if c.moved else ""
            else:
                va, vb = _fmt(c.a), _fmt(c.b)
                mark = "" if _same(c.a, c.b) else "  *"
            lines.append(f"  {c.key.ljust(w)}  {va} -> {vb}{delta}{mark}")
        lines.append("")

    block("config", d.config, "identical")
    block("step counts", d.counts, "identical")
    block("rejection reasons", d.reasons, "identical")
    block("dataset", d.dataset, "")
    block("audit metrics (* moved beyond noise: intervals apart, or the relative tolerance)", d.metrics, "no audit/report.json in either run")
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["Change", "MetricChange", "RunDiff", "config_view", "diff_runs", "format_diff", "metric_moved"]
