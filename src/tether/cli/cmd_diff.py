"""``tether diff RUN_A RUN_B``: configs, counts and audit metrics side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("diff")
    def diff_cmd(
        run_a: Annotated[Path, typer.Argument(help="The first run directory.")],
        run_b: Annotated[Path, typer.Argument(help="The second run directory.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the differences as JSON.")] = False,
        rel_tol: Annotated[float, typer.Option(
            "--rel-tol", help="Relative change beyond which a metric without confidence intervals has moved.")] = 0.01,
    ) -> None:
        """Compare two runs: config keys that differ, step counts, dataset, audit metrics that moved.

        A metric moved when its confidence intervals do not overlap, or, without intervals,
        when it changed by more than --rel-tol of its size.
        """
        from tether.lineage.diff import diff_runs, format_diff

        d = diff_runs(run_a, run_b, rel_tol=rel_tol)
        typer.echo(json.dumps(d.to_dict(), indent=2, default=str) if as_json else format_diff(d))
