"""Damaged input files stop the read with one line naming the file, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tether.errors import InputError
from tether.io import read_rows


def test_a_parquet_file_damaged_past_its_first_rows(tmp_path: Path) -> None:
    p = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["x" * 100 + str(i) for i in range(20_000)]}), p, row_group_size=2000,
                   compression="none")
    data = bytearray(p.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4000] = b"\0" * 4000
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"c\.parquet: the Parquet file is damaged after row \d+") as info:
        for _ in read_rows(p):
            pass
    assert "\n" not in str(info.value)


def _hf(folder: Path, state: str, data: bytes | None) -> Path:
    folder.mkdir()
    (folder / "state.json").write_text(state, encoding="utf-8")
    if data is not None:
        (folder / "data-00000-of-00001.arrow").write_bytes(data)
    return folder


STATE = json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]})


@pytest.mark.parametrize(
    ("state", "data", "message"),
    [
        (STATE, None, r"hf: its data file data-00000-of-00001\.arrow is missing"),
        (STATE, b"garbage", r"hf: its data file data-00000-of-00001\.arrow is not readable Arrow"),
        ("{bad", None, r"hf[/\\]state\.json: not valid JSON"),
        ("[1]", None, r"hf[/\\]state\.json: not a datasets state file"),
    ],
)
def test_a_damaged_datasets_folder(tmp_path: Path, state: str, data: bytes | None, message: str) -> None:
    folder = _hf(tmp_path / "hf", state, data)
    with pytest.raises(InputError, match=message):
        list(read_rows(folder))


def test_a_damaged_dataset_dict_file(tmp_path: Path) -> None:
    folder = tmp_path / "dd"
    folder.mkdir()
    (folder / "dataset_dict.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(InputError, match=r"dataset_dict\.json: not valid JSON"):
        list(read_rows(folder))


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_a_folder_given_to_a_single_file_format(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=rf"d: a folder, but format {fmt} reads one file") as info:
        list(read_rows(tmp_path / "d", fmt))  # type: ignore[arg-type]
    assert "documents" in (info.value.hint or "")
