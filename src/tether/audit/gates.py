"""Audit gates: ``family.metric: "OP NUMBER"`` rules that fail an audit.

A gates file is YAML, flat or nested::

    diversity.distinct_2: ">= 0.3"
    privacy:
      exact_replay: "== 0"

Example:
    >>> parse_gates({"privacy": {"exact_replay": "== 0"}})
    {'privacy.exact_replay': '== 0'}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.audit.base import (
    DYNAMIC_PREFIXES,
    FAIL,
    REGISTRY,
    MetricResult,
    compare,
    is_known_metric,
    parse_rule,
)
from tether.errors import ConfigError


@dataclass
class GateResult:
    metric: str
    rule: str
    value: float | None
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "rule": self.rule, "value": self.value, "passed": self.passed,
                "note": self.note}


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(_flatten(v, key))
        else:
            out[key] = str(v)
    return out


def parse_gates(data: Mapping[str, Any] | None, where: str = "gates") -> dict[str, str]:
    """Flatten and check gates; an unknown metric or a bad rule is a ConfigError.

    A metric named after a column (``quality.judge_score_mean.<column>``) is accepted by its
    prefix: it registers only when its family runs."""
    from tether.audit.runner import load_families

    load_families()
    gates = _flatten(data or {})
    for key, rule in gates.items():
        if not is_known_metric(key):
            close = [k for k in REGISTRY if k.endswith("." + key.rsplit(".", 1)[-1])]
            close += [p + "<column>" for p in sorted(DYNAMIC_PREFIXES) if key.startswith(p.rstrip("."))]
            raise ConfigError(f"{where}: unknown metric '{key}'",
                              hint=f"did you mean {close[0]}?" if close else "docs/audit.md lists every metric")
        try:
            parse_rule(rule)
        except ValueError as exc:
            raise ConfigError(f"{where}: {key}: {exc}", hint='write rules like ">= 0.3" or "== 0"') from None
    return gates


def load_gates_file(path: str | Path) -> dict[str, str]:
    import yaml

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"gates file {p}: no such file", hint="give a YAML file of metric: rule lines")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"gates file {p}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"gates file {p}: expected a mapping of metric: rule")
    return parse_gates(data, where=str(p))


def apply_gates(results: list[MetricResult], gates: Mapping[str, str]) -> list[GateResult]:
    """Check every gate; failed ones mark their metric ``fail``. A gate on a metric that was not
    measured (or is undefined) fails."""
    by_name = {r.name: r for r in results}
    out = []
    for key, rule in gates.items():
        res = by_name.get(key)
        if res is None:
            out.append(GateResult(key, rule, None, False, "not measured (missing input for its family?)"))
            continue
        if math.isnan(res.value):
            out.append(GateResult(key, rule, None, False, "undefined on this data"))
            res.status = FAIL
            continue
        ok = compare(res.value, rule)
        out.append(GateResult(key, rule, res.value, ok))
        if not ok:
            res.status = FAIL
            res.notes.append(f"gate failed: {rule}")
    return out


__all__ = ["GateResult", "apply_gates", "load_gates_file", "parse_gates"]
