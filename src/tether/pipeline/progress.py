"""Progress reporting: the runner calls a :class:`Progress`; the CLI picks rich bars on a
terminal and plain log lines otherwise. Library code never installs handlers."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("tether.progress")


class Progress:
    """Silent by default; subclasses show progress."""

    def step_started(self, index: int, name: str, kind: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...

    def heartbeat(self) -> None:
        """Called every few seconds while a step runs, whether or not records finished."""

    def step_skipped(self, index: int, name: str, counts: dict[str, int]) -> None: ...

    def step_finished(self, name: str, status: str, counts: dict[str, int], seconds: float) -> None: ...

    def close(self) -> None: ...


class LogProgress(Progress):
    """Plain log lines: one when a step starts, one every ``every`` seconds while it runs
    (also when no record finished: a stalled step says so), one at its end."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self._name = ""
        self._done = 0
        self._total: int | None = None
        self._t0 = 0.0
        self._last = 0.0

    def step_started(self, index: int, name: str, kind: str, total: int | None) -> None:
        self._name, self._done, self._total = name, 0, total
        self._t0 = self._last = time.monotonic()
        log.info("step %d %s (%s) started%s", index, name, kind, f" on {total} records" if total is not None else "")

    def advance(self, n: int) -> None:
        self._done += n
        self.heartbeat()

    def heartbeat(self) -> None:
        if not self._name:
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            rate = self._done / max(now - self._t0, 1e-9)
            eta = ""
            if self._total:
                eta = f", ETA {max(self._total - self._done, 0) / max(rate, 1e-9):.0f}s"
            of = f"/{self._total}" if self._total is not None else ""
            log.info("%s: %d%s records, %.1f records/s%s", self._name, self._done, of, rate, eta)

    def step_skipped(self, index: int, name: str, counts: dict[str, int]) -> None:
        log.info("step %d %s is up to date (out %d): skipped", index, name, counts.get("out", 0))

    def step_finished(self, name: str, status: str, counts: dict[str, int], seconds: float) -> None:
        self._name = ""
        log.info(
            "%s %s: in %d, out %d, rejected %d, quarantined %d (%.1fs)",
            name, status, counts.get("in", 0), counts.get("out", 0), counts.get("rejected", 0),
            counts.get("quarantined", 0), seconds,
        )


def escape(text: str) -> str:
    """``text`` with rich markup escaped (a step named ``[x]`` or a status ``[ran]`` shows as is)."""
    from rich.markup import escape as _escape

    return _escape(text)


class RichProgress(Progress):
    """Rich progress bars with records/s and ETA, for a terminal.

    Args:
        console: the rich console the bars draw on (the CLI gives its stderr console, the
            stream whose terminal check chose the bars); default: rich's own.
    """

    def __init__(self, console: Any = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RP

        self._rp = RP(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rec/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._rp.start()
        self._task: Any = None
        self._t0 = 0.0

    def step_started(self, index: int, name: str, kind: str, total: int | None) -> None:
        self._t0 = time.monotonic()
        self._task = self._rp.add_task(escape(f"{index:02d} {name}"), total=total, rate="-")

    def advance(self, n: int) -> None:
        if self._task is not None:
            task = self._rp.tasks[-1]
            done = task.completed + n
            rate = done / max(time.monotonic() - self._t0, 1e-9)
            self._rp.update(self._task, advance=n, rate=f"{rate:.1f}")

    def step_skipped(self, index: int, name: str, counts: dict[str, int]) -> None:
        self._rp.console.print(f"{escape(f'{index:02d} {name}')}: up to date ({counts.get('out', 0)} records), skipped")

    def step_finished(self, name: str, status: str, counts: dict[str, int], seconds: float) -> None:
        if self._task is not None:
            self._rp.update(
                self._task,
                # escaped: "[ran]" is text, not a rich markup tag
                description=escape(f"{name} [{status}] kept {counts.get('out', 0)} rej {counts.get('rejected', 0)}"
                                   f" quar {counts.get('quarantined', 0)}"),
                total=self._rp.tasks[-1].completed or 1,
                completed=self._rp.tasks[-1].completed or 1,
            )
            self._task = None

    def close(self) -> None:
        self._rp.stop()
