"""The ``audit:`` section of a pipeline, and the options of ``tether audit``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.audit.base import FAMILIES
from tether.embed.config import EmbedderConfig
from tether.errors import ConfigError


class AuditConfig(BaseModel):
    """Everything an audit run can be told.

    Paths (``reference``, ``private``, ``holdout``, ``benchmarks``, ``gates_file``) are read
    relative to the pipeline file's folder (or the current folder on the command line).
    """

    model_config = ConfigDict(extra="forbid")

    reference: str | None = None
    private: str | None = None
    holdout: str | None = None
    benchmarks: str | None = None
    gates: dict[str, str] = Field(default_factory=dict)
    gates_file: str | None = None
    families: list[str] = Field(default_factory=lambda: list(FAMILIES))
    text_fields: list[str] | None = None
    label_field: str = "label"
    group_field: str | None = None
    score_fields: list[str] | None = None
    canaries: list[str] = Field(default_factory=list)
    embedder: EmbedderConfig | None = None
    max_records: int = Field(10_000, ge=10)
    bootstrap: int = Field(200, ge=0)
    permutations: int = Field(100, ge=0)
    seed: int = 0
    k: int = Field(5, ge=1)
    near_dup_threshold: float = Field(0.8, gt=0, le=1)
    prefix_words: int = Field(3, ge=1)
    prefix_top: int = Field(10, ge=1)
    contamination_ngram: int = Field(13, ge=3)
    contamination_embed_threshold: float = Field(0.8, gt=0, le=1)
    contamination_min_words: int = Field(8, ge=1)
    trigger_z: float = Field(5.0, gt=0)
    trigger_min_count: int = Field(10, ge=2)
    mauve_buckets: int | None = Field(None, ge=2)
    utility_seeds: int = Field(3, ge=1)
    plot_points: int = Field(600, ge=10)
    workers: int | None = Field(None, ge=1)

    def model_post_init(self, __context: Any) -> None:
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            raise ConfigError(
                f"audit.families: unknown family '{bad[0]}'", hint=f"families are: {', '.join(FAMILIES)}"
            )


def load_audit_config(data: dict[str, Any] | AuditConfig | None, prefix: str = "audit") -> AuditConfig:
    """Validate a dict into :class:`AuditConfig`; a bad key is a ConfigError naming ``audit.KEY``."""
    if isinstance(data, AuditConfig):
        return data
    try:
        return AuditConfig.model_validate(data or {})
    except ValidationError as exc:
        from tether.core.validation import format_validation_error

        err = format_validation_error(exc, prefix=prefix)
        raise ConfigError(err.message, hint="docs/audit.md lists every key of the audit section") from None


__all__ = ["AuditConfig", "load_audit_config"]
