"""``tether cache``: what a run's LLM response cache holds, and recorded files from it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from tether.cli._private import out_console
from tether.errors import InputError

cache_app = typer.Typer(help="The LLM response cache of a run directory.", no_args_is_help=True)


def _cache_file(run_dir: Path) -> Path:
    path = run_dir / "cache.sqlite" if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise InputError(
            f"{run_dir}: no cache.sqlite here", hint="give a run directory (runs/NAME) or a cache.sqlite file"
        )
    return path


def _open(run_dir: Path):  # noqa: ANN202
    from tether.llm.cache import ResponseCache, has_table

    path = _cache_file(run_dir)
    if not has_table(path):
        raise InputError(f"{path} holds no LLM responses", hint="only runs with LLM steps have them")
    return ResponseCache(path)


@cache_app.command("stats")
def stats(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or its cache.sqlite).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Entries, hits and tokens of the LLM response cache, by model."""
    from rich.table import Table

    cache = _open(run_dir)
    try:
        s = cache.stats()
    finally:
        cache.close()
    if as_json:
        out_console.print_json(json.dumps(s))
        return
    out_console.print(f"LLM response cache: {s['path']}", soft_wrap=True)
    t = Table()
    for col in ("model", "entries", "hits", "prompt tokens", "completion tokens", "newest"):
        t.add_column(col, justify="left" if col in ("model", "newest") else "right", no_wrap=col == "model")
    for model, m in s["by_model"].items():
        newest = time.strftime("%Y-%m-%d %H:%M", time.localtime(m["last"])) if m["last"] else "-"
        t.add_row(model, str(m["entries"]), str(m["hits"]), str(m["prompt_tokens"]), str(m["completion_tokens"]),
                  newest)
    t.add_row("total", str(s["entries"]), str(s["hits"]), str(s["prompt_tokens"]), str(s["completion_tokens"]), "")
    out_console.print(t)


@cache_app.command("export")
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or its cache.sqlite).")],
    out: Annotated[Path, typer.Option("--out", help="The replay JSONL to write.")],
    model: Annotated[str | None, typer.Option("--model", help="Only this model identity.")] = None,
) -> None:
    """Write the cached answers as a replay file (``backend: replay``, ``replay_file:``)."""
    from tether.io._private import atomic_write_text

    cache = _open(run_dir)
    try:
        lines = [json.dumps(e, sort_keys=True, ensure_ascii=False) for e in cache.iter_entries(model)]
    finally:
        cache.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    out_console.print(f"wrote {len(lines)} recorded answers to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
