"""What a run does after its last step, and export formats beyond Parquet and JSONL.

Kept here so the runner stays small: each hook delegates to the package that owns the work.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

    from tether.pipeline.config import PipelineConfig
    from tether.pipeline.manifest import Manifest
    from tether.pipeline.rundir import RunDir

log = logging.getLogger(__name__)


def _optional(module: str, attr: str) -> Any | None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    return getattr(mod, attr, None)


#: Optional config sections, validated when the config is loaded: section -> (module, model).
SECTIONS = {
    "card": ("tether.lineage.card", "CardConfig"),
    "audit": ("tether.audit", "AuditConfig"),
}


def validate_sections(config: PipelineConfig) -> None:
    """Validate optional sections (``card``, ``audit``) against their owners' models, so a bad
    key is reported before anything runs, with its path (``card.licence``)."""
    from pydantic import ValidationError

    from tether.pipeline.config import format_validation_error

    for section, (module, attr) in SECTIONS.items():
        value = getattr(config, section, None)
        if value is None:
            continue
        model = _optional(module, attr)
        if model is None:
            raise ConfigError(f"the config has a '{section}' section, but {module} is not available")
        try:
            model.model_validate(value)
        except ValidationError as exc:
            raise format_validation_error(exc, prefix=section) from None


def export_format(fmt: str, table: pa.Table, out: Path) -> None:
    """Write ``table`` to ``out`` in an export format other than parquet/jsonl."""
    fn = _optional("tether.lineage.export", "export_table")
    if fn is None:
        raise ConfigError(f"unknown export format '{fmt}'", hint="export.formats takes: parquet, jsonl")
    fn(table, out, fmt)


def after_run(config: PipelineConfig, run: RunDir, manifest: Manifest, base_dir: Path) -> None:
    """Audit the final dataset (when the config has an ``audit`` section) and write the card."""
    if config.audit is not None:
        fn = _optional("tether.audit.pipeline", "audit_run")
        if fn is None:
            raise ConfigError("the config has an audit section, but the audit package is not available")
        fn(config, run, manifest, base_dir)
    card = _optional("tether.lineage.card", "write_card")
    if card is not None:
        card(run, manifest)
