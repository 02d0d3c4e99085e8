"""Audit metrics by family, gates and the audit runner.

Example:
    >>> from tether.audit import audit, AuditConfig
"""

from __future__ import annotations

from tether.audit.base import REGISTRY, MetricInfo, MetricResult
from tether.audit.config import AuditConfig, load_audit_config
from tether.audit.dataset import Corpus, record_text
from tether.audit.gates import apply_gates, load_gates_file, parse_gates
from tether.audit.runner import AuditReport, audit, load_families

__all__ = [
    "REGISTRY",
    "AuditConfig",
    "AuditReport",
    "Corpus",
    "MetricInfo",
    "MetricResult",
    "apply_gates",
    "audit",
    "load_audit_config",
    "load_families",
    "load_gates_file",
    "parse_gates",
    "record_text",
]
