"""Shared CLI plumbing: logging set-up, progress choice, error printing."""

from __future__ import annotations

import logging
import sys

from rich.console import Console

# a pipe or a file gets wide lines rather than rich's 80-column default
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)
out_console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def is_tty() -> bool:
    """Whether stderr, where logs and progress bars go, is a terminal (rich's check of the
    stderr console, so ``FORCE_COLOR`` / ``TTY_COMPATIBLE`` are honoured the same way)."""
    return err_console.is_terminal


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record to ``sys.stderr`` as it is when the record is emitted, so a handler
    set up by one command never writes to a stream that has since been replaced or closed."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def setup_logging(verbose: int = 0) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose >= 0 else logging.WARNING
    root = logging.getLogger("tether")
    root.handlers.clear()
    root.setLevel(level)
    if is_tty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.propagate = False


def make_progress(quiet: bool = False):  # noqa: ANN201
    from tether.pipeline.progress import LogProgress, Progress, RichProgress

    if quiet:
        return Progress()
    # the bars draw on the stream the check looked at: stderr (stdout stays for results)
    return RichProgress(console=err_console) if is_tty() else LogProgress()
