"""``self_instruct``: bootstrap tasks from a pool of seed tasks (Wang et al., 2023).

Each round shows the model a mix of seed and generated instructions and asks for new ones.
A new instruction is kept only if its ROUGE-L F-measure against every instruction already in
the pool is below ``rouge_threshold`` (0.7); instructions about unusable task types (images,
files, ...) are rejected by keyword. Kept instructions get instances: input-first, or
output-first for classification tasks. Generation stops at ``num_instructions``.

Input records are the seed tasks (``instruction``, optionally ``input``/``output``); output
records are new tasks: ``instruction``, ``input``, ``output``, ``is_classification``.

Example (YAML)::

    - read: {path: seed_tasks.jsonl}
    - self_instruct: {num_instructions: 100}
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from tether.core.registry import register
from tether.core.step import GlobalStep, Outcome, Verdict
from tether.generate._private import (
    LLMFields,
    Template,
    apply_policy,
    file_digests,
    load_template,
    make_child,
)
from tether.records import ID, Record, digest

if TYPE_CHECKING:
    from tether.core.context import StepContext

#: Keywords of task types a text model cannot do (from the Self-Instruct filter).
DEFAULT_BLOCKLIST = ["image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
                     "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram"]


class Instructions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instructions: list[str]


class TaskKind(BaseModel):
    model_config = ConfigDict(extra="ignore")
    is_classification: bool


class Instance(BaseModel):
    model_config = ConfigDict(extra="ignore")
    input: str = ""
    output: str


class Instances(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[Instance]


class RougePool:
    """Instructions seen so far and the highest ROUGE-L F-measure of a candidate against them.

    Uses the ``rouge-score`` package (its default tokenizer: lowercased alphanumeric words).
    """

    def __init__(self, texts: list[str] | None = None) -> None:
        from rouge_score import rouge_scorer, tokenize

        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        self._tokenize = tokenize.tokenize
        self._tokens: list[list[str]] = []
        for t in texts or []:
            self.add(t)

    def add(self, text: str) -> None:
        self._tokens.append(self._tokenize(text, None))

    def max_score(self, text: str) -> float:
        from rouge_score.rouge_scorer import _score_lcs

        cand = self._tokenize(text, None)
        return max((_score_lcs(ref, cand).fmeasure for ref in self._tokens), default=0.0)

    def __len__(self) -> int:
        return len(self._tokens)


def blocked_keyword(instruction: str, blocklist: list[str]) -> str | None:
    """The first blocked keyword the instruction contains (as a whole word), or None."""
    low = instruction.lower()
    for kw in blocklist:
        if re.search(rf"\b{re.escape(kw.lower())}\b", low):
            return kw
    return None


@register
class SelfInstruct(GlobalStep, LLMFields):
    """New tasks bootstrapped from seed tasks, with the ROUGE-L novelty rule."""

    type: ClassVar[str] = "self_instruct"
    description: ClassVar[str] = (
        "Bootstrap new tasks from seed tasks; keep an instruction only if its ROUGE-L against the pool is "
        "below a threshold; filter unusable task types; generate instances (output-first for classification)."
    )

    num_instructions: int = Field(100, ge=1)
    """Stop once this many new instructions are kept."""
    rouge_threshold: float = Field(0.7, gt=0.0, le=1.0)
    """Reject an instruction whose ROUGE-L F-measure against any pool instruction is at least this."""
    seed_per_prompt: int = Field(6, ge=0)
    """Seed instructions shown per request."""
    generated_per_prompt: int = Field(2, ge=0)
    """Generated instructions shown per request (once there are some)."""
    new_per_request: int = Field(8, ge=1)
    """Instructions asked for per request."""
    max_requests: int | None = Field(None, ge=1)
    """Give up after this many generation requests (default: 4 x num_instructions / new_per_request + 4)."""
    blocklist: list[str] = Field(default_factory=lambda: list(DEFAULT_BLOCKLIST))
    """Keywords of unusable task types; an instruction containing one is rejected."""
    min_words: int = Field(3, ge=1)
    """Shorter instructions are rejected."""
    max_words: int = Field(150, ge=1)
    """Longer instructions are rejected."""
    instances: bool = True
    """Generate instances (input, output) for each kept instruction."""
    instances_per_task: int = Field(1, ge=1)
    """Instances asked for per instruction (each becomes a record)."""
    template: str | None = None
    """The instruction-generation prompt (Jinja: tasks, n). Default: prompts/self_instruct.j2."""
    template_file: str | None = None
    """A file holding it."""
    classify_template_file: str | None = None
    """The classification check prompt (Jinja: instruction; asks for ``{"is_classification": bool}``).
    Default: prompts/self_instruct_classify.j2."""
    input_first_template_file: str | None = None
    """The input-first instance prompt (Jinja: instruction, n). Default: prompts/self_instruct_input_first.j2."""
    output_first_template_file: str | None = None
    """The output-first instance prompt for classification tasks (Jinja: instruction, n).
    Default: prompts/self_instruct_output_first.j2."""
    instruction_column: str = "instruction"
    """The seed records' instruction column."""

    _tpls: dict[str, Template] = PrivateAttr(default_factory=dict)

    def input_columns(self) -> set[str]:
        return {self.instruction_column}

    def output_columns(self) -> set[str]:
        return {"instruction", "input", "output", "is_classification", "rouge_l_max"}

    def removed_columns(self) -> set[str]:
        return {"*"}

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        return file_digests(self, ctx)

    def setup(self, ctx: StepContext) -> None:
        self._tpls = {
            "gen": load_template("self_instruct.j2", self.template, self.template_file, ctx),
            "classify": load_template("self_instruct_classify.j2", None, self.classify_template_file, ctx,
                                      field="classify_template"),
            "input_first": load_template("self_instruct_input_first.j2", None, self.input_first_template_file, ctx,
                                         field="input_first_template"),
            "output_first": load_template("self_instruct_output_first.j2", None, self.output_first_template_file,
                                          ctx, field="output_first_template"),
        }

    def _reject_reason(self, text: str, pool: RougePool) -> tuple[str | None, float, dict[str, Any]]:
        n_words = len(text.split())
        if n_words < self.min_words:
            return "too_short", float(n_words), {}
        if n_words > self.max_words:
            return "too_long", float(n_words), {}
        kw = blocked_keyword(text, self.blocklist)
        if kw is not None:
            return "unusable_task_type", 0.0, {"error": f"keyword '{kw}'"}
        if not text[0].isascii() or not text[0].isalnum():
            return "bad_start", 0.0, {}
        score = pool.max_score(text)
        if score >= self.rouge_threshold:
            return "near_copy", score, {}
        return None, score, {}

    async def aprocess(self, records: list[Record], ctx: StepContext) -> Outcome:
        if not self._tpls:
            self.setup(ctx)
        ctx.require(bool(records), "has no seed tasks", "read a seed task file before self_instruct")
        client = ctx.llm(self.llm)
        rng = ctx.rng("self_instruct")
        seeds = [r for r in records if str(r.get(self.instruction_column) or "").strip()]
        pool = RougePool([str(r[self.instruction_column]) for r in seeds])
        generated: list[Record] = []
        out = Outcome()
        limit = self.max_requests or (4 * self.num_instructions // self.new_per_request + 4)
        gen_tpl = self._tpls["gen"]
        requests = 0
        while len(generated) < self.num_instructions and requests < limit:
            shown_seeds = rng.sample(seeds, min(self.seed_per_prompt, len(seeds)))
            shown_gen = rng.sample(generated, min(self.generated_per_prompt, len(generated)))
            shown = shown_seeds + shown_gen
            rng.shuffle(shown)
            prompt = gen_tpl.render(self.instance_name, tasks=[r["instruction" if r in generated else
                                                                   self.instruction_column] for r in shown],
                                    n=self.new_per_request)
            requests += 1
            req = self.request(prompt, seed=requests if self.llm_seed is None else self.llm_seed + requests)
            try:
                obj, resp = await client.generate_structured(req, Instructions, record_id=f"round-{requests}")
            except Exception as exc:  # noqa: BLE001 - the on_error policy decides
                probe = make_child(self, shown, {"round": requests}, ctx, recipe="self_instruct", model=None,
                                   template_hash=gen_tpl.hash, prompt_hash=None)
                apply_policy(self, exc, probe, out)
                continue
            for text in obj.instructions:  # type: ignore[attr-defined]
                text = " ".join(text.split()).strip()
                if not text:
                    continue
                rec = make_child(self, shown, {"instruction": text}, ctx, recipe="self_instruct",
                                 model=client.model_identity, template_hash=gen_tpl.hash,
                                 prompt_hash=resp.request_hash)
                if len(generated) >= self.num_instructions:
                    out.rejected.append((rec, Verdict(False, "over_limit")))
                    continue
                reason, score, details = self._reject_reason(text, pool)
                rec["rouge_l_max"] = score if reason in (None, "near_copy") else None
                if reason is not None:
                    out.rejected.append((rec, Verdict(False, reason, score, details)))
                    continue
                pool.add(text)
                generated.append(rec)
        ctx.stats["requests"] = requests
        ctx.stats["kept_instructions"] = len(generated)
        ctx.stats["rejected"] = dict(Counter(v.reason for _, v in out.rejected))
        if len(generated) < self.num_instructions:
            ctx.stats["stopped_early"] = True
        if not self.instances:
            out.kept.extend({**r, "input": None, "output": None, "is_classification": None} for r in generated)
            return out
        import asyncio

        results = await asyncio.gather(*(self._instances(r, ctx) for r in generated))
        for o in results:
            out.extend(o)
        ctx.stats["rejected"] = dict(Counter(v.reason for _, v in out.rejected))
        return out

    async def _instances(self, task: Record, ctx: StepContext) -> Outcome:
        client = ctx.llm(self.llm)
        out = Outcome()
        try:
            kind, _ = await client.generate_structured(
                self.request(self._tpls["classify"].render(self.instance_name, instruction=task["instruction"]),
                             temperature=0.0), TaskKind, record_id=task[ID])
            is_cls = bool(kind.is_classification)  # type: ignore[attr-defined]
            tpl = self._tpls["output_first" if is_cls else "input_first"]
            obj, resp = await client.generate_structured(
                self.request(tpl.render(self.instance_name, instruction=task["instruction"], n=self.instances_per_task)),
                Instances, record_id=task[ID])
        except Exception as exc:  # noqa: BLE001 - the on_error policy decides
            apply_policy(self, exc, task, out)
            return out
        insts = obj.instances  # type: ignore[attr-defined]
        if not insts:
            out.rejected.append((task, Verdict(False, "no_instances")))
        lin = task["lineage"]
        template_hash = digest([lin["template_hash"], self._tpls["classify"].hash, tpl.hash])
        for j, inst in enumerate(insts):
            data = {"instruction": task["instruction"], "input": inst.input, "output": inst.output,
                    "is_classification": is_cls, "rouge_l_max": task.get("rouge_l_max")}
            rec = make_child(self, lin["parents"], data, ctx, recipe="self_instruct", model=client.model_identity,
                             template_hash=template_hash, prompt_hash=resp.request_hash, salt=j)
            if j < self.instances_per_task:
                out.kept.append(rec)
            else:  # the model wrote more than asked for: set aside, not dropped
                out.rejected.append((rec, Verdict(False, "over_quota", float(j + 1))))
        return out


__all__ = ["DEFAULT_BLOCKLIST", "RougePool", "SelfInstruct", "blocked_keyword"]
