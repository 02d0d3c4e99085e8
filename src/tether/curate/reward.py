"""Reward-model scoring with a local sequence-classification model folder.

The instruction and response go in as a text pair; the score is the single logit of a
one-label model (the usual reward head), or the log-probability of ``positive_label`` for
a multi-label classifier. Scored in padded batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PrivateAttr

from tether.curate._private import load_local_model
from tether.pipeline.registry import register
from tether.pipeline.step import FilterStep, Outcome, Verdict
from tether.records import ID, Record

if TYPE_CHECKING:
    from tether.pipeline.context import StepContext

log = logging.getLogger(__name__)


def load_classifier(path: str, device: str = "cpu") -> tuple[Any, Any]:
    """A local sequence-classification model folder and its tokenizer; nothing is downloaded."""
    return load_local_model(path, "AutoModelForSequenceClassification", device)


def reward_scores(
    model: Any, tok: Any, prompts: Sequence[str], responses: Sequence[str], *,
    batch_size: int = 16, max_length: int = 512, positive_label: int = -1,
) -> list[float]:
    """Reward of each (prompt, response) pair."""
    import torch

    out: list[float] = []
    for lo in range(0, len(prompts), batch_size):
        enc = tok(list(prompts[lo : lo + batch_size]), list(responses[lo : lo + batch_size]), padding=True,
                  truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits.float()
        if logits.shape[-1] == 1:
            out.extend(float(x) for x in logits[:, 0])
        else:
            out.extend(float(x) for x in torch.log_softmax(logits, dim=-1)[:, positive_label])
    return out


@register
class RewardModel(FilterStep):
    """Score pairs with a local reward model; reject below ``min_score``."""

    type: ClassVar[str] = "reward_model"
    description: ClassVar[str] = (
        "Score instruction/response pairs with a local sequence-classification (reward) model "
        "folder; reject below min_score (low_reward)."
    )

    model: str
    """A local model folder (AutoModelForSequenceClassification + tokenizer)."""
    instruction_field: str = "instruction"
    response_field: str = "response"
    min_score: float | None = None
    """Least reward kept; unset: score only."""
    positive_label: int = -1
    """For multi-label classifiers: the label whose log-probability is the score."""
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(512, ge=8)
    device: str = "cpu"

    _lm: Any = PrivateAttr(default=None)
    _scores: dict[str, float] = PrivateAttr(default_factory=dict)

    def input_columns(self) -> set[str]:
        return {self.instruction_field, self.response_field}

    def setup(self, ctx: StepContext) -> None:
        self._lm = load_classifier(str(ctx.resolve(self.model)), self.device)

    def teardown(self) -> None:
        self._lm = None

    async def run_batch(self, batch: Sequence[Record], ctx: StepContext) -> Outcome:
        if self._lm is None:
            self.setup(ctx)
        model, tok = self._lm
        prompts = [str(r.get(self.instruction_field) or "") for r in batch]
        responses = [str(r.get(self.response_field) or "") for r in batch]
        scores = reward_scores(model, tok, prompts, responses, batch_size=self.batch_size,
                               max_length=self.max_length, positive_label=self.positive_label)
        self._scores = {r[ID]: s for r, s in zip(batch, scores, strict=True)}
        return await super().run_batch(batch, ctx)

    def keep(self, record, ctx: StepContext) -> Verdict:  # noqa: ANN001
        s = self._scores[record[ID]]
        if self.min_score is not None and s < self.min_score:
            return Verdict(False, "low_reward", s)
        return Verdict(True, "", s)


__all__ = ["RewardModel", "load_classifier", "reward_scores"]
