"""``tether export SOURCE --format F --out DIR``: a run's dataset in training formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        source: Annotated[Path, typer.Argument(help="A run directory, or a .parquet / .jsonl dataset file.")],
        formats: Annotated[list[str], typer.Option("--format", "-f",
                                                    help="chat | alpaca | sharegpt | preference | text | hf (repeatable).")],
        out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: RUN_DIR/dataset).")] = None,
        no_id: Annotated[bool, typer.Option("--no-id", help="Leave out record ids.")] = False,
        no_origin: Annotated[bool, typer.Option("--no-origin", help="Leave out the real/synthetic origin flag.")] = False,
    ) -> None:
        """Export a dataset as chat messages, Alpaca, ShareGPT, preference pairs, text or a datasets folder."""
        from tether.lineage.export import export_table
        from tether.lineage.mix import load_table

        table, default_out = load_table(source)
        target = out or default_out
        opts = ",".join(o for o, on in (("no_id", no_id), ("no_origin", no_origin)) if on)
        for fmt in formats:
            path = export_table(table, target, f"{fmt}:{opts}" if opts else fmt)
            typer.echo(f"{fmt}: {table.num_rows} records -> {path}")
