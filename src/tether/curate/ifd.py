"""IFD quality selection (Superfiltering, Li et al. 2024) with a small local causal LM.

IFD(x, y) = PPL(y | x) / PPL(y): how much the instruction helps the model predict the
response. IFD >= 1 means the instruction does not help (the pair is likely misaligned) and
is dropped; among the rest, higher IFD means a harder, more informative pair. The step
keeps the top ``top_percent`` % or those at or above ``min_ifd``.

Perplexities are computed in padded batches (right padding, so causal attention never sees
the padding) and match a one-sample-at-a-time computation (tested to 1e-4).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PrivateAttr, model_validator

from tether.core.registry import register
from tether.core.step import GlobalStep, Outcome, Verdict
from tether.curate._private import ML_EXTRA, load_local_model
from tether.records import Record

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)


def load_causal_lm(path: str, device: str = "cpu") -> tuple[Any, Any]:
    """A local causal LM folder (``save_pretrained``) and its tokenizer; nothing is downloaded."""
    return load_local_model(path, "AutoModelForCausalLM", device)


def _encode(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"]) if text else []


def _pieces(tok: Any, prompts: Sequence[str], responses: Sequence[str], max_length: int) -> list[tuple[list[int], list[int]]]:
    """(context ids, response ids) for the conditioned and the plain runs of each pair."""
    start = next((t for t in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) if t is not None), 0)
    out = []
    for p, r in zip(prompts, responses, strict=True):
        rid = _encode(tok, r)[: max_length - 1]
        room = max_length - 1 - len(rid)
        pid = _encode(tok, p)
        pid = pid[len(pid) - room :] if room > 0 else []
        out.append(([start, *pid], rid))  # conditioned on the instruction
        out.append(([start], rid))  # the response alone
    return out


def _nll(model: Any, batch: list[tuple[list[int], list[int]]], pad_id: int) -> list[float]:
    """Mean negative log-likelihood of each response given its context, in one padded batch."""
    import torch

    seqs = [c + r for c, r in batch]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    target = torch.zeros((len(seqs), width), dtype=torch.bool)
    for i, ((c, _r), s) in enumerate(zip(batch, seqs, strict=True)):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
        target[i, len(c) : len(s)] = True
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    tok_lp = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    tmask = target[:, 1:]
    counts = tmask.sum(dim=1)
    sums = (tok_lp * tmask).sum(dim=1)
    return [float("nan") if int(n) == 0 else float(-s / n) for s, n in zip(sums, counts, strict=True)]


def ifd_scores(
    model: Any, tok: Any, prompts: Sequence[str], responses: Sequence[str], *, batch_size: int = 8, max_length: int = 512
) -> list[float]:
    """IFD of each (prompt, response) pair, batched. ``nan`` where the response is empty."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    pieces = _pieces(tok, prompts, responses, max_length)
    # sort by length so batches pad little; restore order after
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i][0]) + len(pieces[i][1]))
    nll = [0.0] * len(pieces)
    for lo in range(0, len(order), batch_size * 2):
        idx = order[lo : lo + batch_size * 2]
        for i, v in zip(idx, _nll(model, [pieces[i] for i in idx], pad), strict=True):
            nll[i] = v
    return [math.exp(nll[2 * k] - nll[2 * k + 1]) for k in range(len(prompts))]


def ifd_one(model: Any, tok: Any, prompt: str, response: str, *, max_length: int = 512) -> float:
    """IFD of one pair, unbatched (the reference the batched version is checked against)."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    cond, plain = _pieces(tok, [prompt], [response], max_length)
    return math.exp(_nll(model, [cond], pad)[0] - _nll(model, [plain], pad)[0])


@register
class IFDSelect(GlobalStep):
    """Superfiltering: score pairs by IFD with a small local LM, keep the informative ones."""

    requires: ClassVar[dict[str, str]] = {"torch": ML_EXTRA, "transformers": ML_EXTRA}
    type: ClassVar[str] = "ifd"
    description: ClassVar[str] = (
        "IFD = PPL(response | instruction) / PPL(response) with a small local causal LM; drop IFD >= 1, "
        "keep the top k% or IFD >= min_ifd (ifd_ge_1, below_top_percent, low_ifd, ifd_undefined)."
    )

    model: str
    """A local causal LM folder (e.g. a saved GPT-2); nothing is downloaded."""
    instruction_field: str = "instruction"
    """The column holding the instruction."""
    response_field: str = "response"
    """The column holding the response."""
    prompt_template: str = "{instruction}\n"
    """How the instruction is shown to the model before the response."""
    top_percent: float | None = Field(None, gt=0, le=100)
    """Keep this percentage of all records, highest IFD first (after dropping IFD >= 1)."""
    min_ifd: float | None = Field(None, ge=0)
    """Keep records with IFD at or above this."""
    drop_ge_1: bool = True
    """Drop pairs with IFD >= 1 (the instruction does not help predict the response)."""
    batch_size: int = Field(8, ge=1)
    """Sequences per forward pass."""
    max_length: int = Field(512, ge=8)
    """Most tokens of instruction and response together: the response is kept (up to this), the
    instruction loses its start."""
    device: str = "cpu"
    """The torch device the model runs on (cpu, cuda, cuda:1, mps)."""

    _lm: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> IFDSelect:
        if "{instruction}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {instruction}")
        return self

    def input_columns(self) -> set[str]:
        return {self.instruction_field, self.response_field}

    def output_columns(self) -> set[str]:
        return {self.col("score")}

    def setup(self, ctx: StepContext) -> None:
        self._lm = load_causal_lm(str(ctx.resolve(self.model)), self.device)

    def teardown(self) -> None:
        self._lm = None

    def process(self, records: list[Record], ctx: StepContext) -> Outcome:
        if self._lm is None:
            self.setup(ctx)
        model, tok = self._lm
        prompts = [self.prompt_template.format(instruction=r.get(self.instruction_field) or "") for r in records]
        responses = [str(r.get(self.response_field) or "") for r in records]
        scores = ifd_scores(model, tok, prompts, responses, batch_size=self.batch_size, max_length=self.max_length)
        verdicts: list[Verdict] = []
        eligible = []
        for i, s in enumerate(scores):
            if math.isnan(s):
                verdicts.append(Verdict(False, "ifd_undefined", None))
            elif self.drop_ge_1 and s >= 1:
                verdicts.append(Verdict(False, "ifd_ge_1", s))
            elif self.min_ifd is not None and s < self.min_ifd:
                verdicts.append(Verdict(False, "low_ifd", s))
            else:
                verdicts.append(Verdict(True, "", s))
                eligible.append(i)
        if self.top_percent is not None:
            k = math.ceil(len(records) * self.top_percent / 100)
            ranked = sorted(eligible, key=lambda i: (-scores[i], i))
            for i in ranked[k:]:
                verdicts[i] = Verdict(False, "below_top_percent", scores[i])
        out = Outcome()
        for rec, v in zip(records, verdicts, strict=True):
            rec = {**rec, self.col("score"): v.score}
            (out.kept.append(rec) if v.keep else out.rejected.append((rec, v)))
        finite = [s for s in scores if not math.isnan(s)]
        ctx.stats.update({"mean_ifd": sum(finite) / len(finite) if finite else None,
                          "ifd_ge_1": sum(1 for s in finite if s >= 1)})
        return out


__all__ = ["IFDSelect", "ifd_one", "ifd_scores", "load_causal_lm"]
