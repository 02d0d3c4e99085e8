"""SQL over a run's Parquet with DuckDB.

Tables (views) of a run:

- ``dataset``: the final dataset (the last step's kept records);
- ``records``: every step's kept records, with ``step``, ``step_index``, ``status``;
- ``rejected``: every rejected record with ``reject_step``, ``reject_reason``, ``reject_score``,
  ``reject_detail`` (and ``step``, ``step_index``);
- ``quarantine``: every quarantined record with ``error_step``, ``error_type``, ``error_message``, ``error_raw``;
- ``lineage``: one row per record per step it reached: ``id``, ``step``, ``step_index``,
  ``status`` (kept/rejected/quarantined), ``reason``, the lineage fields flattened
  (``origin``, ``recipe``, ``parents``, ``source``, ``model``, ``template_hash``,
  ``prompt_hash``, ``params_hash``, ``run_id``, ``created_at``), and ``seed_ids`` /
  ``seed_sources`` (the real records it grew from) and ``seed_source`` (the first of them);
- ``scores``: numeric ``STEP__KEY`` columns in long form: ``id``, ``step``, ``status``,
  ``column``, ``scorer``, ``key``, ``value``;
- ``steps``: the manifest's per-step counts.

Example:
    >>> sql = '''select seed_source, reason, count(*) n from lineage
    ...          where status = 'rejected' group by all order by n desc'''
    >>> query("runs/quickstart", sql).to_pylist()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa

from tether.core.rundir import RunDir
from tether.errors import ConfigError
from tether.lineage._private import last_store, load_parts, open_run
from tether.records import ID, LINEAGE, LINEAGE_FIELDS, LINEAGE_TYPE, ORIGIN_REAL

log = logging.getLogger(__name__)

TABLES = ("dataset", "records", "rejected", "quarantine", "lineage", "scores", "steps")


def _empty(extra: dict[str, pa.DataType]) -> pa.Table:
    cols: dict[str, pa.Array] = {ID: pa.array([], pa.string()), LINEAGE: pa.array([], LINEAGE_TYPE)}
    cols |= {k: pa.array([], t) for k, t in extra.items()}
    return pa.table(cols)


def _seed_map(parents: dict[str, list[str]], real: dict[str, str | None]) -> dict[str, list[str]]:
    """Each id's seed ids: real records reached through ``parents`` (memoised, cycle-safe)."""
    memo: dict[str, list[str]] = {}

    def seeds(rid: str, stack: frozenset[str]) -> list[str]:
        if rid in memo:
            return memo[rid]
        if rid in real:
            memo[rid] = [rid]
            return memo[rid]
        ps = parents.get(rid) or []
        out: list[str] = []
        for p in ps:
            if p in stack:
                continue
            for s in seeds(p, stack | {rid}):
                if s not in out:
                    out.append(s)
        if not ps:
            out = [rid]  # a root that is not real (e.g. a seed task made in the run)
        memo[rid] = out
        return out

    return {rid: seeds(rid, frozenset()) for rid in parents}


def lineage_table(everything: pa.Table) -> pa.Table:
    """The ``lineage`` view: one row per record per step, lineage flattened, seeds resolved."""
    if everything.num_rows == 0 or ID not in everything.column_names:
        names = ["id", "step", "step_index", "status", "reason", *LINEAGE_FIELDS, "seed_ids", "seed_sources", "seed_source"]
        types = {"step_index": pa.int32(), "created_at": pa.float64(), "parents": pa.list_(pa.string()),
                 "seed_ids": pa.list_(pa.string()), "seed_sources": pa.list_(pa.string())}
        return pa.table({n: pa.array([], types.get(n, pa.string())) for n in names})
    cols = everything.column_names
    ids = everything.column(ID).to_pylist()
    lins = everything.column(LINEAGE).to_pylist() if LINEAGE in cols else [None] * len(ids)
    status = everything.column("status").to_pylist()
    rreason = everything.column("reject_reason").to_pylist() if "reject_reason" in cols else [None] * len(ids)
    ereason = everything.column("error_type").to_pylist() if "error_type" in cols else [None] * len(ids)
    parents: dict[str, list[str]] = {}
    real: dict[str, str | None] = {}
    for rid, lin in zip(ids, lins, strict=True):
        lin = lin or {}
        parents.setdefault(rid, list(lin.get("parents") or []))
        if lin.get("origin") == ORIGIN_REAL:
            real[rid] = lin.get("source")
    seeds = _seed_map(parents, real)
    data: dict[str, list[Any]] = {
        "id": ids,
        "step": everything.column("step").to_pylist(),
        "step_index": everything.column("step_index").to_pylist(),
        "status": status,
        "reason": [r if s == "rejected" else (e if s == "quarantined" else None)
                   for s, r, e in zip(status, rreason, ereason, strict=True)],
    }
    for f in LINEAGE_FIELDS:
        data[f] = [(lin or {}).get(f) for lin in lins]
    data["seed_ids"] = [seeds.get(r, [r]) for r in ids]
    data["seed_sources"] = [[real.get(s) or s for s in seeds.get(r, [r])] for r in ids]
    data["seed_source"] = [(ss[0] if ss else None) for ss in data["seed_sources"]]
    types = {f.name: f.type for f in LINEAGE_TYPE}
    arrays = {}
    for k, v in data.items():
        if k in types:
            arrays[k] = pa.array(v, types[k])
        elif k == "step_index":
            arrays[k] = pa.array(v, pa.int32())
        elif k in ("seed_ids", "seed_sources"):
            arrays[k] = pa.array(v, pa.list_(pa.string()))
        else:
            arrays[k] = pa.array(v, pa.string())
    return pa.table(arrays)


def scores_table(everything: pa.Table) -> pa.Table:
    """The ``scores`` view: numeric ``STEP__KEY`` columns in long form."""
    out: dict[str, list[Any]] = {k: [] for k in ("id", "step", "step_index", "status", "column", "scorer", "key", "value")}
    if everything.num_rows:
        ids = everything.column(ID).to_pylist()
        step = everything.column("step").to_pylist()
        idx = everything.column("step_index").to_pylist()
        status = everything.column("status").to_pylist()
        for name in everything.column_names:
            if "__" not in name:
                continue
            t = everything.schema.field(name).type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
                continue
            scorer, key = name.split("__", 1)
            for i, v in enumerate(everything.column(name).to_pylist()):
                if v is None:
                    continue
                out["id"].append(ids[i])
                out["step"].append(step[i])
                out["step_index"].append(idx[i])
                out["status"].append(status[i])
                out["column"].append(name)
                out["scorer"].append(scorer)
                out["key"].append(key)
                out["value"].append(float(v))
    types = {"step_index": pa.int32(), "value": pa.float64()}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in out.items()})


def steps_table(run: RunDir) -> pa.Table:
    manifest = run.read_manifest()
    rows = []
    for s in manifest.get("steps", []):
        c = s.get("counts", {})
        rows.append({"index": s.get("index"), "name": s.get("name"), "type": s.get("type"), "kind": s.get("kind"),
                     "status": s.get("status"), "in": c.get("in"), "out": c.get("out"),
                     "rejected": c.get("rejected"), "quarantined": c.get("quarantined"),
                     "seconds": float(s.get("seconds") or 0.0)})
    schema = pa.schema([("index", pa.int64()), ("name", pa.string()), ("type", pa.string()), ("kind", pa.string()),
                        ("status", pa.string()), ("in", pa.int64()), ("out", pa.int64()),
                        ("rejected", pa.int64()), ("quarantined", pa.int64()), ("seconds", pa.float64())])
    return pa.Table.from_pylist(rows, schema=schema)


def _tidy(t: pa.Table, keep: set[str], types: dict[str, pa.DataType]) -> pa.Table:
    """Drop columns that are empty in this subset (they belong to other statuses); give
    all-null bookkeeping columns their proper type."""
    for name in list(t.column_names):
        col = t.column(name)
        if col.null_count == len(col) and name not in keep:
            t = t.drop_columns([name])
        elif pa.types.is_null(col.type):
            t = t.set_column(t.column_names.index(name), name, pa.nulls(len(col), types.get(name, pa.string())))
    return t


class LineageDB:
    """A DuckDB connection with a run's tables registered. Use as a context manager.

    Example:
        >>> with LineageDB("runs/quickstart") as db:  # doctest: +SKIP
        ...     db.sql("select status, count(*) from lineage group by 1")
    """

    def __init__(self, run_dir: str | Path) -> None:
        import duckdb

        self.run = open_run(run_dir)
        everything = load_parts(self.run)
        self._tables = self._build(everything)
        self.con = duckdb.connect(":memory:")
        for name, table in self._tables.items():
            self.con.register(name, table)

    def _build(self, everything: pa.Table) -> dict[str, pa.Table]:
        def part(status: str, extra: dict[str, pa.DataType]) -> pa.Table:
            if everything.num_rows == 0:
                return _empty({"step": pa.string(), "step_index": pa.int32(), "status": pa.string(), **extra})
            import pyarrow.compute as pc

            t = everything.filter(pc.equal(everything.column("status"), status))
            if not t.num_rows:
                return _empty({"step": pa.string(), "step_index": pa.int32(), "status": pa.string(), **extra})
            return _tidy(t, keep={ID, LINEAGE, "step", "step_index", "status", *extra}, types=extra)

        records = part("kept", {})
        rejected = part("rejected", {"reject_step": pa.string(), "reject_reason": pa.string(),
                                     "reject_score": pa.float64(), "reject_detail": pa.string()})
        quarantine = part("quarantined", {"error_step": pa.string(), "error_type": pa.string(),
                                          "error_message": pa.string(), "error_raw": pa.string()})
        store = last_store(self.run)
        dataset = store.table() if store is not None else _empty({})
        if dataset.num_rows == 0:
            dataset = _empty({})
        return {
            "dataset": dataset,
            "records": records,
            "rejected": rejected,
            "quarantine": quarantine,
            "lineage": lineage_table(everything),
            "scores": scores_table(everything),
            "steps": steps_table(self.run),
        }

    def sql(self, query: str) -> pa.Table:
        """Run ``query``; a SQL error becomes a one-line :class:`ConfigError`."""
        import duckdb

        try:
            rel = self.con.sql(query)
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(f"SQL error: {first}",
                              hint=f"tables: {', '.join(TABLES)}; `tether lineage RUN --schema` lists their columns") from None
        if rel is None:
            return pa.table({})
        return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()

    def schema(self) -> dict[str, list[tuple[str, str]]]:
        """Each table's columns and their DuckDB types."""
        out = {}
        for name in TABLES:
            rows = self.con.sql(f"describe {name}").fetchall()
            out[name] = [(r[0], r[1]) for r in rows]
        return out

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LineageDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def query(run_dir: str | Path, sql: str) -> pa.Table:
    """Run one SQL query over a run's tables (see the module docstring) and return the result."""
    with LineageDB(run_dir) as db:
        return db.sql(sql)


__all__ = ["TABLES", "LineageDB", "lineage_table", "query", "scores_table"]
