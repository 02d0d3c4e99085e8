"""Helpers shared by trace, query, card, diff and rerun: reading a run directory's parts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tether.core.rundir import KEPT, QUARANTINE, REJECTED, RunDir, StepStore
from tether.errors import InputError
from tether.records import LINEAGE, concat_tables

#: status names as they appear in trace and query output, by store kind.
STATUS = {KEPT: "kept", REJECTED: "rejected", QUARANTINE: "quarantined"}


def open_run(run_dir: str | Path) -> RunDir:
    """A :class:`RunDir` that exists and has a manifest, else a one-line :class:`InputError`."""
    run = RunDir(run_dir)
    if not run.root.is_dir():
        raise InputError(f"{run.root}: no such run directory", hint="give the folder a `tether run` wrote")
    run.read_manifest()  # raises a clear InputError when absent
    return run


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or ``None`` when the file is absent or unreadable."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_config(run: RunDir) -> dict[str, Any]:
    """The run's resolved ``config.yaml`` as a dict (empty when absent)."""
    if not run.config.exists():
        return {}
    data = yaml.safe_load(run.config.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def step_entries(config: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(instance name, step type, params) of each step, named as the pipeline names them."""
    out = []
    seen: dict[str, int] = {}
    for entry in config.get("steps") or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        ((tname, params),) = entry.items()
        params = dict(params or {})
        name = params.get("name") or tname
        if name in seen and not params.get("name"):
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen.setdefault(name, 1)
        out.append((name, tname, params))
    return out


@dataclass(frozen=True)
class Part:
    """One committed Parquet part of a step."""

    path: Path
    step_index: int
    step: str
    status: str  # kept | rejected | quarantined


def committed_parts(run: RunDir) -> list[Part]:
    """Every committed part file of every step (a part without its batch marker is ignored)."""
    out = []
    for name, store in run.step_stores():
        index = int(store.path.name.split("-", 1)[0]) if store.path.name[:2].isdigit() else -1
        for kind in (KEPT, REJECTED, QUARANTINE):
            for i in store.committed():
                f = store._file(kind, i)
                if f.exists():
                    out.append(Part(f, index, name, STATUS[kind]))
    return out


def union_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables whose schemas differ; columns of clashing types become text."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return pa.table({})
    try:
        return concat_tables(tables)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    types: dict[str, set[str]] = {}
    for t in tables:
        for f in t.schema:
            if not pa.types.is_null(f.type):
                types.setdefault(f.name, set()).add(str(f.type))
    clash = {n for n, ts in types.items() if len(ts) > 1 and n != LINEAGE}
    fixed = []
    for t in tables:
        for name in clash & set(t.column_names):
            col = t.column(name)
            as_text = pa.array(
                [None if v is None else (v if isinstance(v, str) else json.dumps(v, default=str)) for v in col.to_pylist()],
                pa.string(),
            )
            t = t.set_column(t.column_names.index(name), name, as_text)
        fixed.append(t)
    return concat_tables(fixed)


def load_parts(run: RunDir, status: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """All committed rows (of one status, or all) with ``step``, ``step_index`` and ``status``
    columns added. ``columns`` limits what is read (missing ones are skipped)."""
    tables = []
    for part in committed_parts(run):
        if status is not None and part.status != status:
            continue
        if columns is not None:
            have = set(pq.read_schema(part.path).names)
            t = pq.read_table(part.path, columns=[c for c in columns if c in have])
        else:
            t = pq.read_table(part.path)
        n = t.num_rows
        t = t.append_column("step", pa.array([part.step] * n, pa.string()))
        t = t.append_column("step_index", pa.array([part.step_index] * n, pa.int32()))
        t = t.append_column("status", pa.array([part.status] * n, pa.string()))
        tables.append(t)
    return union_tables(tables)


def last_store(run: RunDir) -> StepStore | None:
    stores = run.step_stores()
    return stores[-1][1] if stores else None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict/list as ``{dotted.path: leaf}``."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def audit_metrics(run: RunDir) -> dict[str, dict[str, Any]]:
    """``family/name -> metric entry`` from ``audit/report.json``, read defensively: any
    list of dicts with a ``name`` and a numeric ``value`` anywhere in the report counts."""
    report = read_json(run.audit / "report.json")
    if report is None:
        return {}
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any, family: str | None) -> None:
        if isinstance(node, dict):
            name, value = node.get("name"), node.get("value")
            if isinstance(name, str) and (isinstance(value, int | float) or value is None) and not isinstance(value, bool):
                fam = node.get("family") or family or "audit"
                found.setdefault(f"{fam}/{name}", {**node, "family": fam})
                return
            for k, v in node.items():
                walk(v, k if isinstance(v, dict | list) and k not in ("metrics", "results") else family)
        elif isinstance(node, list):
            for v in node:
                walk(v, family)

    walk(report, None)
    return found


def audit_gates(run: RunDir) -> list[dict[str, Any]]:
    """Gate results from ``audit/report.json`` (entries of a ``gates`` list), if any."""
    report = read_json(run.audit / "report.json") or {}
    gates = report.get("gates")
    if isinstance(gates, dict):
        gates = [{"name": k, **(v if isinstance(v, dict) else {"passed": v})} for k, v in gates.items()]
    return [g for g in gates or [] if isinstance(g, dict)]
