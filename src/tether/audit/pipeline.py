"""The audit as the last stage of a pipeline run: ``audit_run`` is called by the runner after
export when the config has an ``audit:`` section."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.audit.config import load_audit_config
from tether.audit.runner import audit

if TYPE_CHECKING:
    from tether.core.rundir import RunDir
    from tether.pipeline.config import PipelineConfig
    from tether.pipeline.manifest import Manifest

log = logging.getLogger(__name__)


def audit_run(config: PipelineConfig, run: RunDir, manifest: Manifest, base_dir: Path) -> dict[str, Any]:
    """Audit the run's exported dataset; write ``audit/report.{json,html}``; record the
    scorecard in the manifest; raise AuditGateError when a gate failed."""
    from tether.embed import Embedder

    cfg = load_audit_config(config.audit)
    records = _dataset_records(run)
    embedder = Embedder(cfg.embedder or config.embedder, cache_path=run.cache)
    try:
        report = audit(records, config=cfg, embedder=embedder, base_dir=base_dir)
    finally:
        embedder.close()
    json_path, html_path = report.write(run.audit)
    summary: dict[str, Any] = {"scorecard": report.scorecard(), "gates": [g.to_dict() for g in report.gates],
               "report": str(json_path.relative_to(run.root)), "html": str(html_path.relative_to(run.root))}
    manifest.data["audit"] = summary
    manifest.save()
    log.info("audit: %s", ", ".join(f"{k} {v}" for k, v in summary["scorecard"].items()))
    report.raise_for_gates()
    return summary


def _dataset_records(run: RunDir) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    from tether.io import read_records

    pq_file = run.dataset / "data.parquet"
    if pq_file.exists():
        return pq.read_table(pq_file).to_pylist()
    return read_records(run.dataset / "data.jsonl")


__all__ = ["audit_run"]
