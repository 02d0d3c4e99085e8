"""Ctrl-C and SIGTERM stop `tether run` with 130 and 143, one line saying the run can be
resumed, and a manifest that says `interrupted`; the rerun finishes the dataset. Before,
Ctrl-C exited 0 with no message (click returns Abort's code without standalone mode, and
it was dropped) and SIGTERM killed the run with its manifest left `running`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tether.llm.testing import FakeOpenAIServer
from tether.pipeline import Pipeline

HERE = Path(__file__).resolve().parent
LLM_TESTS = HERE.parent / "llm"
SRC = HERE.parents[1] / "src"
sys.path.insert(0, str(LLM_TESTS))

from llm_teststeps import answer_for, pipeline_config, write_seeds  # noqa: E402


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated")])
def test_a_signal_stops_the_run_with_its_exit_code_and_the_rerun_finishes(tmp_path, sig, code, word):
    write_seeds(tmp_path, 24)
    with FakeOpenAIServer(answer_for, delay=0.25) as srv:
        cfg = pipeline_config(tmp_path, srv.llm_config(concurrency=2), batch_size=4)
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        run_dir = tmp_path / "run"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LLM_TESTS), str(SRC)])}
        proc = subprocess.Popen([sys.executable, "-m", "tether.cli.app", "run", str(tmp_path / "p.yaml"),
                                 "--run-dir", str(run_dir), "-q"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while srv.calls < 3 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == code, err
        assert f"{word}" in err and "rerun the same command to resume" in err and "Traceback" not in err
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["status"] == "interrupted"
        res = Pipeline.from_dict(cfg).run(run_dir)
        assert res.dataset_rows == 24
        assert json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["status"] == "done"
