"""``tether validate PIPELINE``: every problem found before anything runs, one line each.

The config is read as ``tether run`` reads it (a bad key stops there, with its path); then
:func:`tether.pipeline.preflight.preflight` checks inputs, columns, LLM names and their API-key
variables, and export formats. Each problem is printed as ``error: WHERE: WHAT`` with a hint,
and the command exits 2 when there is any.
"""

from __future__ import annotations

from pathlib import Path

import typer

from tether.cli._private import err_console, out_console


def validate_command(pipeline: Path, overrides: list[str]) -> None:
    """Check a pipeline file; print ``ok: ...`` or every problem, then exit 2."""
    from rich.markup import escape

    from tether.pipeline import Pipeline
    from tether.pipeline.preflight import preflight

    pipe = Pipeline.from_yaml(pipeline, overrides=overrides)
    problems, notes = preflight(pipe.config, pipe.steps, pipe.base_dir)
    for note in notes:
        err_console.print(f"note: {note}", markup=False, soft_wrap=True)
    for p in problems:
        err_console.print(f"[bold red]error:[/bold red] {escape(p.line())}", markup=True, soft_wrap=True)
        if p.hint:
            err_console.print(f"[dim]hint:[/dim] {escape(p.hint)}", markup=True, soft_wrap=True)
    if problems:
        err_console.print(f"{pipeline}: {len(problems)} problem{'s' if len(problems) > 1 else ''}; nothing was run")
        raise typer.Exit(code=2)
    out_console.print(f"ok: {pipeline} ({len(pipe.steps)} steps: {', '.join(s.instance_name for s in pipe.steps)})")


__all__ = ["validate_command"]
