"""Trace a record back to its seed: every step it passed, every verdict, every parent.

For the step that made a record, the trace names the prompt templates it used: the file as
the config gives it (with the path it resolved to), ``inline`` for a template written in the
config, or the name of the template shipped with tether when the default applied.

Example:
    >>> t = trace("runs/quickstart", "3f2a9c...")  # doctest: +SKIP
    >>> [s.source for s in t.seeds()]  # doctest: +SKIP
    ['docs/01-what-is-composting.md']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tether.core.rundir import RunDir
from tether.errors import InputError, TetherError
from tether.lineage._private import load_parts, open_run, read_config, step_entries
from tether.records import ID, LINEAGE, ORIGIN_REAL, QUARANTINE_COLUMNS, REJECT_COLUMNS

log = logging.getLogger(__name__)

_BOOK = {"step", "step_index", "status", *REJECT_COLUMNS, *QUARANTINE_COLUMNS}


@dataclass
class Appearance:
    """What one step did with the record."""

    step: str
    step_index: int
    status: str  # kept | rejected | quarantined
    reason: str | None = None  # reject reason or error type
    score: float | None = None
    detail: str | None = None  # reject detail or error message
    raw: str | None = None  # the raw text a quarantined record was set aside with


@dataclass
class TraceNode:
    """One record of the chain, with its parents (down to the seeds)."""

    id: str
    found: bool = True
    lineage: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)  # STEP__KEY columns
    appearances: list[Appearance] = field(default_factory=list)
    step_config: dict[str, Any] | None = None  # {type: params} of the step that made it
    llm_config: dict[str, Any] | None = None  # the llm entry that step used
    templates: dict[str, str] | None = None  # template slot -> file, "inline" or "NAME (shipped default)"
    raw_response: str | None = None  # from the LLM cache, by lineage.prompt_hash
    parents: list[TraceNode] = field(default_factory=list)

    @property
    def origin(self) -> str | None:
        return self.lineage.get("origin")

    @property
    def source(self) -> str | None:
        return self.lineage.get("source")

    @property
    def final_status(self) -> str:
        return self.appearances[-1].status if self.appearances else "missing"

    def seeds(self) -> list[TraceNode]:
        """The real records (origin ``real``) this record grew from, or the chain's roots."""
        out: list[TraceNode] = []
        seen: set[str] = set()

        def walk(n: TraceNode) -> None:
            if n.id in seen:
                return
            seen.add(n.id)
            if n.origin == ORIGIN_REAL or not n.parents:
                out.append(n)
            for p in n.parents:
                walk(p)

        walk(self)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "found": self.found,
            "status": self.final_status,
            "lineage": self.lineage,
            "payload": self.payload,
            "scores": self.scores,
            "appearances": [a.__dict__ for a in self.appearances],
            "step_config": self.step_config,
            "llm_config": self.llm_config,
            "templates": self.templates,
            "raw_response": self.raw_response,
            "parents": [p.to_dict() for p in self.parents],
        }


def lookup_raw_response(run: RunDir, prompt_hash: str | None) -> str | None:
    """The cached raw response text for ``prompt_hash`` (the cache key of the call) from the
    run's LLM cache, read-only; ``None`` when there is no cache or no entry."""
    if not prompt_hash or not run.cache.exists():
        return None
    try:
        from tether.llm import cache as llm_cache
        from tether.llm.types import LLMResponse
    except ImportError:
        return None
    fn = getattr(llm_cache, "lookup_response", None)
    if fn is not None:
        resp = fn(run.cache, prompt_hash)
    else:
        table = getattr(llm_cache, "TABLE", None)
        if table is None:
            return None
        import sqlite3

        try:
            con = sqlite3.connect(f"file:{run.cache}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            row = con.execute(f"SELECT response FROM {table} WHERE key = ? OR key LIKE ? LIMIT 1",
                              (prompt_hash, prompt_hash + "%")).fetchone()
        except sqlite3.Error:  # no such table: the cache holds only embeddings
            row = None
        finally:
            con.close()
        resp = None if row is None else LLMResponse.model_validate_json(row[0])
    if resp is None:
        return None
    texts = getattr(resp, "texts", None)
    if texts is not None:
        return texts[0] if len(texts) == 1 else "\n---\n".join(texts)
    return str(resp)


def _slot(attr: str, key: str | None = None) -> str:
    """A template slot's name from the private attribute holding it: ``_tpl`` -> ``template``,
    ``_judge_tpl`` -> ``judge_template``, ``_sys`` -> ``system``, ``_tpls["gen"]`` -> ``gen_template``."""
    if key is not None:
        return f"{key}_template"
    name = attr.lstrip("_")
    if name == "sys":
        return "system"
    for short in ("tpls", "tpl"):
        if name == short or name.endswith("_" + short):
            return name[: -len(short)] + "template"
    return name


def _is_template(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("label", "hash", "render"))


def _describe(label: str, files: dict[str, str], base_dir: Path) -> str:
    if label.endswith(" (default)"):
        return label[: -len(" (default)")] + " (shipped default)"
    if label in files.values():
        p = Path(label).expanduser()
        resolved = p if p.is_absolute() else base_dir / p
        return label if str(resolved) == label else f"{label} ({resolved})"
    return "inline"


def step_templates(type_name: str, params: dict[str, Any], base_dir: Path) -> dict[str, str]:
    """Which template each prompt of a step uses: ``{slot: source}`` where the source is the
    configured file (and the path it resolves to), ``inline``, or ``NAME (shipped default)``.

    The step is built from its config and set up (templates load in ``setup()``), so the answer
    is the one the step itself arrives at. When that fails (a plugin or a file gone since the
    run), the configured ``*template_file`` and inline ``*template`` fields are reported.
    Empty for a step without templates.
    """
    from tether.core.context import StepContext
    from tether.pipeline.registry import get_step_class

    try:
        cls = get_step_class(type_name)
    except TetherError:
        return {}
    fields = [f for f in cls.model_fields if "template" in f or f in ("system", "system_file")]
    if not any("template" in f for f in fields):
        return {}
    files = {f: v for f, v in params.items() if f in fields and f.endswith("_file") and isinstance(v, str)}
    try:
        step = cls.model_validate(params)
        step.setup(StepContext(step_name=step.instance_name, base_dir=base_dir))
    except Exception as exc:  # noqa: BLE001 - the trace still shows what the config says
        log.debug("step %s could not be set up to name its templates: %s", type_name, exc)
        out = {f.removesuffix("_file"): _describe(v, files, base_dir) for f, v in files.items()}
        for f in fields:
            if not f.endswith("_file") and isinstance(params.get(f), str) and f not in out:
                out[f] = "inline"
        return out
    out = {}
    try:
        for attr, value in (step.__pydantic_private__ or {}).items():
            if _is_template(value):
                out[_slot(attr)] = _describe(value.label, files, base_dir)
            elif isinstance(value, dict):
                for key, v in value.items():
                    if _is_template(v):
                        out[_slot(attr, str(key))] = _describe(v.label, files, base_dir)
    finally:
        step.teardown()
    return out


class _Index:
    """Rows of every step, looked up by id."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.table = load_parts(run)
        self.config = read_config(run)
        self.steps = {name: (tname, params) for name, tname, params in step_entries(self.config)}
        self.base_dir = Path(run.read_manifest().get("base_dir") or run.root.parent)
        self._templates: dict[str, dict[str, str]] = {}

    def templates(self, step: str) -> dict[str, str]:
        if step not in self._templates:
            from tether.pipeline.registry import load_plugins

            tname, params = self.steps[step]
            try:
                load_plugins(list(self.config.get("plugins") or []))
            except TetherError as exc:
                log.debug("plugins of %s not importable: %s", self.run.root, exc)
            self._templates[step] = step_templates(tname, params, self.base_dir)
        return self._templates[step]

    def rows(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        if self.table.num_rows == 0 or ID not in self.table.column_names:
            return {}
        mask = pc.is_in(self.table.column(ID), value_set=pa.array(ids, pa.string()))
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self.table.filter(mask).to_pylist():
            out.setdefault(r[ID], []).append(r)
        for v in out.values():
            v.sort(key=lambda r: (r["step_index"], r["status"] != "kept"))
        return out

    def resolve_id(self, prefix: str) -> str:
        if self.table.num_rows == 0 or ID not in self.table.column_names:
            raise InputError(f"{self.run.root}: the run has no records")
        ids = self.table.column(ID)
        if pc.any(pc.equal(ids, prefix)).as_py():
            return prefix
        hits = pc.unique(ids.filter(pc.starts_with(ids, prefix))).to_pylist()
        if len(hits) == 1:
            return str(hits[0])
        if len(hits) > 1:
            raise InputError(
                f"record id prefix '{prefix}' matches {len(hits)} records in {self.run.root}",
                hint="give more characters of the id",
            )
        raise InputError(
            f"record '{prefix}' is not in run {self.run.root} (kept, rejected or quarantined)",
            hint=f"list ids with: tether lineage {self.run.root} --sql \"select id from dataset limit 5\"",
        )

    def node(self, rid: str, rows: list[dict[str, Any]] | None) -> TraceNode:
        if not rows:
            return TraceNode(id=rid, found=False)
        last = rows[-1]
        lin = dict(last.get(LINEAGE) or {})
        payload = {
            k: v for k, v in last.items() if k not in (ID, LINEAGE) and k not in _BOOK and "__" not in k
        }
        scores = {k: v for k, v in last.items() if "__" in k and v is not None}
        apps = []
        for r in rows:
            if r["status"] == "rejected":
                apps.append(Appearance(r["step"], r["step_index"], "rejected", r.get("reject_reason"),
                                       r.get("reject_score"), r.get("reject_detail")))
            elif r["status"] == "quarantined":
                apps.append(Appearance(r["step"], r["step_index"], "quarantined", r.get("error_type"), None,
                                       r.get("error_message"), r.get("error_raw")))
            else:
                score = r.get(f"{r['step']}__score")
                apps.append(Appearance(r["step"], r["step_index"], "kept", None,
                                       score if isinstance(score, int | float) else None))
        node = TraceNode(id=rid, lineage=lin, payload=payload, scores=scores, appearances=apps)
        made_by = lin.get("step")
        if made_by in self.steps:
            tname, params = self.steps[made_by]
            node.step_config = {tname: params}
            node.templates = self.templates(made_by) or None
            llm_name = params.get("llm")
            llms = self.config.get("llm") or {}
            if isinstance(llm_name, str) and llm_name in llms:
                node.llm_config = {llm_name: llms[llm_name]}
            elif lin.get("model") and "default" in llms and llm_name is None:
                node.llm_config = {"default": llms["default"]}
        node.raw_response = lookup_raw_response(self.run, lin.get("prompt_hash"))
        return node


def trace(run_dir: str | Path, record_id: str, *, max_depth: int = 64) -> TraceNode:
    """The chain of ``record_id`` (or a unique prefix of it) back to its seed records.

    Raises:
        InputError: the run directory or the record does not exist.
    """
    run = open_run(run_dir)
    index = _Index(run)
    rid = index.resolve_id(record_id)
    nodes: dict[str, TraceNode] = {}
    frontier = [rid]
    depth = 0
    while frontier and depth <= max_depth:
        found = index.rows(frontier)
        nxt: list[str] = []
        for i in frontier:
            n = index.node(i, found.get(i))
            nodes[i] = n
            for p in n.lineage.get("parents") or []:
                if p not in nodes and p not in nxt:
                    nxt.append(p)
        frontier = [p for p in nxt if p not in nodes]
        depth += 1
    for n in nodes.values():
        n.parents = [nodes[p] for p in n.lineage.get("parents") or [] if p in nodes]
    return nodes[rid]


def _short(value: Any, width: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_trace(node: TraceNode, *, width: int = 160) -> str:
    """A plain-text, indented view of a trace: the record first, then its parents."""
    lines: list[str] = []

    def emit(n: TraceNode, depth: int, seen: set[str]) -> None:
        pad = "  " * depth
        head = "record" if depth == 0 else "parent"
        if not n.found:
            lines.append(f"{pad}{head} {n.id}: not in this run (made elsewhere)")
            return
        lin = n.lineage
        lines.append(f"{pad}{head} {n.id}  [{lin.get('origin')}, {n.final_status}]")
        for key in ("step", "recipe", "source", "model", "template_hash", "prompt_hash", "params_hash"):
            if lin.get(key):
                lines.append(f"{pad}  {key}: {lin[key]}")
        if n.step_config:
            lines.append(f"{pad}  step config: {_short(n.step_config, width)}")
        for slot, source in (n.templates or {}).items():
            lines.append(f"{pad}  {slot}: {source}")
        if n.llm_config:
            lines.append(f"{pad}  model config: {_short(n.llm_config, width)}")
        for k, v in n.payload.items():
            if v is not None:
                lines.append(f"{pad}  {k}: {_short(v, width)}")
        for a in n.appearances:
            verdict = a.status
            if a.reason:
                verdict += f" ({a.reason})"
            extra = f" score={a.score:g}" if isinstance(a.score, int | float) else ""
            extra += f" — {_short(a.detail, width)}" if a.detail else ""
            lines.append(f"{pad}  step {a.step_index:02d} {a.step}: {verdict}{extra}")
        for k, v in n.scores.items():
            lines.append(f"{pad}  {k} = {v}")
        if n.raw_response is not None:
            lines.append(f"{pad}  raw response: {_short(n.raw_response, width)}")
        if n.id in seen:
            return
        seen = seen | {n.id}
        for p in n.parents:
            emit(p, depth + 1, seen)
        missing = [p for p in n.lineage.get("parents") or [] if p not in {q.id for q in n.parents}]
        for p in missing:
            lines.append(f"{pad}  parent {p}: not in this run (made elsewhere)")

    emit(node, 0, set())
    seeds = node.seeds()
    if seeds:
        lines.append("seeds: " + ", ".join(f"{s.id} ({s.source or 'no source'})" for s in seeds))
    return "\n".join(lines)


__all__ = ["Appearance", "TraceNode", "format_trace", "lookup_raw_response", "step_templates", "trace"]
