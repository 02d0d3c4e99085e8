"""``tether mix --real A --synthetic B --ratio R --out DIR``: a hybrid dataset."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Annotated

import typer

from tether.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("mix")
    def mix_cmd(
        real: Annotated[Path, typer.Option("--real", help="Real records: a run directory or a dataset file.")],
        synthetic: Annotated[Path, typer.Option("--synthetic", help="Synthetic records: a run directory or a file.")],
        ratio: Annotated[float, typer.Option("--ratio", help="Share of synthetic records in the result (0..1).")],
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        stratify_by: Annotated[str | None, typer.Option("--stratify-by", help="Same synthetic share per value of this field.")] = None,
        size: Annotated[int | None, typer.Option("--size", help="Records in the result (default: as many as fit).")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the random choices.")] = 0,
        phase_field: Annotated[str | None, typer.Option("--phase-field", help="Order in phases by this field's top level.")] = None,
        phases: Annotated[str | None, typer.Option("--phases", help="Phase names in order, comma-separated.")] = None,
        replay: Annotated[float, typer.Option("--replay", help="Replay fraction of earlier phases in each later phase.")] = 0.0,
        unlisted: Annotated[str, typer.Option(
            "--unlisted", help="Records of a phase not in --phases: error (stop), last (one phase of their own), "
                               "or reject (to unselected.parquet as phase_not_listed).")] = "error",
        formats: Annotated[list[str], typer.Option("--format", "-f", help="Extra export formats (chat, alpaca, ...).")] = [],  # noqa: B006
    ) -> None:
        """Mix real and synthetic records at a ratio; records keep their origin and lineage."""
        from tether.io._private import atomic_write_text
        from tether.io.writers import write_jsonl, write_parquet
        from tether.lineage.export import export_table
        from tether.lineage.mix import PHASE_NOT_LISTED, mix_records, phase_order, read_dataset
        from tether.records import ORIGIN_REAL, ORIGIN_SYNTHETIC, table_digest, to_table

        if (phase_field is None) != (phases is None):
            raise ConfigError("--phase-field and --phases go together", hint="e.g. --phase-field taxonomy --phases knowledge,foundational,compositional")
        r_recs = read_dataset(real, origin=ORIGIN_REAL)
        s_recs = read_dataset(synthetic, origin=ORIGIN_SYNTHETIC)
        rng = random.Random(f"{seed}:mix")
        res = mix_records(r_recs, s_recs, ratio=ratio, rng=rng, stratify_by=stratify_by, size=size)
        selected, report = res.selected, dict(res.report)
        unselected = [(r, "not_selected_for_mix") for r in res.unselected]
        if phase_field is not None:
            assert phases is not None
            selected, left, preport = phase_order(selected, by=phase_field, order=phases.split(","), replay=replay,
                                                  rng=random.Random(f"{seed}:phases"), step="mix",
                                                  unlisted=unlisted)  # type: ignore[arg-type]
            unselected += [(r, PHASE_NOT_LISTED) for r in left]
            report["phases"] = preport
        out.mkdir(parents=True, exist_ok=True)
        table = to_table(selected)
        write_parquet(table, out / "data.parquet")
        write_jsonl(table, out / "data.jsonl")
        write_parquet(to_table([{**r, "reject_reason": why} for r, why in unselected]), out / "unselected.parquet")
        report["rows"] = table.num_rows
        report["digest"] = table_digest(table)
        report["inputs"] = {"real": str(real), "synthetic": str(synthetic), "seed": seed}
        atomic_write_text(out / "mix_report.json", json.dumps(report, indent=2, sort_keys=True, default=str))
        for fmt in formats:
            export_table(table, out, fmt)
        sel = report["selected"]
        typer.echo(f"mixed {table.num_rows} records ({sel['real']} real, {sel['synthetic']} synthetic, "
                   f"{report['synthetic_share']:.3f} synthetic) -> {out}; {len(unselected)} left out in unselected.parquet")
