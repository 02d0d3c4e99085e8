"""``tether rerun RUN_DIR``: reproduce a run from its manifest and cache; compare digests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("rerun")
    def rerun_cmd(
        run_dir: Annotated[Path, typer.Argument(help="The run directory to reproduce.")],
        out: Annotated[Path | None, typer.Option("--out", help="Where the rerun goes (default RUN_DIR-rerun).")] = None,
        base_dir: Annotated[Path | None, typer.Option("--base-dir", help="Folder the config's relative paths resolve against.")] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace --out when it exists.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    ) -> None:
        """Rerun a run's config from its LLM cache (no model calls) and check the digests match."""
        from tether.lineage.rerun import rerun

        res = rerun(run_dir, out, base_dir=base_dir, force=force)
        if as_json:
            typer.echo(json.dumps(res.to_dict(), indent=2, default=str))
        else:
            for s in res.steps:
                typer.echo(f"  {s['step']}: {'same' if s['same'] else 'DIFFERENT'}")
            ds = res.dataset
            typer.echo(f"dataset: {ds['original']} -> {ds['rerun']} ({ds['rows']} records)")
            typer.echo(f"{'identical' if res.identical else 'differing'}: {res.original} vs {res.rerun}")
        if not res.identical:
            raise SystemExit(1)  # the app runs click with standalone_mode=False: Exit would be swallowed
