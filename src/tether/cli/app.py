"""The ``tether`` command-line app.

Core commands live here; other packages add theirs in ``tether/cli/cmd_*.py`` modules, each
with a ``register(app)`` function, found at start-up.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from tether.cli._private import err_console, make_progress, out_console, setup_logging
from tether.errors import TetherError

app = typer.Typer(
    name="tether",
    help="Make synthetic training data for LLMs, curate it, audit its risks, ship it with lineage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only.")] = False,
) -> None:
    setup_logging(-1 if quiet else verbose)


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline YAML.")],
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Where the run goes (default runs/NAME).")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a value: STEP.param=value (repeatable).")] = [],  # noqa: B006
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    from_step: Annotated[str | None, typer.Option(
        "--from", help="Redo this step and every later one, even if up to date (cached LLM answers are reused)."
    )] = None,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Redo every step and set the LLM response cache aside: every request is asked again."
    )] = False,
) -> None:
    """Run a pipeline (or resume it: finished steps are not run again)."""
    from tether.pipeline import Pipeline

    if fresh and from_step is not None:
        raise typer.BadParameter("give --fresh or --from STEP, not both")
    pipe = Pipeline.from_yaml(pipeline, overrides=set_)
    target = run_dir or Path("runs") / pipe.config.name
    result = pipe.run(target, progress=make_progress(quiet), redo_from=from_step, fresh=fresh)
    if not result.did_work:
        err_console.print("nothing to do: every step is up to date")
    out_console.print(f"run: {result.run_dir}  dataset: {result.dataset_rows} records  digest: {result.dataset_digest}")


@app.command()
def validate(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline YAML.")],
    set_: Annotated[list[str], typer.Option("--set", help="Override a value: STEP.param=value.")] = [],  # noqa: B006
) -> None:
    """Check a pipeline before anything runs: config fields, step names, inputs, the columns each
    step reads, LLM names and API-key variables, export formats."""
    from tether.cli.validate import validate_command

    validate_command(pipeline, set_)


@app.command()
def inspect(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest's step table as JSON.")] = False,
) -> None:
    """Per-step counts, time and tokens of a run."""
    from rich.table import Table

    from tether.core.rundir import RunDir

    m = RunDir(run_dir).read_manifest()
    if as_json:
        out_console.print_json(json.dumps({"run_id": m.get("run_id"), "status": m.get("status"),
                                           "steps": m.get("steps", []), "dataset": m.get("dataset")}))
        return
    t = Table(title=f"{m.get('name')} ({m.get('run_id')}): {m.get('status')}")
    for col in ("#", "step", "type", "status", "in", "out", "rejected", "quarantined", "seconds", "tokens"):
        t.add_column(col, justify="right" if col not in ("step", "type", "status") else "left")
    for s in m.get("steps", []):
        c = s.get("counts", {})
        u = s.get("llm_usage") or {}
        tokens = int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
        t.add_row(str(s["index"]), s["name"], s["type"], s["status"], str(c.get("in", 0)), str(c.get("out", 0)),
                  str(c.get("rejected", 0)), str(c.get("quarantined", 0)), f"{s.get('seconds', 0):.1f}",
                  str(tokens) if u else "-")
    out_console.print(t)
    d = m.get("dataset")
    if d:
        out_console.print(f"dataset: {d['rows']} records, digest {d['digest']}")


@app.command()
def steps(
    name: Annotated[str | None, typer.Argument(help="Show one step's fields in full.")] = None,
) -> None:
    """List every step with its config fields and a one-line description."""
    import difflib

    from tether.errors import ConfigError
    from tether.pipeline.registry import catalog

    infos = catalog()
    if name is not None:
        known = [i.type for i in infos]
        infos = [i for i in infos if i.type == name]
        if not infos:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            close += [k for k in known if name in k and k not in close][: 3 - len(close)]
            hint = f"did you mean: {', '.join(close)}? " if close else ""
            raise ConfigError(f"unknown step '{name}'", hint=hint + "`tether steps` lists every step")
    for info in infos:
        out_console.print(f"[bold]{info.type}[/bold] ({info.kind}): {info.description}")
        for fname, ftype, default, doc in info.fields:
            d = "" if default is None else f" = {default!r}"
            if name is None and len(d) > 60:
                d = d[:56] + "...]" if d.endswith("]") else d[:57] + "..."
            out_console.print(f"    {fname}: {ftype}{d}" + (f"  [dim]{doc}[/dim]" if doc and name else ""), markup=True)


def _load_commands() -> None:
    import tether.cli as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("cmd_"):
            module = importlib.import_module(f"tether.cli.{mod.name}")
            module.register(app)


def _interrupted(signum: int) -> NoReturn:
    """One line, and the shell's exit code for the signal (130 for SIGINT, 143 for SIGTERM)."""
    what = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
    err_console.print(f"{what}: the run stopped; rerun the same command to resume")
    sys.exit(128 + int(signum))


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and turns tether errors into one line and an exit code.

    SIGTERM is turned into the interruption SIGINT makes (the running step is cancelled, the
    manifest says ``interrupted``), and either exits with 128 + the signal's number, never 0:
    ``tether run && upload`` must not ship a partial dataset."""
    _load_commands()
    got: dict[str, int] = {}

    def on_term(signum: int, frame: object) -> None:
        got["signal"] = signum
        signal.raise_signal(signal.SIGINT)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    try:
        rc = app(args=argv, standalone_mode=False)
    except TetherError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc.message}", markup=True, soft_wrap=True)
        if exc.hint:
            err_console.print(f"[dim]hint:[/dim] {exc.hint}", markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, asyncio.CancelledError):
        _interrupted(got.get("signal", signal.SIGINT))
    except SystemExit:
        raise
    except Exception as exc:
        # usage errors of the (vendored) click under typer: shown as click shows them
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(2)
        if type(exc).__name__ == "Abort":
            _interrupted(got.get("signal", signal.SIGINT))
        raise
    if got or rc == 130:  # click returns Abort's 130 instead of raising it without standalone mode
        _interrupted(got.get("signal", signal.SIGINT))
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
