"""A full disk: one line naming the file being written, exit 3, the manifest's own save failing
too does not bury the error, and the rerun finishes with every answer already received reused."""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "llm"))

from llm_teststeps import answer_for, pipeline_config, write_seeds  # noqa: E402

import tether.io.writers as writers  # noqa: E402
from tether.cli.app import main  # noqa: E402
from tether.llm.testing import FakeOpenAIServer  # noqa: E402
from tether.pipeline import Pipeline, RunDir  # noqa: E402


def test_disk_full_is_one_line_and_the_rerun_pays_nothing_twice(tmp_path: Path, monkeypatch, capsys) -> None:
    write_seeds(tmp_path, 24)
    real_write = writers.pq.write_table
    state = {"parts": 0, "full": True}

    def write_table(table, where, **kw):  # noqa: ANN001, ANN003, ANN202
        state["parts"] += 1
        if state["full"] and state["parts"] > 14:  # read and select write 12 parts: the disk fills up during the LLM step
            raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")
        return real_write(table, where, **kw)

    def save_full(self) -> None:  # noqa: ANN001
        raise OSError(errno.ENOSPC, "No space left on device", str(self.run.manifest))

    with FakeOpenAIServer(answer_for) as srv:
        cfg = pipeline_config(tmp_path, srv.llm_config(concurrency=4), batch_size=4)
        (tmp_path / "p.json").write_text(json.dumps(cfg), encoding="utf-8")
        run_dir = tmp_path / "run"
        monkeypatch.setattr(writers.pq, "write_table", write_table)
        with monkeypatch.context() as m:
            from tether.pipeline.manifest import Manifest

            real_save = Manifest.save
            calls = {"n": 0}

            def save(self) -> None:  # noqa: ANN001
                calls["n"] += 1
                if state["parts"] > 14:
                    save_full(self)
                real_save(self)

            m.setattr(Manifest, "save", save)
            with pytest.raises(SystemExit) as exit_:
                main(["run", str(tmp_path / "p.json"), "--run-dir", str(run_dir), "-q"])
        err = capsys.readouterr().err
        assert exit_.value.code == 3, err
        assert "error: no space left on device writing" in err and ".parquet" in err, err
        assert "Traceback" not in err and err.count("error:") == 1
        asked = srv.calls
        assert asked > 4  # answers arrived before the disk filled up

        state["full"] = False  # space freed
        res = Pipeline.from_dict(cfg).run(run_dir)
        assert res.dataset_rows == 24
        kept = [r["id"] for r in dict(RunDir(run_dir).step_stores())["llm_ask_test"].iter_records()]
        assert len(kept) == 24 and len(set(kept)) == 24
        assert srv.calls == 24  # every answer received before the failure came from the cache
