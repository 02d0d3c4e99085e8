"""The dataset card: ``card.md`` in the Hugging Face dataset-card format, for every run.

A YAML header (license, language, task categories, size category, tags with ``synthetic``),
then how the data was made, what was filtered and why, the audit scorecard, known risks and
limits, intended use, and a plain statement that the data is synthetic. Built from
``manifest.json``, ``config.yaml``, the step folders and ``audit/report.json`` (optional).
What a run cannot know (license, intended use) comes from the config's ``card:`` section.

Example:
    >>> text = build_card(RunDir("runs/quickstart"))  # doctest: +SKIP
    >>> text.startswith("---\\nlicense:")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.core.rundir import RunDir
from tether.io._private import atomic_write_text
from tether.lineage._private import (
    audit_gates,
    audit_metrics,
    committed_parts,
    last_store,
    read_config,
    step_entries,
)
from tether.records import LINEAGE, ORIGIN_REAL, ORIGIN_SYNTHETIC

if TYPE_CHECKING:
    from tether.pipeline.manifest import Manifest

log = logging.getLogger(__name__)

DEFAULT_RISKS = [
    "Generated text can state things that are false (hallucination); grounding and judge filters "
    "reduce this but do not remove it.",
    "The data inherits the biases of the seed data and of the generating models, and can amplify them.",
    "Synthetic data is less diverse than real data; training on it alone, recursively, leads toward "
    "model collapse. Mix it with real data.",
    "Seed documents may contain personal data or text the generator repeats verbatim.",
]
DEFAULT_TERMS = (
    "Check the model provider's terms of use: some forbid using outputs to train competing models."
)


class CardConfig(BaseModel):
    """The config's ``card:`` section: what a run cannot infer about its data."""

    model_config = ConfigDict(extra="forbid")

    license: str = "other"
    """The dataset's license id (Hugging Face license identifiers: apache-2.0, cc-by-4.0, other...)."""
    pretty_name: str | None = None
    """The card's title; defaults to the pipeline name."""
    description: str | None = None
    """A paragraph on what the dataset is."""
    language: list[str] = Field(default_factory=lambda: ["en"])
    """Languages of the data (ISO 639-1)."""
    task_categories: list[str] | None = None
    """Hugging Face task categories; inferred from the columns when not given."""
    tags: list[str] = Field(default_factory=list)
    """Extra tags (``synthetic`` is always added)."""
    intended_use: str | None = None
    """What the data is for."""
    out_of_scope_use: str | None = None
    """What the data must not be used for."""
    known_limitations: list[str] = Field(default_factory=list)
    """Limits the authors know of, added to the standard risks of synthetic data."""
    model_terms: dict[str, str] = Field(default_factory=dict)
    """Model name -> its license or terms of use (a URL or a sentence)."""
    contact: str | None = None
    """Who to ask about the dataset."""


def card_config(config: dict[str, Any]) -> CardConfig:
    """The ``card`` section of a resolved config, validated (errors name ``card.FIELD``)."""
    from tether.core.validation import format_validation_error

    try:
        return CardConfig.model_validate(config.get("card") or {})
    except ValidationError as exc:
        raise format_validation_error(exc, prefix="card") from None


def size_category(n: int) -> str:
    """The Hugging Face size category of ``n`` records."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, name in bounds:
        if n < bound:
            return name
    return "n>1T" if n > 10**12 else "1B<n<10B"


def infer_task_categories(columns: set[str]) -> list[str]:
    """Task categories from the dataset's columns."""
    out = []
    if {"question", "answer"} <= columns:
        out.append("question-answering")
    if columns & {"messages", "instruction", "response", "prompt", "chosen", "completion"} or not out:
        out.append("text-generation")
    if "label" in columns:
        out.append("text-classification")
    return out


def _reject_reasons(run: RunDir) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for part in committed_parts(run):
        if part.status == "rejected":
            col = "reject_reason"
        elif part.status == "quarantined":
            col = "error_type"
        else:
            continue
        schema = pq.read_schema(part.path)
        if col not in schema.names:
            continue
        reasons = pq.read_table(part.path, columns=[col]).column(col).to_pylist()
        out.setdefault(part.step, Counter()).update(f"{part.status}: {r}" for r in reasons)
    return out


def _final(run: RunDir) -> tuple[int, set[str], Counter[str], Counter[str]]:
    """Rows, payload columns, origin counts and recipe counts of the final dataset."""
    store = last_store(run)
    if store is None:
        return 0, set(), Counter(), Counter()
    table = store.table()
    cols = {c for c in table.column_names if c not in ("id", LINEAGE) and "__" not in c}
    origins: Counter[str] = Counter()
    recipes: Counter[str] = Counter()
    if LINEAGE in table.column_names:
        for lin in table.column(LINEAGE).to_pylist():
            lin = lin or {}
            origins[lin.get("origin") or "unknown"] += 1
            if lin.get("recipe"):
                recipes[lin["recipe"]] += 1
    return table.num_rows, cols, origins, recipes


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str("" if v is None else v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "n/a" if v is None else str(v)


def _status(status: Any) -> str:
    """A scorecard status as the card shows it: failures stand out."""
    if status is None:
        return ""
    return "**FAIL**" if status == "fail" else str(status)


def _report_metrics(run: RunDir, report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Metric entries of the audit report: its ``metrics`` list (as ``tether.audit`` writes it,
    with ``family``, short ``metric`` name and ``status``), else any metric-like entry found."""
    listed = (report or {}).get("metrics")
    if isinstance(listed, list) and listed and all(isinstance(e, dict) and "family" in e for e in listed):
        return listed
    return list(audit_metrics(run).values())


def _gate_label(gate: dict[str, Any]) -> str:
    """``metric rule`` of a gate result (``tether.audit`` writes ``metric``; older reports ``name``)."""
    metric = gate.get("metric") or gate.get("name") or "?"
    return f"{metric} {gate['rule']}" if gate.get("rule") else str(metric)


def _gate_got(gate: dict[str, Any]) -> str:
    if gate.get("passed") is not False:
        return ""
    if gate.get("value") is not None:
        return f" (got {_fmt(gate['value'])})"
    return f" ({gate['note']})" if gate.get("note") else ""


def _read_report(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The audit report and, when it is there but cannot be read, why (``None`` when absent)."""
    if not path.exists():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except ValueError as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(data, dict):
        return None, f"not a JSON object: a {type(data).__name__}"
    return data, None


def build_card(run: RunDir, manifest: dict[str, Any] | None = None) -> str:
    """The card's Markdown text for a run directory."""
    m = manifest if manifest is not None else run.read_manifest()
    config = read_config(run)
    card = card_config(config)
    rows, cols, origins, recipes = _final(run)
    name = card.pretty_name or m.get("name") or config.get("name") or "dataset"
    n_syn = origins.get(ORIGIN_SYNTHETIC, 0)
    n_real = origins.get(ORIGIN_REAL, 0)
    tags = ["synthetic", "tether"] + [t for t in card.tags if t not in ("synthetic", "tether")]
    if n_real and n_syn:
        tags.append("hybrid")
    header = {
        "license": card.license,
        "pretty_name": name,
        "language": card.language,
        "task_categories": card.task_categories or infer_task_categories(cols),
        "size_categories": [size_category(rows)],
        "tags": tags,
    }
    out = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", "", f"# {name}", ""]
    share = f"{n_syn} of {rows} records ({100.0 * n_syn / rows:.1f}%)" if rows else "0 records"
    disclosure = (
        f"**This dataset holds no synthetic records.** All {rows} records are real records read from the run's "
        "inputs (`origin: real` in their lineage); no language model wrote any of them."
    ) if n_syn == 0 else (
        f"**This dataset is synthetic.** {share} were generated by language models in a `tether` "
        "pipeline and do not record real events, people or conversations"
        + (f"; the other {n_real} are real records mixed in, marked `origin: real` in their lineage." if n_real else ".")
        + " Every record carries its lineage (origin, the step and recipe that made it, its parents, "
        "the model and the hashes of its template, prompt and parameters)."
    )
    out += [disclosure, ""]
    if card.description:
        out += [card.description, ""]

    # ---- how it was made
    out += ["## How the data was made", ""]
    steps = m.get("steps", [])
    out += [_table(["#", "step", "type", "in", "kept", "rejected", "quarantined"],
                   [[s.get("index"), s.get("name"), s.get("type"), *[s.get("counts", {}).get(k, 0) for k in
                     ("in", "out", "rejected", "quarantined")]] for s in steps]), ""]
    if recipes:
        out += ["Recipes of the final records: " + ", ".join(f"`{r}` ({n})" for r, n in recipes.most_common()) + ".", ""]
    out += [f"Origin of the final records: {n_syn} synthetic, {n_real} real"
            + (f", {rows - n_syn - n_real} unknown" if rows - n_syn - n_real else "") + ".", ""]
    llms = config.get("llm") or {}
    out += ["### Models and their terms", ""]
    if llms:
        usage = m.get("llm") or {}
        model_rows = []
        for key, lc in llms.items():
            lc = lc or {}
            u = usage.get(key) or {}
            tokens = (u.get("prompt_tokens") or 0) + (u.get("completion_tokens") or 0) if isinstance(u, dict) else 0
            terms = card.model_terms.get(lc.get("model", ""), card.model_terms.get(key, DEFAULT_TERMS))
            shown = f"{tokens or 0} (incomplete)" if isinstance(u, dict) and u.get("incomplete") else tokens or ""
            model_rows.append([key, lc.get("backend"), lc.get("model"), shown, terms])
        out += [_table(["name", "backend", "model", "tokens", "terms"], model_rows), ""]
    else:
        out += ["No language model was called in this run.", ""]
    out += ["### Seeds and inputs", "", f"- run seed: `{config.get('seed', 0)}`"]
    for inp in m.get("inputs", []):
        out.append(f"- `{inp.get('path')}` (read by `{inp.get('step')}`, sha256 `{str(inp.get('sha256'))[:16]}…`)")
    out += ["", "### Parameters", "", "Each step's configuration as run:", "", "```yaml"]
    out += [yaml.safe_dump([{t: p} for _n, t, p in step_entries(config)], sort_keys=False, allow_unicode=True).rstrip()]
    out += ["```", ""]

    # ---- filtered
    out += ["## What was filtered", ""]
    reasons = _reject_reasons(run)
    total_in = steps[0].get("counts", {}).get("out", 0) if steps else 0
    frows = []
    for s in steps:
        c = s.get("counts", {})
        if c.get("rejected") or c.get("quarantined"):
            why = ", ".join(f"{r} ({n})" for r, n in (reasons.get(s.get("name"), Counter())).most_common())
            frows.append([s.get("name"), c.get("in", 0), c.get("rejected", 0), c.get("quarantined", 0),
                          f"{100.0 * (c.get('rejected', 0) + c.get('quarantined', 0)) / max(c.get('in', 0), 1):.1f}%", why])
    if frows:
        out += [_table(["step", "in", "rejected", "quarantined", "share", "reasons"], frows), ""]
    else:
        out += ["No record was rejected or quarantined.", ""]
    out += [f"The source step produced {total_in} records; the final dataset has {rows}. Rejected and quarantined "
            "records are kept in the run directory with their reasons (`tether lineage RUN --sql ...`).", ""]

    # ---- audit
    out += ["## Audit scorecard", ""]
    report, unreadable = _read_report(run.audit / "report.json")
    metrics = _report_metrics(run, report)
    scorecard = (report or {}).get("scorecard")
    skipped = (report or {}).get("skipped")
    if isinstance(scorecard, dict) and scorecard:
        reasons = skipped if isinstance(skipped, dict) else {}
        out += [_table(["family", "status"], [[fam, _status(st)] for fam, st in scorecard.items() if st != "skipped"]), ""]
        skipped_fams = [f"{fam} ({reasons[fam]})" if reasons.get(fam) else fam
                        for fam, st in scorecard.items() if st == "skipped"]
        if skipped_fams:
            out += ["Not measured: " + "; ".join(skipped_fams) + ".", ""]
    if metrics:
        out += [_table(["family", "metric", "value", "higher is better", "status"],
                       [[e.get("family"), e.get("metric") or e.get("name"), _fmt(e.get("value")),
                         _fmt(e.get("higher_is_better")), _status(e.get("status"))] for e in metrics]), ""]
    elif unreadable is not None:
        out += [f"The audit report `audit/report.json` could not be read ({unreadable}); the audit's results "
                "are unknown. Running the pipeline again audits the dataset again.", ""]
    elif report is None:
        error = m.get("audit_error")
        out += [f"The audit did not complete ({error}); the dataset's audit is missing." if error else
                "No audit was run for this dataset (add an `audit:` section to the pipeline).", ""]
    gates = audit_gates(run)
    failed = [g for g in gates if g.get("passed") is False]
    if gates:
        out += ["Gates: " + ", ".join(f"`{_gate_label(g)}` {'passed' if g.get('passed') else 'FAILED' + _gate_got(g)}"
                                      for g in gates) + ".", ""]

    # ---- risks, use
    out += ["## Known risks and limitations", ""]
    out += [f"- {r}" for r in [*card.known_limitations, *DEFAULT_RISKS]]
    out += [f"- The audit gate `{_gate_label(g)}` failed for this dataset{_gate_got(g)}." for g in failed]
    withheld = (m.get("dataset") or {}).get("withheld")
    if failed and withheld:
        out.append(f"- Because a gate failed, the dataset was withheld from `dataset/`: its files are in "
                   f"`{withheld}/`, not fit to ship as they are.")
    if unreadable is not None and not metrics:
        out.append("- The audit report could not be read: its quality, diversity, privacy and bias are unknown.")
    elif not metrics:
        out.append("- The dataset was not audited: its quality, diversity, privacy and bias are unmeasured.")
    out += ["", "## Intended use", ""]
    out += [card.intended_use or "Fine-tuning and evaluating language models, alongside real data. "
            "Not for drawing conclusions about real people or events.", ""]
    if card.out_of_scope_use:
        out += ["Out of scope: " + card.out_of_scope_use, ""]

    # ---- disclosure and reproduction
    out += ["## Disclosure", "", disclosure, ""]
    ds = m.get("dataset") or {}
    out += ["## Reproducing", "",
            f"- run id `{m.get('run_id')}`, tether {m.get('tether_version')}, Python {m.get('python')}",
            f"- config digest `{m.get('config_digest')}`, dataset digest `{ds.get('digest')}` ({ds.get('rows')} records)",
            "- `tether rerun RUN_DIR` replays the run from its config and LLM cache and checks the digest.", ""]
    if card.contact:
        out += ["## Contact", "", card.contact, ""]
    return "\n".join(out)


def write_card(run: RunDir, manifest: Manifest | dict[str, Any] | None = None) -> Path:
    """Write ``card.md`` into the run directory (atomically); returns its path."""
    data = manifest.data if manifest is not None and hasattr(manifest, "data") else manifest
    text = build_card(run, data if isinstance(data, dict) else None)
    path = run.root / "card.md"
    atomic_write_text(path, text)
    log.info("wrote the dataset card %s", path)
    return path


__all__ = ["CardConfig", "build_card", "card_config", "infer_task_categories", "size_category", "write_card"]
