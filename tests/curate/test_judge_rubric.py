"""The judge's rubric is a file: the shipped default, a rubric of one's own, and bad files
(each one clear line naming the file and the bad field)."""

from __future__ import annotations

import json

import pytest
from curate_helpers import FakeLLM, make_ctx, run_step
from pydantic import BaseModel, ConfigDict, Field

from tether.curate.judge import DEFAULT_RUBRIC, LLMJudge, default_rubric, load_rubric
from tether.errors import ConfigError
from tether.records import new_record

# The prompt and answer schema of the judge before its rubric became a file: the default
# rubric must send the very same request, so responses cached by earlier runs still hit.
OLD_RUBRIC = """Rate the RESPONSE to the INSTRUCTION on five attributes, each an integer from 1 to 5:
- helpfulness: how well it fulfils the instruction (1 useless, 5 fully helpful)
- correctness: factual and logical accuracy (1 wrong, 5 entirely correct)
- coherence: clarity and consistency of the writing (1 incoherent, 5 perfectly clear)
- complexity: intellectual depth needed to write it (1 basic, 5 expert)
- verbosity: length relative to what was asked (1 terse, 5 very verbose)
Give a one-sentence rationale.

INSTRUCTION:
{instruction}

RESPONSE:
{response}

Return JSON: {"helpfulness": n, "correctness": n, "coherence": n, "complexity": n, "verbosity": n, "rationale": "..."}"""


class OldJudgeScores(BaseModel):
    """The judge's answer: each attribute 1 (worst / least) to 5 (best / most)."""

    model_config = ConfigDict(extra="forbid", title="JudgeScores")

    helpfulness: int = Field(ge=1, le=5)
    correctness: int = Field(ge=1, le=5)
    coherence: int = Field(ge=1, le=5)
    complexity: int = Field(ge=1, le=5)
    verbosity: int = Field(ge=1, le=5)
    rationale: str = ""


SUPPORT = """\
criteria:
  - name: accuracy
    description: factual and logical accuracy
    scale: {min: 0, max: 10, low: wrong, high: entirely correct}
    min_score: 6
  - name: tone
    description: politeness towards the user
    scale: {min: 1, max: 3}
    max_score: 2
  - name: brevity
    description: says it in few words
    scale: {min: 1, max: 3}
score: [accuracy]
"""


def test_default_rubric_is_the_shipped_file_and_sends_the_old_request():
    assert DEFAULT_RUBRIC.is_file() and DEFAULT_RUBRIC.parent.name == "rubrics"
    rubric = default_rubric()
    assert rubric.names == ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
    assert rubric.score_names == ("helpfulness", "correctness", "coherence")
    step = LLMJudge()
    assert step.limits(rubric) == ({"helpfulness": 3, "correctness": 3, "coherence": 3}, {})
    req = step.request({"instruction": "I", "response": "R"}, "DATA-0123456789abcdef")
    expected = OLD_RUBRIC.replace("{instruction}", "<DATA-0123456789abcdef>\nI\n</DATA-0123456789abcdef>").replace(
        "{response}", "<DATA-0123456789abcdef>\nR\n</DATA-0123456789abcdef>")
    assert req.messages[-1].content == expected
    assert req.output_schema == OldJudgeScores.model_json_schema()
    assert step.output_columns() == {f"llm_judge__{c}" for c in
                                     ("score", "prompt_hash", "error", "raw", *rubric.names)}


def support_answer(prompt: str):
    resp = prompt.split("RESPONSE:\n", 1)[1]
    if "OFFSCALE" in resp:
        return {"accuracy": 11, "tone": 2, "brevity": 2}
    return {"accuracy": 3 if "WRONG" in resp else 9, "tone": 3 if "FAWNING" in resp else 2,
            "brevity": 1, "rationale": "r"}


def test_a_rubric_file_of_ones_own(tmp_path):
    (tmp_path / "support.yaml").write_text(SUPPORT)
    fake = FakeLLM(support_answer)
    ctx = make_ctx("llm_judge", base_dir=tmp_path, llms={"judge": fake})
    step = LLMJudge(llm="judge", rubric="support.yaml")
    recs = [new_record({"instruction": "Reset my password", "response": t})
            for t in ("Click 'forgot password'.", "WRONG: call the bank.", "FAWNING: oh dear valued friend", "OFFSCALE")]
    out = run_step(step, recs, ctx)
    # the thresholds come from the file: accuracy at least 6, tone at most 2; scale 0..10 is enforced
    assert [r["response"] for r in out.kept] == ["Click 'forgot password'."]
    assert {r["response"]: v.reason for r, v in out.rejected} == {
        "WRONG: call the bank.": "low_accuracy", "FAWNING: oh dear valued friend": "high_tone",
        "OFFSCALE": "judge_unparseable"}
    kept = out.kept[0]
    assert (kept["llm_judge__accuracy"], kept["llm_judge__tone"], kept["llm_judge__brevity"]) == (9, 2, 1)
    assert kept["llm_judge__score"] == 9  # score: [accuracy]
    assert "llm_judge__helpfulness" not in kept
    prompt = fake.calls[0].messages[-1].content
    assert prompt.startswith("Rate the RESPONSE to the INSTRUCTION on three attributes, each an integer on the "
                             "scale shown:\n- accuracy: factual and logical accuracy (0 wrong, 10 entirely correct)\n"
                             "- tone: politeness towards the user (1, 3)\n")
    assert prompt.endswith('Return JSON: {"accuracy": n, "tone": n, "brevity": n, "rationale": "..."}')
    schema = fake.calls[0].output_schema
    assert schema["properties"]["accuracy"]["maximum"] == 10 and schema["properties"]["accuracy"]["minimum"] == 0
    assert schema["required"] == ["accuracy", "tone", "brevity"]
    # the step's own thresholds replace the file's
    out = run_step(LLMJudge(llm="judge", rubric="support.yaml", min_scores={"accuracy": 2}, max_scores={}), recs,
                   make_ctx("llm_judge", base_dir=tmp_path, llms={"judge": FakeLLM(support_answer)}))
    assert len(out.kept) == 3
    # editing the file changes the step's fingerprint
    before = step.fingerprint_extra(ctx)
    (tmp_path / "support.yaml").write_text(SUPPORT.replace("min_score: 6", "min_score: 7"))
    assert LLMJudge(llm="judge", rubric="support.yaml").fingerprint_extra(ctx) != before
    assert LLMJudge().fingerprint_extra(ctx) is None  # the default: nothing beyond the config


def test_a_json_rubric_with_one_criterion(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"criteria": [{"name": "tone", "description": "politeness"}]}))
    rubric = load_rubric(tmp_path / "r.json")
    assert rubric.header().splitlines()[0] == (
        "Rate the RESPONSE to the INSTRUCTION on one attribute, an integer from 1 to 5:")


def test_record_text_is_data_never_a_template(tmp_path):
    (tmp_path / "support.yaml").write_text(SUPPORT)
    seen = []

    def answer(prompt: str):
        seen.append(prompt)
        return {"accuracy": 9, "tone": 1, "brevity": 1}

    texts = ["{{ 7 * 7 }} {% for x in y %}{{ x }}{% endfor %}", "{instruction} {response} {criteria} {0} %s"]
    recs = [new_record({"instruction": texts[0], "response": texts[1]})]
    run_step(LLMJudge(llm="judge", rubric="support.yaml"), recs,
             make_ctx("llm_judge", base_dir=tmp_path, llms={"judge": FakeLLM(answer)}))
    from test_judge import fenced

    assert fenced(seen[0]) == texts and "49" not in seen[0]


BAD = {
    "missing.yaml": (None, "rubric file {p} does not exist"),
    "syntax.yaml": ("criteria: [\n  {name: tone\n", "rubric file {p} is not valid YAML/JSON at line"),
    "list.yaml": ("- name: tone\n", "rubric file {p}: expected a mapping with criteria: [...], got list"),
    "empty.yaml": ("criteria: []\n", "rubric file {p}: criteria: List should have at least 1 item"),
    "nodesc.yaml": ("criteria:\n  - {name: tone}\n", "rubric file {p}: criteria[0].description: Field required"),
    "scale.yaml": ("criteria:\n  - {name: a, description: d}\n  - {name: tone, description: d, scale: {min: 5, max: 1}}\n",
                   "rubric file {p}: criteria[1].scale: min (5) must be below max (1)"),
    "typo.yaml": ("criteria:\n  - {name: tone, description: d, scael: {min: 1, max: 3}}\n",
                  "rubric file {p}: criteria[0].scael: Extra inputs are not permitted"),
    "name.yaml": ("criteria:\n  - {name: Tone Of Voice, description: d}\n",
                  "rubric file {p}: criteria[0]: name 'Tone Of Voice' is not snake_case"),
    "reserved.yaml": ("criteria:\n  - {name: score, description: d}\n", "name 'score' is reserved"),
    "dup.yaml": ("criteria:\n  - {name: tone, description: a}\n  - {name: tone, description: b}\n",
                 "rubric file {p}: criterion names must be unique; repeated: tone"),
    "score.yaml": ("criteria:\n  - {name: tone, description: d}\nscore: [tone, style]\n",
                   "rubric file {p}: score names 'style', which is not a criterion (criteria: tone)"),
    "two.yaml": ("criteria:\n  - {name: tone}\n  - {name: style}\n",
                 "criteria[0].description: Field required (and 1 more problem)"),
    "binary.yaml": (b"\xff\xfe\x00criteria", "rubric file {p} is not UTF-8 text"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_rubric_file_is_one_clear_line(tmp_path, name):
    content, message = BAD[name]
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif content is not None:
        p.write_text(content)
    step = LLMJudge(rubric=name)
    with pytest.raises(ConfigError) as info:
        step.setup(make_ctx(base_dir=tmp_path))
    text = info.value.message
    assert "\n" not in text and text.startswith("rubric file ")
    assert message.format(p=p) in text, text
    assert info.value.hint


def test_thresholds_must_name_criteria_of_the_rubric(tmp_path):
    (tmp_path / "support.yaml").write_text(SUPPORT)
    with pytest.raises(ConfigError, match=r"llm_judge.max_scores names 'verbosity', which is not a criterion of "
                                          r"rubric file .*support.yaml \(criteria: accuracy, tone, brevity\)"):
        LLMJudge(rubric="support.yaml", max_scores={"verbosity": 4}).setup(make_ctx(base_dir=tmp_path))


def test_pipeline_check_reads_the_rubric_beside_the_pipeline(tmp_path, monkeypatch):
    from tether.io import Read
    from tether.pipeline.builtins import Select
    from tether.pipeline.context import StepContext
    from tether.pipeline.runner import check_columns

    (tmp_path / "support.yaml").write_text(SUPPORT)
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"instruction": "i", "response": "r"}) + "\n")
    monkeypatch.chdir(tmp_path.parent)  # run from elsewhere: the rubric is found beside the pipeline
    steps = [Read(path="pairs.jsonl"), LLMJudge(rubric="support.yaml"), Select(keep=["llm_judge__tone"])]
    check_columns(steps, lambda s: StepContext(step_name=s.instance_name, base_dir=tmp_path))
    with pytest.raises(ConfigError, match="llm_judge__verbosity"):
        check_columns([*steps[:2], Select(keep=["llm_judge__verbosity"])],
                      lambda s: StepContext(step_name=s.instance_name, base_dir=tmp_path))


def test_a_set_up_judge_pickles_as_its_config(tmp_path):
    import pickle

    (tmp_path / "support.yaml").write_text(SUPPORT)
    step = LLMJudge(llm="judge", rubric="support.yaml")
    recs = [new_record({"instruction": "Reset my password", "response": "Click 'forgot password'."})]
    run_step(step, recs, make_ctx("llm_judge", base_dir=tmp_path, llms={"judge": FakeLLM(support_answer)}))
    step.load_rubric(lambda p: tmp_path / p)  # its rubric and answer model are built
    again = pickle.loads(pickle.dumps(step))
    assert again.config_hash() == step.config_hash()
    assert again.load_rubric(lambda p: tmp_path / p).answer_model.model_json_schema()["required"] == [
        "accuracy", "tone", "brevity"]


def test_tether_validate_reads_the_rubric_beside_the_pipeline(tmp_path, monkeypatch):
    from tether.pipeline import Pipeline
    from tether.pipeline.preflight import preflight

    (tmp_path / "support.yaml").write_text(SUPPORT)
    (tmp_path / "bad.yaml").write_text("criteria:\n  - {name: tone, description: d, scale: {min: 5, max: 1}}\n")
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"instruction": "i", "response": "r"}) + "\n")
    monkeypatch.chdir(tmp_path.parent)
    steps = [{"read": {"path": "pairs.jsonl"}}, {"llm_judge": {"rubric": "support.yaml"}},
             {"select": {"keep": ["llm_judge__tone"]}}]
    cfg = {"llm": {"default": {"backend": "replay", "model": "m", "replay_file": "r.jsonl"}}, "steps": steps}
    pipe = Pipeline.from_dict(cfg, base_dir=tmp_path)
    problems, _ = preflight(pipe.config, pipe.steps, tmp_path)
    assert not [p for p in problems if "column" in p.message or "rubric" in p.message], problems
    steps[1] = {"llm_judge": {"rubric": "bad.yaml"}}
    pipe = Pipeline.from_dict(cfg, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"rubric file .*bad.yaml: criteria\[0\].scale: min \(5\) must be below max"):
        preflight(pipe.config, pipe.steps, tmp_path)
