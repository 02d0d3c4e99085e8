from __future__ import annotations

import pyarrow as pa

from tether.records import (
    LINEAGE_TYPE,
    child,
    concat_tables,
    new_record,
    stable_view,
    table_digest,
    to_table,
)


def test_ids_are_stable_and_content_derived() -> None:
    a = new_record({"text": "x"}, origin="real", step="read", source="f.jsonl:1")
    b = new_record({"text": "x"}, origin="real", step="read", source="f.jsonl:1")
    c = new_record({"text": "y"}, origin="real", step="read", source="f.jsonl:1")
    d = new_record({"text": "x"}, origin="real", step="read", source="f.jsonl:2")
    assert a["id"] == b["id"]
    assert len({a["id"], c["id"], d["id"]}) == 3
    assert a["lineage"]["created_at"] != 0


def test_child_records_point_to_parents() -> None:
    p = new_record({"text": "doc"}, origin="real")
    k = child(p, {"question": "q?"}, step="gen", recipe="grounded_qa", model="m")
    assert k["lineage"]["parents"] == [p["id"]]
    assert k["lineage"]["origin"] == "synthetic"


def test_to_table_lineage_type_and_mixed_columns() -> None:
    recs = [new_record({"text": "a", "n": 1}), new_record({"text": "b", "n": "two", "extra": [1, 2]})]
    t = to_table(recs)
    assert t.schema.field("lineage").type == LINEAGE_TYPE
    assert t.column_names[0] == "id" and t.column_names[-1] == "lineage"
    assert t.column("n").to_pylist() == ["1", "two"]  # mixed types kept as text, not dropped
    assert t.column("extra").to_pylist() == [None, [1, 2]]


def test_concat_promotes_missing_columns_and_digest_ignores_volatile_fields() -> None:
    t1 = to_table([new_record({"text": "a"})])
    t2 = to_table([new_record({"text": "b", "score": 0.5})])
    t = concat_tables([t1, t2])
    assert t.num_rows == 2 and t.column("score").to_pylist() == [None, 0.5]
    later = to_table([{**r, "lineage": {**r["lineage"], "created_at": 1.0}} for r in t.to_pylist()])
    assert table_digest(later) == table_digest(t)
    assert stable_view(t.to_pylist()[0])["lineage"].get("created_at") is None
    assert isinstance(t, pa.Table)
