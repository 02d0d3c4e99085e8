"""``tether lineage RUN_DIR --sql "..."``: SQL over a run's records, rejects, lineage and scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from tether.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("lineage")
    def lineage_cmd(
        run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
        sql: Annotated[str | None, typer.Option("--sql", help="A DuckDB SQL query over the run's tables.")] = None,
        schema: Annotated[bool, typer.Option("--schema", help="List the tables and their columns.")] = False,
        fmt: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
        limit: Annotated[int, typer.Option("--max-rows", help="Rows to print in table format.")] = 50,
    ) -> None:
        """Query a run with SQL: tables dataset, records, rejected, quarantine, lineage, scores, steps."""
        from tether.cli._private import out_console
        from tether.lineage.query import LineageDB

        if fmt not in ("table", "json", "csv"):
            raise ConfigError(f"--format must be table, json or csv, got '{fmt}'")
        if sql is None and not schema:
            raise ConfigError("give --sql \"QUERY\" or --schema",
                              hint="e.g. --sql \"select reason, count(*) from lineage where status='rejected' group by 1\"")
        with LineageDB(run_dir) as db:
            if schema:
                for name, cols in db.schema().items():
                    typer.echo(f"{name}: " + ", ".join(f"{c} {t}" for c, t in cols))
                if sql is None:
                    return
            assert sql is not None
            table = db.sql(sql)
        _print(table, fmt, limit, out_console)


def _print(table, fmt: Literal["table", "json", "csv"] | str, limit: int, console) -> None:  # noqa: ANN001
    rows = table.to_pylist()
    if fmt == "json":
        for r in rows:
            typer.echo(json.dumps(r, ensure_ascii=False, default=str))
        return
    if fmt == "csv":
        import csv
        import sys

        w = csv.writer(sys.stdout)
        w.writerow(table.column_names)
        for r in rows:
            w.writerow([json.dumps(v, default=str) if isinstance(v, dict | list) else v for v in r.values()])
        return
    from rich.table import Table

    t = Table(show_lines=False)
    for c in table.column_names:
        t.add_column(c, overflow="fold")
    for r in rows[:limit]:
        t.add_row(*["" if v is None else (json.dumps(v, default=str) if isinstance(v, dict | list) else str(v))
                    for v in r.values()])
    console.print(t)
    if len(rows) > limit:
        console.print(f"({len(rows)} rows, {limit} shown; --max-rows to see more, --format json for all)")
