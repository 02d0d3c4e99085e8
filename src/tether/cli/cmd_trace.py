"""``tether trace RUN_DIR RECORD_ID``: a record's chain back to its seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("trace")
    def trace_cmd(
        run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
        record_id: Annotated[str, typer.Argument(help="A record id (or a unique prefix of one).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the trace as JSON.")] = False,
    ) -> None:
        """Show where a record came from: seed, template, prompt hash, model, response, verdicts."""
        from tether.lineage.trace import format_trace, trace

        node = trace(run_dir, record_id)
        if as_json:
            typer.echo(json.dumps(node.to_dict(), indent=2, ensure_ascii=False, default=str))
        else:
            typer.echo(format_trace(node))
