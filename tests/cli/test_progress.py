"""Progress output: rich bars on a terminal, plain log lines otherwise, both on stderr (the
stream the terminal check looks at); stdout keeps only the results."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tether.cli._private import err_console, is_tty, make_progress
from tether.pipeline.progress import LogProgress, Progress, RichProgress


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture(autouse=True)
def _no_terminal_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    # the CLI's logging set-up from earlier tests in this process must not write into the
    # streams these tests swap in
    logger = logging.getLogger("tether")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", True)


def _drive(progress: Progress) -> None:
    progress.step_started(0, "read", "source", 3)
    progress.advance(3)
    progress.step_finished("read", "done", {"in": 3, "out": 3, "rejected": 0, "quarantined": 0}, 0.1)
    progress.close()


def test_a_terminal_on_stderr_gets_rich_bars_on_stderr(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    tty = _Stream(tty=True)
    monkeypatch.setattr(sys, "stderr", tty)
    assert is_tty()
    progress = make_progress()
    assert isinstance(progress, RichProgress) and progress._rp.console is err_console
    _drive(progress)
    drawn = tty.getvalue()
    assert "read [done] kept 3" in drawn and "\x1b[" in drawn  # drawn as a terminal, on stderr
    assert capsys.readouterr().out == ""  # nothing on stdout


def test_stderr_not_a_terminal_gets_log_lines(monkeypatch: pytest.MonkeyPatch, capsys, caplog) -> None:
    pipe = _Stream(tty=False)
    monkeypatch.setattr(sys, "stderr", pipe)
    # stdout a terminal does not matter: the check is on stderr, where progress goes
    monkeypatch.setattr(sys, "stdout", _Stream(tty=True))
    assert not is_tty()
    progress = make_progress()
    assert isinstance(progress, LogProgress)
    caplog.set_level(logging.INFO, logger="tether.progress")
    _drive(progress)
    lines = [r.getMessage() for r in caplog.records if r.name == "tether.progress"]
    assert lines == ["step 0 read (source) started on 3 records",
                     "read done: in 3, out 3, rejected 0, quarantined 0 (0.1s)"]
    assert pipe.getvalue() == "" and sys.stdout.getvalue() == ""  # no bars anywhere
    assert type(make_progress(quiet=True)) is Progress


def _tether(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR")}
    return subprocess.run([sys.executable, "-m", "tether", "run", "p.yaml", "--run-dir", "out"],
                          cwd=project, capture_output=True, text=True, timeout=300, env={**full, **env})


def test_the_cli_draws_bars_on_a_forced_terminal_and_logs_otherwise(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(5)))
    (tmp_path / "p.yaml").write_text("steps:\n  - read: {path: d.jsonl}\n  - limit: {n: 3}\n")
    piped = _tether(tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert "step 0 read (source) started" in piped.stderr and "limit ran: in 5, out 3" in piped.stderr
    assert "\x1b[" not in piped.stderr and "rec/s" not in piped.stderr
    assert piped.stdout.startswith("run: ") and len(piped.stdout.strip().splitlines()) == 1
    shutil.rmtree(tmp_path / "out")
    forced = _tether(tmp_path, TTY_COMPATIBLE="1")  # rich's switch: treat the streams as terminals
    assert forced.returncode == 0, forced.stderr
    assert "rec/s" in forced.stderr and "limit [ran] kept 3" in forced.stderr  # the bars, on stderr
    assert "started" not in forced.stderr  # not the plain lines
    assert "rec/s" not in forced.stdout and "run: " in forced.stdout


def test_log_lines_keep_coming_while_no_record_finishes(caplog) -> None:
    progress = LogProgress(every=0.0)
    with caplog.at_level(logging.INFO, logger="tether.progress"):
        progress.step_started(1, "ask", "map", 10)
        progress.heartbeat()  # nothing finished yet: a stalled step still says where it is
        progress.advance(1)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("ask: 0/10 records") for line in lines), lines
    assert any(line.startswith("ask: 1/10 records") for line in lines), lines
