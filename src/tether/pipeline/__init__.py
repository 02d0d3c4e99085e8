"""Steps, pipelines, config loading, the run directory and the local executor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether.core.context import StepContext
from tether.core.rundir import RunDir, StepStore
from tether.core.step import FilterStep, GlobalStep, MapStep, Outcome, SourceStep, Step, Verdict
from tether.pipeline.config import PipelineConfig, build_steps, config_from_dict, load_config
from tether.pipeline.progress import LogProgress, Progress
from tether.pipeline.registry import catalog, get_step_class, register
from tether.pipeline.runner import Runner, RunResult, run_in_memory


class Pipeline:
    """A list of steps and the options around them, built from YAML or Python.

    Example:
        >>> from tether.pipeline import Pipeline
        >>> pipe = Pipeline.from_dict({"steps": [{"read": {"path": "seeds.jsonl"}}]})
        >>> [s.type for s in pipe.steps]
        ['read']
    """

    def __init__(self, config: PipelineConfig, base_dir: str | Path | None = None) -> None:
        self.config = config
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.steps = build_steps(config)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> Pipeline:
        config, base = load_config(path, overrides)
        return cls(config, base)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: str | Path | None = None) -> Pipeline:
        return cls(config_from_dict(raw), base_dir)

    @classmethod
    def from_steps(cls, steps: list[Step], **options: Any) -> Pipeline:
        """Build from step objects (Python); goes through the same validation as YAML."""
        base_dir = options.pop("base_dir", None)
        raw = {**options, "steps": [s.config_dict() for s in steps]}
        return cls.from_dict(raw, base_dir)

    def validate(self) -> None:
        """Check step columns before anything runs; raises ConfigError on a mismatch.
        :func:`tether.pipeline.preflight.preflight` lists every problem ``tether validate`` reports."""
        Runner(self.config, Path("."), base_dir=self.base_dir).check()

    def run(self, run_dir: str | Path, *, progress: Progress | None = None, redo_from: str | None = None,
            fresh: bool = False, **options: Any) -> RunResult:
        """Run (or resume) the pipeline into ``run_dir``; what would stop it part-way (a missing
        input, an undefined LLM or an unset API-key variable, an export format the records cannot
        fill) stops it before the first step.

        ``redo_from`` (a step name) redoes that step and every later one even when they are up
        to date, reusing cached LLM answers (after fixing a cause their fingerprints do not
        see: a plugin's code, a server that failed); ``fresh`` redoes every step and sets the
        LLM response cache aside, so every request is asked again."""
        from tether.pipeline.preflight import check_before_run

        check_before_run(self.config, self.steps, self.base_dir)
        return Runner(self.config, run_dir, base_dir=self.base_dir, progress=progress, resource_options=options,
                      redo_from=redo_from, fresh=fresh).execute()


__all__ = [
    "FilterStep",
    "GlobalStep",
    "LogProgress",
    "MapStep",
    "Outcome",
    "Pipeline",
    "PipelineConfig",
    "Progress",
    "RunDir",
    "RunResult",
    "Runner",
    "SourceStep",
    "Step",
    "StepContext",
    "StepStore",
    "Verdict",
    "catalog",
    "get_step_class",
    "load_config",
    "register",
    "run_in_memory",
]
