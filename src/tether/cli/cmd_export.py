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
        from tether.errors import InputError
        from tether.lineage.export import export_table, parse_format
        from tether.lineage.mix import load_table
        from tether.pipeline.preflight import FORMAT_NEEDS

        names = [parse_format(fmt)[0] for fmt in formats]  # an unknown format before any file is written
        table, default_out = load_table(source)
        columns = set(table.column_names)
        for name in names:  # a format no record can fill, too: not after the others were written
            needs = FORMAT_NEEDS.get(name)
            if needs and not any(set(alt) <= columns for alt in needs):
                raise InputError(
                    f"export {name}: the records lack the columns it needs ({' or '.join('+'.join(a) for a in needs)}); "
                    f"they have: {', '.join(sorted(columns - {'id', 'lineage'})) or 'none'}",
                    hint="shape the records with a select step (rename:), or choose another format")
        target = out or default_out
        opts = ",".join(o for o, on in (("no_id", no_id), ("no_origin", no_origin)) if on)
        for fmt in formats:
            path = export_table(table, target, f"{fmt}:{opts}" if opts else fmt)
            typer.echo(f"{fmt}: {table.num_rows} records -> {path}")
