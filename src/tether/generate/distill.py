"""``distill``: a teacher model answers prompts, ``n`` samples each; with a judge, the best and
worst samples become a preference pair (chosen / rejected).

``preference_pairs`` builds the same pairs from scores an earlier step wrote (a reward model
or a curation scorer), grouping the samples of one prompt.

Example (YAML)::

    - read: {path: prompts.jsonl}
    - distill: {llm: teacher, n: 4, preference: judge, judge_llm: judge}
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from tether.core.registry import register
from tether.core.step import GlobalStep, MapStep, Outcome, Verdict
from tether.errors import LLMResponseError
from tether.generate._private import LLMFields, Template, file_digests, load_template, make_child
from tether.records import ID, LINEAGE, Record, digest

if TYPE_CHECKING:
    from tether.core.context import StepContext


class JudgeScore(BaseModel):
    model_config = ConfigDict(extra="ignore")
    score: float = Field(ge=1, le=10)
    reason: str = ""


def best_and_worst(scores: Sequence[float | None]) -> tuple[int, int] | None:
    """Indices of the highest and lowest score (first wins ties); None when fewer than two scores.

    Example:
        >>> best_and_worst([3.0, 9.0, 3.0])
        (1, 0)
    """
    valid = [(s, i) for i, s in enumerate(scores) if s is not None]
    if len(valid) < 2:
        return None
    best = max(valid, key=lambda t: (t[0], -t[1]))[1]
    worst = min(valid, key=lambda t: (t[0], t[1]))[1]
    return best, worst


def pair_record(
    step: Any, prompt: str, responses: Sequence[Record], scores: Sequence[float | None], margin: float,
    ctx: StepContext, *, parents: list[str], model: str | None, template_hash: str | None,
    prompt_hash: str | None,
) -> tuple[Record | None, Verdict | None]:
    """A preference record from scored samples, or a rejecting verdict when no pair qualifies."""
    pick = best_and_worst(scores)
    if pick is None:
        return None, Verdict(False, "too_few_scored", float(sum(s is not None for s in scores)))
    b, w = pick
    gap = float(scores[b] - scores[w])  # type: ignore[operator]
    if gap < margin or b == w:
        return None, Verdict(False, "no_preference_margin", gap)
    data = {"prompt": prompt, "chosen": responses[b]["response"], "rejected": responses[w]["response"],
            "chosen_score": float(scores[b]), "rejected_score": float(scores[w]), "score_margin": gap}  # type: ignore[arg-type]
    return make_child(step, parents, data, ctx, recipe="distill", model=model, template_hash=template_hash,
                      prompt_hash=prompt_hash), None


@register
class Distill(MapStep, LLMFields):
    """A teacher answers each prompt n times; optionally a judge turns the samples into a pair."""

    type: ClassVar[str] = "distill"
    description: ClassVar[str] = (
        "A teacher model answers prompts (n samples each); with a judge, build preference pairs "
        "(chosen / rejected)."
    )

    prompt_column: str = "prompt"
    """The column holding each prompt."""
    system: str | None = None
    """A system prompt for the teacher."""
    n: int = Field(1, ge=1)
    """Samples per prompt."""
    preference: Literal["none", "judge"] = "none"
    """none: one record per sample (prompt, response); judge: one preference pair per prompt."""
    judge_llm: str | None = None
    """The judge's name in the llm section (default: llm)."""
    judge_template: str | None = None
    """The judge prompt (Jinja: prompt, response). Default: prompts/distill_judge.j2."""
    judge_template_file: str | None = None
    """A file holding the judge prompt."""
    min_margin: float = Field(1.0, ge=0.0)
    """Least score gap between chosen and rejected; smaller gaps reject the prompt (no_preference_margin)."""

    _judge_tpl: Template | None = PrivateAttr(default=None)

    def input_columns(self) -> set[str]:
        return {self.prompt_column}

    def output_columns(self) -> set[str]:
        if self.preference == "judge":
            return {"prompt", "chosen", "rejected", "chosen_score", "rejected_score", "score_margin"}
        return {"prompt", "response", "sample_index"}

    def removed_columns(self) -> set[str]:
        return {"*"}

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        return file_digests(self, ctx)

    def setup(self, ctx: StepContext) -> None:
        if self.preference == "judge":
            ctx.require(self.n >= 2, "preference: judge needs n >= 2 samples per prompt")
        self._judge_tpl = load_template("distill_judge.j2", self.judge_template, self.judge_template_file, ctx,
                                        field="judge_template")

    async def _score(self, prompt: str, response: str, rid: str, ctx: StepContext) -> tuple[float | None, str | None]:
        """The judge's score of one sample, or ``None`` and the judge's error when its answer
        cannot be read (such a score does not count; the pair needs two that do)."""
        assert self._judge_tpl is not None
        client = ctx.llm(self.judge_llm or self.llm)
        req = self.request(self._judge_tpl.render(self.instance_name, prompt=prompt, response=response),
                           temperature=0.0)
        try:
            obj, _ = await client.generate_structured(req, JudgeScore, record_id=rid)
        except LLMResponseError as exc:
            return None, exc.message
        return float(obj.score), None  # type: ignore[attr-defined]

    async def amap(self, record: Record, ctx: StepContext) -> Outcome:
        if self._judge_tpl is None:
            self.setup(ctx)
        prompt = record[self.prompt_column]
        client = ctx.llm(self.llm)
        req = self.request(str(prompt), system=self.system, n=self.n, sample_of=record[ID])
        resp = await client.generate(req, record_id=record[ID])
        samples = [make_child(self, record, {"prompt": prompt, "response": t, "sample_index": j}, ctx,
                              recipe="distill", model=client.model_identity, template_hash=None,
                              prompt_hash=resp.request_hash, salt=j)
                   for j, t in enumerate(resp.texts)]
        if self.preference == "none":
            return Outcome(kept=samples)
        judged = await asyncio.gather(*(self._score(prompt, s["response"], s[ID], ctx) for s in samples))
        scores = [sc for sc, _ in judged]
        errors = [err for _, err in judged]
        assert self._judge_tpl is not None
        pair, verdict = pair_record(self, prompt, samples, scores, self.min_margin, ctx, parents=[record[ID]],
                                    model=client.model_identity, template_hash=self._judge_tpl.hash,
                                    prompt_hash=resp.request_hash)
        if pair is None:
            assert verdict is not None
            scored = {**record, self.col("responses"): list(resp.texts), self.col("scores"): scores,
                      self.col("judge_errors"): errors}
            if any(errors):
                verdict = Verdict(verdict.keep, verdict.reason, verdict.score,
                                  {**verdict.details, "error": "judge: " + "; ".join(e for e in errors if e)})
            return Outcome(rejected=[(scored, verdict)])
        # the samples between the best and the worst are not in the pair: set aside, not dropped
        paired = best_and_worst(scores)
        assert paired is not None
        rest = [(s, Verdict(False, "not_paired", sc, {"error": f"judge: {err}"} if err else {}))
                for j, (s, sc, err) in enumerate(zip(samples, scores, errors, strict=True)) if j not in paired]
        return Outcome(kept=[pair], rejected=rest)


@register
class PreferencePairs(GlobalStep):
    """Pair the best and worst scored samples of each prompt (scores from an earlier step)."""

    type: ClassVar[str] = "preference_pairs"
    description: ClassVar[str] = (
        "Group samples by prompt and pair the highest- and lowest-scored response (reward or judge "
        "scores written by an earlier step)."
    )

    score_column: str
    """The column with each sample's score (e.g. reward__score)."""
    prompt_column: str = "prompt"
    """The column samples are grouped by."""
    response_column: str = "response"
    """The column holding each sample's response."""
    min_margin: float = Field(0.0, ge=0.0)
    """Least score gap between chosen and rejected."""

    def input_columns(self) -> set[str]:
        return {self.prompt_column, self.response_column, self.score_column}

    def output_columns(self) -> set[str]:
        return {"prompt", "chosen", "rejected", "chosen_score", "rejected_score", "score_margin"}

    def removed_columns(self) -> set[str]:
        return {"*"}

    def process(self, records: list[Record], ctx: StepContext) -> Outcome:
        groups: dict[str, list[Record]] = {}
        for r in records:
            groups.setdefault(str(r[self.prompt_column]), []).append(r)
        out = Outcome()
        for prompt, group in groups.items():
            samples = [{**r, "response": r[self.response_column]} for r in group]
            scores = [None if r.get(self.score_column) is None else float(r[self.score_column]) for r in group]
            models = {str(m) for r in group if (m := (r.get(LINEAGE) or {}).get("model")) is not None}
            pair, verdict = pair_record(self, prompt, samples, scores, self.min_margin, ctx,
                                        parents=[r[ID] for r in group], model=",".join(sorted(models)) or None,
                                        template_hash=None, prompt_hash=digest(prompt))
            if pair is None:
                assert verdict is not None
                out.rejected.extend((r, verdict) for r in group)
            else:
                out.kept.append(pair)
        return out


__all__ = ["Distill", "JudgeScore", "PreferencePairs", "best_and_worst", "pair_record"]
