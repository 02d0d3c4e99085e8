"""What a run does after its last step, and export formats beyond Parquet and JSONL.

Kept here so the runner stays small: each hook delegates to the package that owns the work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from tether.core.rundir import RunDir
    from tether.pipeline.config import PipelineConfig
    from tether.pipeline.manifest import Manifest

log = logging.getLogger(__name__)


def _section_models() -> dict[str, Any]:
    """Optional config sections, validated when the config is loaded: section -> its model."""
    from tether.audit import AuditConfig
    from tether.lineage.card import CardConfig

    return {"card": CardConfig, "audit": AuditConfig}


def validate_sections(config: PipelineConfig) -> None:
    """Validate optional sections (``card``, ``audit``) against their owners' models, so a bad
    key is reported before anything runs, with its path (``card.licence``)."""
    from pydantic import ValidationError

    from tether.core.validation import format_validation_error

    for section, model in _section_models().items():
        value = getattr(config, section, None)
        if value is None:
            continue
        try:
            model.model_validate(value)
        except ValidationError as exc:
            raise format_validation_error(exc, prefix=section) from None


def export_format(fmt: str, table: pa.Table, out: Path) -> None:
    """Write ``table`` to ``out`` in an export format other than parquet/jsonl."""
    from tether.lineage.export import export_table

    export_table(table, out, fmt)


#: audit keys that name files the audit reads; their contents are part of its fingerprint.
AUDIT_INPUTS = ("reference", "private", "holdout", "benchmarks", "gates_file")


def _path_digest(path: Path) -> str | None:
    from tether.io._private import file_sha256
    from tether.records import digest

    if path.is_file():
        return file_sha256(path)
    if path.is_dir():
        return digest({str(p.relative_to(path)): file_sha256(p) for p in sorted(path.rglob("*")) if p.is_file()})
    return None


def audit_fingerprint(config: PipelineConfig, manifest: Manifest, base_dir: Path) -> str:
    """What the audit's result depends on: the dataset, the audit and embedder config, the
    files the audit reads, and the tether version."""
    from tether._version import __version__
    from tether.records import digest

    audit = config.audit or {}
    files = {}
    for key in AUDIT_INPUTS:
        if isinstance(audit.get(key), str):
            p = Path(audit[key]).expanduser()
            files[key] = _path_digest(p if p.is_absolute() else base_dir / p)
    return digest({
        "dataset": (manifest.data.get("dataset") or {}).get("digest"),
        "audit": audit,
        "embedder": config.embedder.model_dump(mode="json"),
        "files": files,
        "version": __version__,
    })


def card_fingerprint(manifest: Manifest, audit: dict[str, Any] | None) -> str:
    """What the card's text depends on: the resolved config (its ``card`` section included),
    per-step counts and LLM usage, inputs, the dataset, the audit's outcome, the versions."""
    from tether.records import digest

    m = manifest.data
    return digest({
        "config": m.get("config_digest"),
        "run_id": m.get("run_id"),
        "versions": [m.get("tether_version"), m.get("python")],
        "steps": [[s.get("name"), s.get("counts"), s.get("llm_usage")] for s in m.get("steps", [])],
        "llm": {k: v.get("total_tokens") for k, v in (m.get("llm") or {}).items() if isinstance(v, dict)},
        "inputs": m.get("inputs"),
        "dataset": m.get("dataset"),
        "audit": audit,
        "audit_error": m.get("audit_error"),
    })


def _raise_for_recorded_gates(summary: dict[str, Any]) -> None:
    """Raise :class:`AuditGateError` again for gates that failed when the audit ran."""
    from tether.errors import AuditGateError

    bad = [g for g in summary.get("gates") or [] if isinstance(g, dict) and g.get("passed") is False]
    if bad:
        names = ", ".join(
            f"{g.get('metric')} {g.get('rule')} (got {g['value'] if g.get('value') is not None else g.get('note')})"
            for g in bad
        )
        raise AuditGateError(f"{len(bad)} audit gate(s) failed: {names}",
                             hint="see the failed metrics in the report's scorecard (the dataset is unchanged "
                             "since that audit)")


def _readable(path: Path) -> bool:
    """Whether ``path`` holds a JSON object (an audit report cut short or garbled is not one)."""
    import json

    try:
        return isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
    except (OSError, ValueError):
        return False


WITHHELD = "dataset.gate-failed"


def withhold_dataset(run: RunDir, manifest: Manifest) -> None:
    """Move ``dataset/`` aside to ``dataset.gate-failed/`` after a failed gate: what sits in
    ``dataset/`` has passed its gates (``tether run && upload dataset/`` cannot ship a failed
    one). The export is marked stale, so a rerun exports, gates and withholds again."""
    import shutil

    target = run.root / WITHHELD
    if target.exists():
        shutil.rmtree(target)
    if run.dataset.exists():
        run.dataset.replace(target)
    run.update_outputs(export=None)
    if isinstance(manifest.data.get("dataset"), dict):
        manifest.data["dataset"]["withheld"] = WITHHELD
    log.warning("a gate failed: the dataset was withheld from dataset/ and is in %s/", WITHHELD)


def after_run(config: PipelineConfig, run: RunDir, manifest: Manifest, base_dir: Path) -> None:
    """Audit the final dataset (when the config has an ``audit`` section) and write the card.

    The card is written whatever the audit's outcome: when a gate fails it says which, and
    the :class:`~tether.errors.AuditGateError` is raised after it. Both are skipped when
    their fingerprints match what is on disk: an unchanged audit is not run again (a gate that
    failed then is reported again), an unchanged card is not rewritten.
    """
    from tether.errors import AuditGateError

    state = run.read_outputs()
    report = run.audit / "report.json"
    audit_state: dict[str, Any] | None = None
    try:
        if config.audit is not None:
            fp = audit_fingerprint(config, manifest, base_dir)
            prior = state.get("audit") or {}
            if prior.get("fingerprint") == fp and isinstance(prior.get("summary"), dict) and _readable(report):
                audit_state = prior
                manifest.data["audit"] = prior["summary"]
                log.info("audit: up to date (dataset and audit config unchanged)")
                _raise_for_recorded_gates(prior["summary"])
            else:
                from tether.audit.pipeline import audit_run as fn

                run.update_outputs(audit=None, card=None)  # a kill mid-audit leaves nothing that looks done
                for stale in ("report.json", "report.html"):
                    (run.audit / stale).unlink(missing_ok=True)
                try:
                    fn(config, run, manifest, base_dir)
                except AuditGateError:
                    audit_state = {"fingerprint": fp, "summary": manifest.data.get("audit")}
                    raise
                audit_state = {"fingerprint": fp, "summary": manifest.data.get("audit")}
        elif state.get("audit"):  # an audit this pipeline no longer asks for: its report is stale
            for stale in ("report.json", "report.html"):
                (run.audit / stale).unlink(missing_ok=True)
    except BaseException as exc:
        if isinstance(exc, AuditGateError):
            withhold_dataset(run, manifest)
        else:
            manifest.data["audit_error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        summary = audit_state.get("summary") if audit_state else None
        card_fp = card_fingerprint(manifest, summary)
        from tether.lineage.card import write_card as card

        wrote = False
        if not (state.get("card") == card_fp and (run.root / "card.md").exists()):
            card(run, manifest)
            wrote = True
        run.update_outputs(audit=audit_state or None, card=card_fp if (wrote or state.get("card") == card_fp) else None)
