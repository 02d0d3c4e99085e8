"""Lineage: trace and query a run, the dataset card, export formats, hybrid mixing, rerun, diff.

Importing this package registers the ``mix`` step. DuckDB and
``datasets`` are imported only by the functions that use them.
"""

from __future__ import annotations

from tether.lineage.card import CardConfig, build_card, write_card
from tether.lineage.export import export_table
from tether.lineage.mix import mix_records, phase_order, read_dataset
from tether.lineage.query import LineageDB, query
from tether.lineage.steps import Mix
from tether.lineage.trace import TraceNode, format_trace, trace

__all__ = [
    "CardConfig",
    "LineageDB",
    "Mix",
    "TraceNode",
    "build_card",
    "export_table",
    "format_trace",
    "mix_records",
    "phase_order",
    "query",
    "read_dataset",
    "trace",
    "write_card",
]
