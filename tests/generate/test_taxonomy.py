"""taxonomy: leaves from a YAML tree, generation per leaf, coverage of every leaf, phase order."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from gen_helpers import run_steps

from tether.errors import ConfigError, InputError
from tether.generate import PhaseOrder, Taxonomy, TaxonomyGenerate
from tether.generate.testing import ScriptedLLM, fenced, request_text

TREE = """
knowledge:
  garden:
    compost:
      description: Home composting.
      documents: [compost.md]
      seed_examples:
        - {question: "What do worms add?", answer: Castings.}
foundational_skills:
  math:
    percent:
      seed_examples: [{question: "What is 10% of 50?", answer: "5"}]
    fractions:
      seed_examples: [{question: "What is half of 8?", answer: "4"}]
compositional_skills:
  writing:
    email:
      seed_examples: [{question: Write a thank-you email., answer: "Dear Ann, thank you."}]
"""


def write_tree(tmp_path: Path) -> None:
    (tmp_path / "tax.yaml").write_text(TREE, encoding="utf-8")
    (tmp_path / "compost.md").write_text("# Compost\nWorms turn scraps into castings within weeks.", encoding="utf-8")


def responder(req) -> str:
    text = request_text(req)
    path = re.search(r'leaf "([^"]+)"', text).group(1)
    if path.endswith("fractions"):
        return json.dumps({"examples": [{"question": "What is half of 8?", "answer": "4"}]})  # copies its seed
    doc = fenced(text)
    q = f"New question for {path}" + (f" about: {doc[0][:20]}" if doc else "")
    return json.dumps({"examples": [{"question": q, "answer": "a"}, {"question": q + "?", "answer": "b"}]})


def test_every_leaf_is_covered_and_tagged(tmp_path: Path) -> None:
    write_tree(tmp_path)
    llm = ScriptedLLM(responder)
    out, stats = run_steps([Taxonomy(path="tax.yaml"), TaxonomyGenerate(per_leaf=2)], llms={"default": llm},
                           base_dir=tmp_path)
    cov = stats["taxonomy_generate"]["coverage"]
    assert cov == {"knowledge/garden/compost": 2, "foundational_skills/math/percent": 2,
                   "foundational_skills/math/fractions": 0, "compositional_skills/writing/email": 2}
    assert stats["taxonomy_generate"]["under_covered"] == ["foundational_skills/math/fractions"]
    assert [v.reason for _, v in out.rejected] == ["copies_seed_example"]
    know = next(r for r in out.kept if r["taxonomy_phase"] == "knowledge")
    assert "Worms turn" in know["question"] and know["context"].startswith("# Compost")
    assert know["lineage"]["recipe"] == "taxonomy" and len(know["lineage"]["parents"]) == 1
    assert sum(cov.values()) == len(out.kept)


def test_bad_trees_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("knowledge:\n  a:\n    seed_examples: [{question: q, answer: a}]\n")
    with pytest.raises(InputError, match="knowledge leaf 'knowledge/a' needs documents"):
        run_steps([Taxonomy(path="t.yaml")], base_dir=tmp_path)
    (tmp_path / "t.yaml").write_text("skills: {}\n")
    with pytest.raises(InputError, match="unknown top-level key.s. skills"):
        run_steps([Taxonomy(path="t.yaml")], base_dir=tmp_path)


def test_phase_order_with_replay() -> None:
    phases = ["compositional_skills"] * 10 + ["knowledge"] * 10 + ["foundational_skills"] * 10
    recs = [{"id": f"r{i}", "taxonomy_phase": p, "lineage": None} for i, p in enumerate(phases)]
    out, stats = run_steps([PhaseOrder(replay=0.2)], recs)
    seq = [(r["phase_index"], r["replay"]) for r in out.kept]
    assert [i for i, _ in seq] == sorted(i for i, _ in seq)  # phases in order
    assert Counter(seq) == {(0, False): 10, (1, False): 10, (1, True): 2, (2, False): 10, (2, True): 2}
    replayed = [r for r in out.kept if r["replay"]]
    assert all(r["lineage"]["parents"][0].startswith("r") for r in replayed)
    assert {r["taxonomy_phase"] for r in replayed if r["phase_index"] == 1} == {"knowledge"}
    assert len({r["id"] for r in out.kept}) == len(out.kept)
    assert stats["phase_order"]["phases"]["foundational_skills"] == {"records": 10, "replayed": 2}


def test_phase_order_step_is_the_lineage_ordering() -> None:
    """The step and ``tether mix --phases`` share one implementation: same records, same order."""
    import random

    from tether.lineage.mix import phase_order

    phases = ["foundational_skills"] * 7 + ["Knowledge"] * 5 + ["compositional_skills/essays"] * 6
    recs = [{"id": f"r{i}", "taxonomy_phase": p, "lineage": None} for i, p in enumerate(phases)]
    out, _ = run_steps([PhaseOrder(replay=0.5)], recs)
    ctx_rng = random.Random("0:phase_order:phase_order")  # what StepContext.rng("phase_order") seeds
    direct, aside, _ = phase_order(recs, by="taxonomy_phase", order=["knowledge", "foundational_skills",
                                   "compositional_skills"], replay=0.5, rng=ctx_rng, step="phase_order",
                                   unlisted="error", run_id="test")
    assert aside == [] and [r["id"] for r in out.kept] == [r["id"] for r in direct]
    # a path-like or differently cased value names its phase by its first level
    assert [r["phase"] for r in out.kept if not r["replay"]][:5] == ["knowledge"] * 5


def test_phase_order_unlisted_phases_error_last_or_reject() -> None:
    phases = ["knowledge"] * 4 + ["safety"] * 3 + ["foundational_skills"] * 4 + [None]
    recs = [{"id": f"r{i}", "taxonomy_phase": p, "lineage": None} for i, p in enumerate(phases)]
    with pytest.raises(ConfigError, match=r"'\(missing\)' \(1 records\), 'safety' \(3 records\)"):
        run_steps([PhaseOrder()], recs)
    out, stats = run_steps([PhaseOrder(unlisted="last", shuffle=False)], recs)
    assert [r["taxonomy_phase"] for r in out.kept] == ["knowledge"] * 4 + ["foundational_skills"] * 4 + ["safety"] * 3 + [None]
    assert [r["phase_index"] for r in out.kept] == [0] * 4 + [1] * 4 + [3] * 4  # after the 3 listed phases
    assert stats["phase_order"]["phases"]["(unlisted)"] == {"records": 4, "replayed": 0}
    out, stats = run_steps([PhaseOrder(unlisted="reject")], recs)
    assert len(out.kept) == 8 and {r["id"] for r, _ in out.rejected} == {"r4", "r5", "r6", "r11"}
    assert {v.reason for _, v in out.rejected} == {"phase_not_listed"}  # counts: in 12 = kept 8 + rejected 4


def test_examples_beyond_per_leaf_are_rejected_not_dropped(tmp_path: Path) -> None:
    write_tree(tmp_path)
    out, stats = run_steps([Taxonomy(path="tax.yaml"), TaxonomyGenerate(per_leaf=1)],
                           llms={"default": ScriptedLLM(responder)}, base_dir=tmp_path)
    # 3 leaves answer 2 examples and fractions 1 (a seed copy): 7 candidates = 3 kept + 4 rejected
    assert Counter(v.reason for _, v in out.rejected) == {"over_quota": 3, "copies_seed_example": 1}
    assert len(out.kept) == 3 and all(r["answer"] == "a" for r in out.kept)
    extra = [r for r, v in out.rejected if v.reason == "over_quota"]
    assert all(r["answer"] == "b" and r["question"].endswith("?") for r in extra)
    assert {v.score for _, v in out.rejected if v.reason == "over_quota"} == {2.0}  # the 2nd item of its answer
    assert all(r["lineage"]["recipe"] == "taxonomy" and r["taxonomy_path"] for r in extra)
    assert sum(stats["taxonomy_generate"]["coverage"].values()) == len(out.kept)
