"""Reward-model scoring with a local sequence-classification model folder.

Two ways to show the model a (prompt, response) pair, chosen from its tokenizer:

- ``chat``: when the tokenizer has a chat template (chat reward models: Skywork-Reward,
  ArmoRM, InternLM2-Reward, ...), the pair is the conversation ``[user: prompt, assistant:
  response]`` formatted with ``tokenizer.apply_chat_template``, as those models' cards score it;
- ``pair``: otherwise (classic cross-encoder reward models such as OpenAssistant's DeBERTa
  ones), the prompt and response go in as a text pair.

``input_format`` overrides the choice. The score is the single logit of a one-label model (the
usual reward head), or the log-probability of ``positive_label`` for a multi-label classifier.
Scored in padded batches; a batch gives the scores one-at-a-time scoring gives.

Example (YAML)::

    - reward_model: {model: models/skywork-reward, min_score: 0.0}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr

from tether.core.registry import register
from tether.core.step import FilterStep, Verdict
from tether.curate._private import ML_EXTRA, load_local_model
from tether.errors import ConfigError
from tether.records import Record

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)

InputFormat = Literal["auto", "chat", "pair"]


def load_classifier(path: str, device: str = "cpu") -> tuple[Any, Any]:
    """A local sequence-classification model folder and its tokenizer; nothing is downloaded.

    A tokenizer without a padding token pads with its end-of-sequence token (chat reward models
    often ship without one), so batches can be padded."""
    model, tok = load_local_model(path, "AutoModelForSequenceClassification", device)
    if getattr(tok, "pad_token", None) is None and getattr(tok, "eos_token", None) is not None:
        tok.pad_token = tok.eos_token
    if getattr(model.config, "pad_token_id", None) is None and getattr(tok, "pad_token_id", None) is not None:
        model.config.pad_token_id = tok.pad_token_id
    return model, tok


def has_chat_template(tok: Any) -> bool:
    """Whether ``tok`` carries a chat template (then the reward model is scored on chats)."""
    return bool(getattr(tok, "chat_template", None))


def resolve_format(tok: Any, input_format: InputFormat = "auto") -> Literal["chat", "pair"]:
    """``chat`` or ``pair`` for ``tok``: ``auto`` picks chat exactly when the tokenizer has a chat template."""
    if input_format == "auto":
        return "chat" if has_chat_template(tok) else "pair"
    if input_format == "chat" and not has_chat_template(tok):
        raise ConfigError("input_format is chat, but the reward model's tokenizer has no chat template",
                          hint="set input_format: pair (or auto) for a cross-encoder reward model")
    return input_format


def chat_texts(tok: Any, prompts: Sequence[str], responses: Sequence[str]) -> list[str]:
    """Each pair as the conversation ``[user: prompt, assistant: response]`` in the tokenizer's
    chat template (as text; its special tokens are part of it)."""
    return [tok.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                    tokenize=False)
            for p, r in zip(prompts, responses, strict=True)]


def reward_scores(
    model: Any, tok: Any, prompts: Sequence[str], responses: Sequence[str], *,
    batch_size: int = 16, max_length: int = 512, positive_label: int = -1, input_format: InputFormat = "auto",
) -> list[float]:
    """Reward of each (prompt, response) pair, as a chat or as a text pair (see the module)."""
    import torch

    fmt = resolve_format(tok, input_format)
    texts = chat_texts(tok, prompts, responses) if fmt == "chat" else None
    out: list[float] = []
    for lo in range(0, len(prompts), batch_size):
        if texts is not None:
            # the template already holds the special tokens: none are added a second time
            enc = tok(texts[lo : lo + batch_size], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt", add_special_tokens=False)
        else:
            enc = tok(list(prompts[lo : lo + batch_size]), list(responses[lo : lo + batch_size]), padding=True,
                      truncation=True, max_length=max_length, return_tensors="pt")
        enc = {k: v.to(model.device) for k, v in enc.items()}
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

    requires: ClassVar[dict[str, str]] = {"torch": ML_EXTRA, "transformers": ML_EXTRA}
    type: ClassVar[str] = "reward_model"
    description: ClassVar[str] = (
        "Score instruction/response pairs with a local sequence-classification (reward) model "
        "folder, as a chat when its tokenizer has a chat template, else as a text pair; reject below "
        "min_score (low_reward)."
    )

    model: str
    """A local model folder (AutoModelForSequenceClassification + tokenizer)."""
    instruction_field: str = "instruction"
    """The column holding the instruction (the user turn)."""
    response_field: str = "response"
    """The column holding the response scored (the assistant turn)."""
    min_score: float | None = None
    """Least reward kept; unset: score only."""
    input_format: InputFormat = "auto"
    """chat: the user/assistant conversation in the tokenizer's chat template; pair: a text pair
    (cross-encoders); auto: chat when the tokenizer has a chat template."""
    positive_label: int = -1
    """For multi-label classifiers: the label whose log-probability is the score."""
    batch_size: int = Field(16, ge=1)
    """Pairs per forward pass."""
    max_length: int = Field(512, ge=8)
    """Most tokens per scored input; longer ones are cut at the end."""
    device: str = "cpu"
    """The torch device the model runs on (cpu, cuda, cuda:1, mps)."""

    _lm: Any = PrivateAttr(default=None)

    def input_columns(self) -> set[str]:
        return {self.instruction_field, self.response_field}

    def setup(self, ctx: StepContext) -> None:
        self._lm = load_classifier(str(ctx.resolve(self.model)), self.device)
        try:
            fmt = resolve_format(self._lm[1], self.input_format)
        except ConfigError as exc:
            raise ConfigError(f"{self.instance_name}: {exc.message} ({self.model})", hint=exc.hint) from None
        ctx.stats["input_format"] = fmt
        log.info("%s: scoring %s as %s", self.instance_name, self.model,
                 "chats (the tokenizer's chat template)" if fmt == "chat" else "text pairs")

    def teardown(self) -> None:
        self._lm = None

    def keep_batch(self, records: Sequence[Record], ctx: StepContext) -> list[Verdict]:
        """The reward of every (instruction, response) of the batch in one pass of the model."""
        if self._lm is None:
            self.setup(ctx)
        model, tok = self._lm
        prompts = [str(r.get(self.instruction_field) or "") for r in records]
        responses = [str(r.get(self.response_field) or "") for r in records]
        scores = reward_scores(model, tok, prompts, responses, batch_size=self.batch_size,
                               max_length=self.max_length, positive_label=self.positive_label,
                               input_format=self.input_format)
        return [Verdict(False, "low_reward", s) if self.min_score is not None and s < self.min_score
                else Verdict(True, "", s) for s in scores]


__all__ = ["InputFormat", "RewardModel", "chat_texts", "has_chat_template", "load_classifier", "resolve_format",
           "reward_scores"]
