"""Prompt templates: every recipe's prompts can be pointed at a user's file, the override is
the prompt the model sees and changes the lineage's template hash; the documented defaults
are the shipped files the code loads; the field tables of docs/generate.md match the code."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gen_helpers import run_steps

from tether.errors import ConfigError
from tether.generate import EvolInstruct, Refine, SelfInstruct
from tether.generate._private import PROMPTS, Template
from tether.generate.testing import ScriptedLLM, request_text, schema_name
from tether.llm.types import LLMRequest
from tether.pipeline.context import StepContext
from tether.pipeline.registry import _REGISTRY, load_builtins
from tether.pipeline.step import Step
from tether.records import Record

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ overrides reach the model
def evol_answers(req: LLMRequest) -> str:
    if schema_name(req) == "Equality":
        return json.dumps({"equal": False})
    return "Plan a three-day trip to Rome on a budget of 300 euros."


def instance_answers(req: LLMRequest) -> str:
    name = schema_name(req)
    if name == "Instructions":
        return json.dumps({"instructions": ["Classify an email as spam or not spam."]})
    if name == "TaskKind":
        return json.dumps({"is_classification": "Classify" in request_text(req)})
    return json.dumps({"instances": [{"input": "WIN A PRIZE NOW", "output": "spam"}]})


def refine_answers(req: LLMRequest) -> str:
    if schema_name(req) == "Critique":
        return json.dumps({"needs_revision": True, "critique": "Too curt."})
    return "Hello there, friend."


def task_answers(req: LLMRequest) -> str:
    """Like instance_answers, with a task that is not a classification (input-first)."""
    if schema_name(req) == "Instructions":
        return json.dumps({"instructions": ["List three ways to save water in a garden."]})
    return instance_answers(req)


def instruction(text: str) -> list[Record]:
    return [{"id": "r0", "instruction": text, "lineage": None}]


SEEDS = [{"id": f"s{i}", "instruction": t, "lineage": None}
         for i, t in enumerate(["Write a haiku about rain.", "Explain what a lever does."])]

# (step class, fixed config, field, override template, records, responder)
CASES: list[tuple[type, dict[str, Any], str, str, list[Record], Callable[[LLMRequest], str]]] = [
    (EvolInstruct, {"methods": ["constraints"], "respond": False, "check_equal": False}, "depth_template_file",
     "OVERRIDE-DEPTH make it harder. {{ method_instruction }}\nGiven prompt:\n{{ instruction }}",
     instruction("Plan a trip."), evol_answers),
    (EvolInstruct, {"methods": ["breadth"], "respond": False}, "breadth_template_file",
     "OVERRIDE-BREADTH a rarer task like: {{ instruction }}", instruction("Plan a trip."), evol_answers),
    (EvolInstruct, {"methods": ["constraints"], "respond": False}, "equal_template_file",
     'OVERRIDE-EQUAL same? A: {{ original }} B: {{ evolved }} {"equal": bool}', instruction("Plan a trip."),
     evol_answers),
    (SelfInstruct, {"num_instructions": 1, "seed_per_prompt": 2}, "classify_template_file",
     "OVERRIDE-CLASSIFY finite labels? {{ instruction }}", SEEDS, instance_answers),
    (SelfInstruct, {"num_instructions": 1, "seed_per_prompt": 2}, "output_first_template_file",
     "OVERRIDE-OUTPUT-FIRST label then input, {{ n }} for: {{ instruction }}", SEEDS, instance_answers),
    (SelfInstruct, {"num_instructions": 1, "seed_per_prompt": 2}, "input_first_template_file",
     "OVERRIDE-INPUT-FIRST {{ n }} for: {{ instruction }}", SEEDS, task_answers),
    (Refine, {"principles": ["Be warm."], "max_rounds": 1}, "generate_template_file",
     "OVERRIDE-GENERATE answer warmly: {{ instruction }}", instruction("Say hello."), refine_answers),
]


@pytest.mark.parametrize(("cls", "config", "field", "override", "records", "responder"), CASES,
                         ids=[f"{c[0].type}.{c[2]}" for c in CASES])
def test_a_template_file_override_is_the_prompt_and_changes_the_template_hash(
    tmp_path: Path, cls: type, config: dict[str, Any], field: str, override: str, records: list[Record],
    responder: Callable[[LLMRequest], str],
) -> None:
    marker = override.split()[0]
    (tmp_path / "mine.j2").write_text(override, encoding="utf-8")

    default_llm, mine_llm = ScriptedLLM(responder), ScriptedLLM(responder)
    default, _ = run_steps([cls(**config)], records, llms={"default": default_llm}, base_dir=tmp_path)
    mine, _ = run_steps([cls(**config, **{field: "mine.j2"})], records, llms={"default": mine_llm},
                        base_dir=tmp_path)

    assert default.kept and len(mine.kept) == len(default.kept)
    sent = [request_text(r) for r in mine_llm.requests]
    assert any(marker in t for t in sent), f"{marker} never reached the model"
    assert not any(marker in request_text(r) for r in default_llm.requests)
    # the override was rendered (its variables filled in) before it was sent
    assert all("{{" not in t and "for:  " not in t for t in sent)
    before = {r["lineage"]["template_hash"] for r in default.kept}
    after = {r["lineage"]["template_hash"] for r in mine.kept}
    assert before.isdisjoint(after)


def test_a_missing_override_file_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="equal_template_file 'nope.j2' does not exist"):
        run_steps([EvolInstruct(equal_template_file="nope.j2")], instruction("x"),
                  llms={"default": ScriptedLLM(evol_answers)}, base_dir=tmp_path)


def test_editing_an_override_file_changes_the_step_fingerprint(tmp_path: Path) -> None:
    step = SelfInstruct(classify_template_file="c.j2")
    ctx = StepContext(step_name=step.instance_name, base_dir=tmp_path, run_id="t")
    (tmp_path / "c.j2").write_text("one {{ instruction }}", encoding="utf-8")
    first = step.fingerprint_extra(ctx)
    (tmp_path / "c.j2").write_text("two {{ instruction }}", encoding="utf-8")
    assert first and step.fingerprint_extra(ctx) != first


# ------------------------------------------------------------------ documented defaults
DEFAULT = re.compile(r"Default: prompts/(\w+\.\w+)")


def templates_of(step: Any) -> set[str]:
    """Hashes of the templates a step built in setup."""
    out: set[str] = set()
    for value in (step.__pydantic_private__ or {}).values():
        values = value.values() if isinstance(value, dict) else [value]
        out |= {t.hash for t in values if isinstance(t, Template)}
    return out


def documented_defaults() -> list[tuple[str, str, str]]:
    load_builtins()
    out = []
    for name, cls in sorted(_REGISTRY.items()):
        if not cls.__module__.startswith("tether.generate"):
            continue
        for field, info in cls.model_fields.items():
            m = DEFAULT.search(info.description or "")
            if m:
                out.append((name, field, m.group(1)))
    return out


DEFAULTS = documented_defaults()
NEEDS = {"preference_pairs": {"score_column": "s"}}


def test_the_documented_defaults_cover_every_template_field() -> None:
    fields = {(n, f) for n, f, _ in DEFAULTS}
    assert ("snippet_tasks", "template") in fields and ("refine", "generate_template_file") in fields
    assert len(DEFAULTS) >= 20


@pytest.mark.parametrize(("name", "field", "file"), DEFAULTS, ids=[f"{n}.{f}" for n, f, _ in DEFAULTS])
def test_each_documented_default_is_the_shipped_file_the_step_loads(
    tmp_path: Path, name: str, field: str, file: str
) -> None:
    path = PROMPTS / file
    assert path.is_file(), f"{name}.{field} documents prompts/{file}, which does not ship"
    if path.suffix != ".j2":
        return
    cls = _REGISTRY[name]
    ctx = StepContext(step_name=name, base_dir=tmp_path, run_id="t")
    default = cls(**NEEDS.get(name, {}))
    default.setup(ctx)
    shipped = Template(path.read_text(encoding="utf-8"), file).hash
    assert shipped in templates_of(default), f"{name} does not load prompts/{file} by default"
    # overriding this field replaces exactly that template
    if field.endswith("_file"):
        (tmp_path / "o.j2").write_text(f"override of {field}", encoding="utf-8")
        mine = cls(**NEEDS.get(name, {}), **{field: "o.j2"})
    else:
        mine = cls(**NEEDS.get(name, {}), **{field: f"override of {field}"})
    mine.setup(ctx)
    assert shipped not in templates_of(mine), f"{name}.{field} is not the field that sets prompts/{file}"


# ------------------------------------------------------------------ the docs' field tables
def field_table(cls: type) -> str:
    rows = ["| field | default | meaning |", "|---|---|---|"]
    for field, info in cls.model_fields.items():
        if field in Step.model_fields:  # name, on_error, min_keep: the fields every step has
            continue
        if info.is_required():
            default = "(required)"
        elif info.default_factory is not None:
            default = repr(info.default_factory())  # type: ignore[call-arg]
        else:
            default = repr(info.default)
        rows.append(f"| `{field}` | `{default}` | {' '.join((info.description or '').split())} |")
    return "\n".join(rows)


def test_the_field_tables_in_the_docs_match_the_code() -> None:
    load_builtins()
    doc = (ROOT / "docs" / "generate.md").read_text(encoding="utf-8")
    sections = re.findall(r"^### `(\w+)` \((\w+)\)\n\n(.*?)\n\n(\|.*?)\n\n", doc, re.M | re.S)
    assert len(sections) >= 13
    for name, kind, description, table in sections:
        cls = _REGISTRY[name]
        assert kind == cls.kind and description == cls.description, name
        assert table == field_table(cls), f"docs/generate.md: the `{name}` field table differs from the code"
