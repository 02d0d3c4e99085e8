"""Reading JSONL into records and writing Parquet: tether's read step vs a bare loop.

tether does more per record (ids, lineage, per-line error handling, column mapping); this
shows what that costs next to `json.loads` + `pyarrow.Table.from_pylist` + `write_table`.

    python benchmarks/read_write.py [--n 100000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tether.io import Read, write_parquet
from tether.pipeline import run_in_memory
from tether.records import to_table


def make(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"body": f"record {i} " + "lorem ipsum dolor " * 8, "label": i % 5}) + "\n")


def bare(path: Path, out: Path) -> int:
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    pq.write_table(pa.Table.from_pylist(rows), out)
    return len(rows)


def tether_read(path: Path, out: Path) -> int:
    res = run_in_memory([Read(path=str(path), text_field="body")])
    write_parquet(to_table(res.kept), out)
    return len(res.kept)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.jsonl"
        make(src, args.n)
        t0 = time.perf_counter()
        nb = bare(src, Path(d) / "bare.parquet")
        t_bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        nt = tether_read(src, Path(d) / "tether.parquet")
        t_tether = time.perf_counter() - t0
    assert nb == nt == args.n
    print(f"records: {args.n}")
    print(f"bare json+pyarrow: {args.n / t_bare:,.0f} records/s ({t_bare:.2f}s)")
    print(f"tether read step:  {args.n / t_tether:,.0f} records/s ({t_tether:.2f}s)")
    print(f"ratio tether/bare throughput: {t_bare / t_tether:.2f}x")


if __name__ == "__main__":
    main()
