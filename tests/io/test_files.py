"""read_files: a folder of files, each one record (path, text); what cannot be a record is
rejected with its reason, never dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import ConfigError, InputError
from tether.io.files import ReadFiles, is_binary
from tether.pipeline.context import StepContext
from tether.pipeline.registry import get_step_class
from tether.pipeline.step import Outcome


def code_folder(root: Path) -> Path:
    """A small project: code in a package, a README, a binary, a non-UTF-8 file, an empty one,
    a large one and a hidden folder."""
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text('"""The package."""\n', encoding="utf-8")
    (root / "pkg" / "geometry.py").write_text("def area(r):\n    # circle area\n    return 3.14159 * r * r\n",
                                              encoding="utf-8")
    (root / "pkg" / "sub" / "text.py").write_text("def shout(s):\n    return s.upper() + '!'\n", encoding="utf-8")
    (root / "README.md").write_text("# Demo\n\nA demo project.\n", encoding="utf-8")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "legacy.py").write_bytes("# caf\xe9\nx = 1\n".encode("latin-1"))
    (root / "empty.py").write_text("\n  \n", encoding="utf-8")
    (root / "big.py").write_text("x = 1\n" * 400, encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    return root


def read(step: ReadFiles, base: Path, batch_size: int = 256) -> Outcome:
    ctx = StepContext(step_name=step.instance_name, base_dir=base, run_id="t", batch_size=batch_size)
    out = Outcome()
    for o in step.read(ctx):
        out.extend(o)
    return out


def test_each_file_is_one_record_and_the_rest_are_rejected_with_a_reason(tmp_path: Path) -> None:
    code_folder(tmp_path / "proj")
    out = read(ReadFiles(path="proj", max_bytes=1000), tmp_path)
    kept = {r["path"]: r for r in out.kept}
    assert sorted(kept) == ["README.md", "pkg/__init__.py", "pkg/geometry.py", "pkg/sub/text.py"]
    assert kept["pkg/geometry.py"]["text"] == "def area(r):\n    # circle area\n    return 3.14159 * r * r\n"
    assert kept["pkg/geometry.py"]["lineage"]["source"] == "proj/pkg/geometry.py"
    assert kept["pkg/geometry.py"]["lineage"]["origin"] == "real"
    reasons = {r["path"]: v.reason for r, v in out.rejected}
    assert reasons == {"logo.png": "binary_file", "legacy.py": "not_utf8", "empty.py": "empty_file",
                       "big.py": "too_large"}  # .git is hidden: not matched at all
    details = {r["path"]: v for r, v in out.rejected}
    assert details["big.py"].score == 2400 and "over max_bytes=1000" in details["big.py"].details["error"]
    assert "byte 0xe9 on line 1" in details["legacy.py"].details["error"]
    assert all("text" not in r for r, _ in out.rejected)
    # deterministic: the same ids in the same order, in any batch size
    again = read(ReadFiles(path="proj", max_bytes=1000), tmp_path, batch_size=2)
    assert [r["id"] for r in again.kept] == [r["id"] for r in out.kept]


def test_glob_exclude_hidden_and_limit(tmp_path: Path) -> None:
    code_folder(tmp_path)
    py = read(ReadFiles(path=".", glob="**/*.py", exclude=["pkg/sub/*", "big.py"]), tmp_path)
    assert [r["path"] for r in py.kept] == ["pkg/__init__.py", "pkg/geometry.py"]
    assert py.kept[0]["lineage"]["source"] == "pkg/__init__.py"
    assert {r["path"] for r, _ in py.rejected} == {"legacy.py", "empty.py"}
    both = read(ReadFiles(path=".", glob=["*.md", "pkg/**/*.py"]), tmp_path)
    assert [r["path"] for r in both.kept] == ["README.md", "pkg/__init__.py", "pkg/geometry.py", "pkg/sub/text.py"]
    hidden = read(ReadFiles(path=".", glob="**/config", hidden=True), tmp_path)
    assert [r["path"] for r in hidden.kept] == [".git/config"]
    assert len(read(ReadFiles(path=".", glob="**/*.py", limit=2), tmp_path).kept) == 2
    one = read(ReadFiles(path="pkg/geometry.py"), tmp_path)
    assert [r["path"] for r in one.kept] == ["geometry.py"]


def test_nothing_to_read_is_an_input_error(tmp_path: Path) -> None:
    code_folder(tmp_path)
    with pytest.raises(InputError, match=r"no files match \*\*/\*\.rs"):
        read(ReadFiles(path=".", glob="**/*.rs"), tmp_path)
    with pytest.raises(InputError, match="no such file or folder"):
        read(ReadFiles(path="missing"), tmp_path)


def test_registered_with_a_config_that_round_trips(tmp_path: Path) -> None:
    cls = get_step_class("read_files")
    step = cls(path="src", glob="**/*.py", max_bytes=5000)
    assert cls(**step.config_dict()["read_files"]).config_hash() == step.config_hash()
    assert step.output_columns() == {"path", "text"}
    from tether.pipeline import Pipeline

    with pytest.raises(ConfigError, match="max_bytes"):
        Pipeline.from_dict({"steps": [{"read_files": {"path": "src", "max_bytes": 0}}]})


def test_editing_a_file_changes_the_fingerprint(tmp_path: Path) -> None:
    code_folder(tmp_path)
    ctx = StepContext(step_name="read_files", base_dir=tmp_path)
    step = ReadFiles(path=".", glob="**/*.py")
    before = step.fingerprint_extra(ctx)
    (tmp_path / "pkg" / "geometry.py").write_text("def area(r):\n    return 3 * r * r\n", encoding="utf-8")
    assert step.fingerprint_extra(ctx) != before


def test_is_binary() -> None:
    assert not is_binary("naïve café".encode())
    assert is_binary(b"abc\x00def") and not is_binary(b"a" * 9000 + b"\x00")  # only the first 8 KiB


def test_a_pipeline_run_keeps_the_rejected_files_beside_the_kept(tmp_path: Path) -> None:
    from tether.pipeline import Pipeline
    from tether.pipeline.rundir import KEPT, REJECTED, RunDir

    code_folder(tmp_path / "proj")
    pipe = Pipeline.from_dict({"steps": [{"read_files": {"path": "proj", "max_bytes": 1000}},
                                         {"length_filter": {"fields": "text", "min_words": 1}}]}, base_dir=tmp_path)
    result = pipe.run(tmp_path / "run")
    counts = result.steps[0]["counts"]
    assert counts["out"] == 4 and counts["rejected"] == 4 and result.dataset_rows == 4
    store = RunDir(tmp_path / "run").store(0, "read_files")
    rejected = {r["path"]: r["reject_reason"] for r in store.iter_records(REJECTED)}
    assert rejected == {"logo.png": "binary_file", "legacy.py": "not_utf8", "empty.py": "empty_file",
                        "big.py": "too_large"}
    assert sorted(r["path"] for r in store.iter_records(KEPT)) == [
        "README.md", "pkg/__init__.py", "pkg/geometry.py", "pkg/sub/text.py"]
