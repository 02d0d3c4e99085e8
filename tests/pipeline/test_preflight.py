"""Checks before anything runs: inputs, columns, LLM names and keys, export formats; each
problem with the place in the YAML it comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import ConfigError, InputError
from tether.pipeline import Pipeline
from tether.pipeline.preflight import preflight


def _problems(raw: dict, base: Path) -> list[str]:
    pipe = Pipeline.from_dict(raw, base)
    problems, _ = preflight(pipe.config, pipe.steps, pipe.base_dir)
    return [p.line() for p in problems]


def test_a_missing_input_is_named_with_its_key(tmp_path: Path) -> None:
    lines = _problems({"steps": [{"read": {"path": "nope.jsonl"}}, {"length_filter": {"min_words": 1}}]}, tmp_path)
    assert lines == [f"steps[0].read.path: input 'nope.jsonl' does not exist (resolved to {tmp_path / 'nope.jsonl'})"]
    lines = _problems({"steps": [{"read": {"path": ["nope.jsonl", str(tmp_path)]}}]}, tmp_path)
    assert lines[0].startswith("steps[0].read.path[0]: input 'nope.jsonl' does not exist")


def test_an_input_whose_columns_cannot_be_read_is_not_passed_silently(tmp_path: Path) -> None:
    (tmp_path / "d.weird").write_text("text\n", encoding="utf-8")  # no reader for it
    lines = _problems({"steps": [{"read": {"path": "d.weird"}}, {"length_filter": {"min_words": 1}}]}, tmp_path)
    assert lines == ["steps[0].read: the input's columns cannot be read, so no step's columns can be checked"]


def test_an_undefined_llm_is_named_with_the_step_field(numbers: Path) -> None:
    raw = {"llm": {"teacher": {"model": "m"}},
           "steps": [{"read": {"path": str(numbers)}}, {"rename_me": None}]}
    raw["steps"][1] = {"distill": {"prompt_column": "text", "llm": "teacher", "n": 2, "preference": "judge",
                                   "judge_llm": "jduge"}}
    lines = _problems(raw, numbers.parent)
    assert lines == ["steps[1].distill.judge_llm: step distill names llm 'jduge', which the llm section does not "
                     "define (it defines: teacher)"]
    # the default name, with no llm section at all
    lines = _problems({"steps": [{"read": {"path": str(numbers)}}, {"prompt": {"template": "{{ text }}"}}]},
                      numbers.parent)
    assert lines == ["steps[1].prompt.llm: step prompt names llm 'default', which the llm section does not define "
                     "(it defines: none)"]


def test_an_unset_api_key_variable_is_named(numbers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_TEST_KEY", raising=False)
    raw = {"llm": {"default": {"model": "m", "api_key_env": "TETHER_TEST_KEY"},
                   "unused": {"model": "m", "api_key_env": "TETHER_OTHER_KEY"}},
           "steps": [{"read": {"path": str(numbers)}}, {"prompt": {"template": "{{ text }}"}}]}
    assert _problems(raw, numbers.parent) == [
        "llm.default.api_key_env: environment variable TETHER_TEST_KEY is not set (llm 'default', used by "
        "steps[1].prompt.llm, reads its API key from it)"]
    monkeypatch.setenv("TETHER_TEST_KEY", "sk-test")
    assert _problems(raw, numbers.parent) == []


def test_an_export_format_the_records_cannot_fill(numbers: Path) -> None:
    raw = {"steps": [{"read": {"path": str(numbers)}}], "export": {"formats": ["parquet", "preference", "text", "chat"]}}
    lines = _problems(raw, numbers.parent)
    assert lines[0] == ("export.formats[1]: export format 'preference' needs columns prompt+chosen+rejected or "
                        "instruction+chosen+rejected or question+chosen+rejected, but the last step's records have: "
                        "n, text")
    assert lines[1].startswith("export.formats[3]: export format 'chat' needs columns messages or instruction+response")
    assert len(lines) == 2  # text has its column
    # a step that writes the columns fills the format
    raw["steps"].append({"select": {"rename": {"text": "prompt", "n": "chosen"}}})
    raw["export"]["formats"] = ["chat", "prompt"]
    lines = _problems(raw, numbers.parent)
    assert lines[0].startswith("export.formats[0]: export format 'chat' needs")
    assert lines[1] == "export.formats[1]: unknown export format 'prompt'"


def test_every_problem_is_found_in_one_pass(numbers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_TEST_KEY", raising=False)
    raw = {"llm": {"default": {"model": "m", "api_key_env": "TETHER_TEST_KEY"}},
           "steps": [{"read": {"path": str(numbers)}}, {"select": {"keep": ["n"]}},
                     {"length_filter": {"min_words": 1}}, {"llm_judge": {"llm": "big"}}],
           "export": {"formats": ["alpaca"]}}
    wheres = [line.split(":")[0] for line in _problems(raw, numbers.parent)]
    assert wheres == ["steps[2].length_filter", "steps[3].llm_judge", "steps[3].llm_judge.llm", "export.formats[0]"]


def test_a_run_stops_on_them_before_any_step_runs(numbers: Path, tmp_path: Path) -> None:
    raw = {"steps": [{"read": {"path": str(numbers)}}], "export": {"formats": ["preference"]}}
    with pytest.raises(ConfigError, match=r"export.formats\[0\]: export format 'preference' needs"):
        Pipeline.from_dict(raw, tmp_path).run(tmp_path / "run")
    assert not (tmp_path / "run" / "steps").exists()
    with pytest.raises(InputError, match="steps.0..read.path: input 'gone.jsonl' does not exist"):
        Pipeline.from_dict({"steps": [{"read": {"path": "gone.jsonl"}}]}, tmp_path).run(tmp_path / "run2")
    with pytest.raises(ConfigError, match="names llm 'default'"):
        Pipeline.from_dict({"steps": [{"read": {"path": str(numbers)}}, {"prompt": {"template": "{{ text }}"}}]},
                           tmp_path).run(tmp_path / "run3")
    assert not (tmp_path / "run3" / "steps").exists()


def test_only_the_openai_backend_reads_an_api_key(numbers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_TEST_KEY", raising=False)
    raw = {"llm": {"default": {"backend": "replay", "model": "m", "replay_file": "c.jsonl",
                               "api_key_env": "TETHER_TEST_KEY"}},
           "steps": [{"read": {"path": str(numbers)}}, {"prompt": {"template": "{{ text }}"}}]}
    assert _problems(raw, numbers.parent) == []


def test_a_missing_audit_file_is_found_before_the_steps_run(numbers: Path, tmp_path: Path) -> None:
    raw = {"steps": [{"read": {"path": str(numbers)}}],
           "audit": {"reference": "real.jsonl", "families": ["diversity"]}}
    assert _problems(raw, tmp_path) == [
        f"audit.reference: 'real.jsonl' does not exist (resolved to {tmp_path / 'real.jsonl'})"]
    with pytest.raises(InputError, match="audit.reference: 'real.jsonl' does not exist"):
        Pipeline.from_dict(raw, tmp_path).run(tmp_path / "run")
    assert not (tmp_path / "run" / "steps").exists()


def test_optional_packages_a_step_or_its_backend_needs_are_checked_before_the_run(
    numbers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typing import ClassVar

    from tether.core.step import FilterStep, Verdict
    from tether.curate.ifd import IFDSelect
    from tether.curate.reward import RewardModel
    from tether.pipeline.registry import register

    @register
    class NeedsAPackage(FilterStep):
        type: ClassVar[str] = "needs_a_package_test"
        description: ClassVar[str] = "test-only: declares an optional package that is not installed"
        requires: ClassVar[dict[str, str]] = {"tether_no_such_package": "pip install tether-no-such-package"}

        def keep(self, record, ctx):  # noqa: ANN001, ANN201
            return Verdict(True)

    assert set(IFDSelect.requires) == set(RewardModel.requires) == {"torch", "transformers"}
    raw = {"llm": {"local": {"backend": "vllm", "model": "m"}},
           "steps": [{"read": {"path": str(numbers)}}, {"needs_a_package_test": {}},
                     {"prompt": {"template": "{{ text }}", "llm": "local"}}]}
    lines = _problems(raw, numbers.parent)
    assert "steps[1].needs_a_package_test: step needs_a_package_test needs the Python package " \
           "'tether_no_such_package', which is not installed" in lines
    assert "llm.local.backend: backend vllm (llm 'local') needs the Python package 'vllm', which is not " \
           "installed" in lines  # vllm is not installed here: the run would fail only when the step starts
    with pytest.raises(ConfigError, match="tether_no_such_package"):
        Pipeline.from_dict(raw, numbers.parent).run(numbers.parent / "run")
    assert not (numbers.parent / "run").exists()  # nothing ran
