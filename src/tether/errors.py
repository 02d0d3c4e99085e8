"""The error types every layer of tether raises.

The tree::

    TetherError                 exit 1 unless a child says otherwise
    ├── ConfigError             exit 2: a bad pipeline config, a bad flag, an unknown step
    ├── InputError              exit 3: input data that cannot be read as asked
    │   └── RecordError         one record is bad (carries where: file:line, field)
    ├── LLMError                exit 4: a model backend failed in a way retries could not fix
    │   ├── LLMTimeoutError
    │   ├── LLMRateLimitError
    │   ├── LLMResponseError    the answer came but is unusable (bad JSON, schema mismatch)
    │   ├── ReplayMissError     the replay backend has no answer for a request
    │   ├── BudgetExceededError a cost or token budget was reached; the run can be resumed
    │   └── ErrorRateExceededError  too many failures; the run stops, resumable
    ├── AuditGateError          exit 5: an audit gate failed
    ├── StepError               a step failed on a record and its on_error policy is "raise"
    └── RunStateError           exit 3: the run directory's own state (its cache) is broken;
                                the run stops, no record is quarantined for it

Every error carries a one-line message and, where one helps, a ``hint`` saying what to do.
The CLI prints ``error: MESSAGE`` and ``hint: HINT`` and exits with ``exit_code``.
"""

from __future__ import annotations


class TetherError(Exception):
    """Base of every error tether raises on purpose.

    ``aborts_run``: when true, a step's ``on_error`` policy does not apply; the run stops
    (cleanly, resumable) whatever the policy says.
    """

    exit_code: int = 1
    aborts_run: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(TetherError):
    """A pipeline config, a command-line flag or a step parameter is wrong."""

    exit_code = 2
    aborts_run = True


class InputError(TetherError):
    """Input data cannot be read as asked (missing file, bad encoding, missing column)."""

    exit_code = 3


class RecordError(InputError):
    """One record is bad. ``where`` is ``file:line`` when known, ``field`` the column."""

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        field: str | None = None,
        raw: str | None = None,
        hint: str | None = None,
    ) -> None:
        prefix = f"{where}: " if where else ""
        suffix = f" (field '{field}')" if field else ""
        super().__init__(f"{prefix}{message}{suffix}", hint=hint)
        self.where = where
        self.field = field
        self.raw = raw
        self.reason = message


class LLMError(TetherError):
    """A model backend failed and retries did not help."""

    exit_code = 4


class LLMTimeoutError(LLMError):
    """A request passed its total time-out."""


class LLMRateLimitError(LLMError):
    """The server kept answering 429 past the retry budget."""


class LLMResponseError(LLMError):
    """An answer came back but could not be used (malformed JSON, schema mismatch)."""

    def __init__(self, message: str, *, raw: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.raw = raw


class ReplayMissError(LLMError):
    """The replay backend has no recorded answer for a request."""


class BudgetExceededError(LLMError):
    """A ``max_cost_usd`` or ``max_tokens`` budget was reached. Rerun to resume."""

    aborts_run = True


class ErrorRateExceededError(LLMError):
    """Too many calls failed in a row or in a window; the run stops and can be resumed."""

    aborts_run = True


class AuditGateError(TetherError):
    """One or more audit gates failed."""

    exit_code = 5


class RunStateError(TetherError):
    """The run directory's own state is unusable (a corrupt ``cache.sqlite``): an environment
    fault, not a record's, so the run stops whatever ``on_error`` says."""

    exit_code = 3
    aborts_run = True


class StepError(TetherError):
    """A step failed on a record and its ``on_error`` policy is ``raise``."""

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        record_id: str | None = None,
        hint: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        where = ", ".join(p for p in (f"step {step}" if step else "", f"record {record_id}" if record_id else "") if p)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.step = step
        self.record_id = record_id
        if exit_code is not None:
            self.exit_code = exit_code


__all__ = [
    "AuditGateError",
    "BudgetExceededError",
    "ConfigError",
    "ErrorRateExceededError",
    "InputError",
    "LLMError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMTimeoutError",
    "RecordError",
    "ReplayMissError",
    "RunStateError",
    "StepError",
    "TetherError",
]
