"""HTML and JSON reports."""

from __future__ import annotations

from tether.report.html import render_html, write_html
from tether.report.json_report import write_json

__all__ = ["render_html", "write_html", "write_json"]
