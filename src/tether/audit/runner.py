"""The audit runner: load the corpora, run each family, apply gates, build the report.

Example:
    >>> from tether.embed import EmbedderConfig
    >>> cfg = AuditConfig(families=["diversity"], embedder=EmbedderConfig(backend="hashing"))
    >>> report = audit([{"text": f"record number {i} of the example set"} for i in range(30)], config=cfg)
    >>> report.scorecard()["diversity"] in ("ok", "warn", "fail")
    True
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tether.audit.base import FAIL, FAMILIES, OK, SKIP, UNDEFINED, WARN, MetricResult
from tether.audit.config import AuditConfig, load_audit_config
from tether.audit.dataset import AuditData, Corpus, load_corpus
from tether.audit.gates import GateResult, apply_gates, load_gates_file, parse_gates
from tether.audit.parallel import default_workers, run_families
from tether.errors import AuditGateError, InputError

log = logging.getLogger(__name__)

Source = Corpus | Sequence[Mapping[str, Any]] | str | Path | None


def load_families() -> dict[str, Callable[[AuditData], list[MetricResult]]]:
    """Import every family module (this fills the metric registry) and return their runners."""
    return {f: importlib.import_module(f"tether.audit.{f}").run for f in FAMILIES}


def _skip_reason(family: str, data: AuditData) -> str | None:
    cfg = data.config
    if family == "fidelity" and data.reference is None:
        return "no reference data (--reference)"
    if family == "utility":
        if data.reference is None:
            return "no reference data (--reference)"
        if data.synthetic.labels(cfg.label_field) is None or data.reference.labels(cfg.label_field) is None:
            return f"no label field '{cfg.label_field}' in synthetic and reference"
    if family == "contamination" and not data.benchmarks:
        return "no benchmarks (--benchmarks)"
    return None


@dataclass
class AuditReport:
    """The outcome of an audit: metrics, gates, plots and the per-family scorecard."""

    results: list[MetricResult]
    gates: list[GateResult]
    skipped: dict[str, str]
    plots: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def scorecard(self) -> dict[str, str]:
        """Each family's worst status; a family with a failed gate fails, even when the gated
        metric was not measured (the family was skipped, or the metric undefined). A family
        whose metrics are all undefined is ``undefined``: nothing was measured, so it is not
        ``ok``."""
        card = {}
        gated = {g.metric.split(".", 1)[0] for g in self.failed_gates}
        for fam in FAMILIES:
            statuses = [r.status for r in self.results if r.info.family == fam]
            if fam in gated:
                statuses.append(FAIL)
            if not statuses:
                card[fam] = SKIP
            elif FAIL in statuses:
                card[fam] = FAIL
            elif WARN in statuses:
                card[fam] = WARN
            elif OK in statuses:
                card[fam] = OK
            else:
                card[fam] = UNDEFINED
        return card

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def get(self, name: str) -> MetricResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tether_report": 1,
            "scorecard": self.scorecard(),
            "gates": [g.to_dict() for g in self.gates],
            "skipped": dict(self.skipped),
            "metrics": [r.to_dict() for r in self.results],
            "plots": self.plots,
            "meta": self.meta,
        }

    def write(self, out: str | Path) -> tuple[Path, Path]:
        """Write ``report.json`` and ``report.html`` into ``out``."""
        from tether.report import write_html, write_json

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        return write_json(d, out / "report.json"), write_html(d, out / "report.html")

    def raise_for_gates(self) -> None:
        bad = self.failed_gates
        if bad:
            names = ", ".join(f"{g.metric} {g.rule} (got {g.value if g.value is not None else g.note})" for g in bad)
            raise AuditGateError(f"{len(bad)} audit gate(s) failed: {names}",
                                 hint="see the failed metrics in the report's scorecard")


def _as_corpus(src: Source, name: str, cfg: AuditConfig, base: Path | None) -> Corpus | None:
    if src is None:
        return None
    if isinstance(src, Corpus):
        return src
    if isinstance(src, (str, Path)):
        p = Path(src)
        if base is not None and not p.is_absolute():
            p = base / p
        return load_corpus(p, name, cfg.text_fields)
    return Corpus(name, [dict(r) for r in src], cfg.text_fields)


def _cap(c: Corpus | None, cfg: AuditConfig, salt: int) -> Corpus | None:
    if c is None or len(c) <= cfg.max_records:
        return c
    log.info("audit: %s has %d records; measuring a random %d (max_records)", c.name, len(c), cfg.max_records)
    rng = np.random.default_rng(cfg.seed + salt)
    return c.subset(np.sort(rng.choice(len(c), cfg.max_records, replace=False)))


def _benchmarks(src: str | Path | Mapping[str, Source] | None, cfg: AuditConfig,
                base: Path | None) -> dict[str, Corpus]:
    if src is None:
        return {}
    if isinstance(src, Mapping):
        return {k: c for k, v in src.items() if (c := _as_corpus(v, k, cfg, base)) is not None}
    d = Path(src)
    if base is not None and not d.is_absolute():
        d = base / d
    if not d.is_dir():
        raise InputError(f"--benchmarks {d}: not a folder", hint="give a folder with one file per benchmark")
    files = sorted(f for f in d.iterdir() if f.suffix.lower() in (".jsonl", ".json", ".parquet", ".csv"))
    if not files:
        raise InputError(f"--benchmarks {d}: no .jsonl, .json, .parquet or .csv files in it")
    return {f.stem: load_corpus(f, f.stem, cfg.text_fields) for f in files}


def audit(
    synthetic: Source,
    *,
    reference: Source = None,
    private: Source = None,
    holdout: Source = None,
    benchmarks: str | Path | Mapping[str, Source] | None = None,
    config: AuditConfig | Mapping[str, Any] | None = None,
    embedder: Any = None,
    cache_path: str | Path | None = None,
    base_dir: str | Path | None = None,
) -> AuditReport:
    """Audit ``synthetic`` against whatever else is given; paths in ``config`` are used when
    an argument is not given. Returns the report; gates are applied but not raised."""
    t0 = time.time()
    cfg = load_audit_config(dict(config) if isinstance(config, Mapping) else config)
    base = Path(base_dir) if base_dir is not None else None
    families = load_families()
    gates = parse_gates(cfg.gates, where="audit.gates")
    if cfg.gates_file:
        gp = Path(cfg.gates_file)
        gates.update(load_gates_file(base / gp if base is not None and not gp.is_absolute() else gp))

    syn = _as_corpus(synthetic, "synthetic", cfg, base)
    if syn is None or len(syn) == 0:
        raise InputError("the synthetic dataset has no records", hint="audit a dataset with at least one record")
    if embedder is None:
        from tether.embed import Embedder

        embedder = Embedder(cfg.embedder, cache_path=cache_path)
    data = AuditData(
        synthetic=_cap(syn, cfg, 1),  # type: ignore[arg-type]
        config=cfg,
        reference=_cap(_as_corpus(reference if reference is not None else cfg.reference, "reference", cfg, base), cfg, 2),
        private=_cap(_as_corpus(private if private is not None else cfg.private, "private", cfg, base), cfg, 3),
        holdout=_cap(_as_corpus(holdout if holdout is not None else cfg.holdout, "holdout", cfg, base), cfg, 4),
        benchmarks=_benchmarks(benchmarks if benchmarks is not None else cfg.benchmarks, cfg, base),
        embedder=embedder,
    )
    skipped: dict[str, str] = {}
    todo: list[str] = []
    for fam in FAMILIES:
        if fam not in cfg.families:
            skipped[fam] = "not in audit.families"
            continue
        reason = _skip_reason(fam, data)
        if reason:
            skipped[fam] = reason
            log.info("audit: %s skipped: %s", fam, reason)
            continue
        todo.append(fam)
    workers = cfg.workers if cfg.workers is not None else default_workers(data)
    by_family, seconds = run_families(data, todo, families, workers)
    results = [r for fam in todo for r in by_family[fam]]
    timings = {fam: seconds[fam] for fam in todo}
    gate_results = apply_gates(results, gates)
    sizes = {"synthetic": len(data.synthetic)}
    for k in ("reference", "private", "holdout"):
        c = getattr(data, k)
        if c is not None:
            sizes[k] = len(c)
    sizes.update({f"benchmark:{k}": len(v) for k, v in data.benchmarks.items()})
    measured = {"synthetic": data.synthetic.columns}
    for k in ("reference", "private", "holdout"):
        c = getattr(data, k)
        if c is not None:
            measured[k] = c.columns
    measured.update({f"benchmark:{k}": v.columns for k, v in data.benchmarks.items()})
    meta = {
        "sizes": sizes,
        "text_columns": measured,
        "embedder": getattr(embedder, "identity", None),
        "seconds": round(time.time() - t0, 3),
        "family_seconds": timings,
        "workers": workers,
        "config": cfg.model_dump(mode="json", exclude={"gates"}),
    }
    return AuditReport(results, gate_results, skipped, data.plots, meta)


__all__ = ["AuditReport", "audit", "load_families"]
