"""Compare two runs side by side: config, per-step counts, dataset size, audit metrics.

So a prompt or parameter change can be judged by its effect: the config keys that differ
(flattened paths, steps addressed by name: ``steps.lt_min_len.min_chars``), the steps whose
counts moved, and the audit metrics that moved (from ``audit/report.json`` when present).

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

from tether.lineage._private import audit_metrics, flatten, open_run, read_config, step_entries

_MISSING = "<absent>"


@dataclass
class Change:
    key: str
    a: Any
    b: Any
    delta: float | None = None


@dataclass
class RunDiff:
    a: str
    b: str
    config: list[Change] = field(default_factory=list)
    counts: list[Change] = field(default_factory=list)  # key: STEP.in|out|rejected|quarantined
    dataset: list[Change] = field(default_factory=list)
    metrics: list[Change] = field(default_factory=list)  # key: family/name; all metrics, moved or not
    reasons: list[Change] = field(default_factory=list)  # key: STEP.REASON rejected counts

    @property
    def moved_metrics(self) -> list[Change]:
        return [m for m in self.metrics if not _same(m.a, m.b)]

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
    from tether.lineage.card import _reject_reasons
    from tether.pipeline.rundir import RunDir

    out = {}
    for step, counter in _reject_reasons(RunDir(run_dir)).items():
        for reason, n in counter.items():
            out[f"{step}.{reason}"] = n
    return out


def diff_runs(run_a: str | Path, run_b: str | Path) -> RunDiff:
    """Differences between two run directories (see the module docstring)."""
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
    aa = {k: v.get("value") for k, v in audit_metrics(ra).items()}
    ab = {k: v.get("value") for k, v in audit_metrics(rb).items()}
    d.metrics = _changes(aa, ab, all_keys=True)
    d.reasons = _changes(_reasons(ra.root), _reasons(rb.root))
    return d


def _fmt(v: Any) -> str:
    if v == _MISSING:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_diff(d: RunDiff) -> str:
    """A plain-text side-by-side view of a diff."""
    lines = [f"A: {d.a}", f"B: {d.b}", ""]

    def block(title: str, changes: list[Change], empty: str) -> None:
        lines.append(title)
        if not changes:
            lines.append(f"  {empty}")
        w = max((len(c.key) for c in changes), default=0)
        for c in changes:
            delta = f"  ({c.delta:+.4g})" if c.delta is not None and c.delta != 0 else ""
            mark = "" if _same(c.a, c.b) else "  *"
            lines.append(f"  {c.key.ljust(w)}  {_fmt(c.a)} -> {_fmt(c.b)}{delta}{mark}")
        lines.append("")

    block("config", d.config, "identical")
    block("step counts", d.counts, "identical")
    block("rejection reasons", d.reasons, "identical")
    block("dataset", d.dataset, "")
    block("audit metrics (* moved)", d.metrics, "no audit/report.json in either run")
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["Change", "RunDiff", "config_view", "diff_runs", "format_diff"]
