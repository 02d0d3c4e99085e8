"""``grounded_qa``: question-answer pairs grounded in the user's documents.

Documents are chunked (Markdown-aware, size and overlap in words or characters); with
``related_chunks`` > 0, BM25 finds related chunks for multi-chunk questions. The model writes
pairs as structured output; an LLM judge then checks answerability and grounding and fails
closed (an unparseable verdict rejects the pair). Difficulty is scored with the embedding
model: question-passage cosine similarity, bucketed easy/medium/hard by percentile (a
question close to its passage's wording is easy).

Seed text is untrusted: it is wrapped in randomised delimiters and the system prompt tells the
model it is data, not instructions.

``snippet_tasks`` is the same machinery with another template: tasks (instruction, response)
inspired by code or text snippets, e.g. of a folder of code files read with ``read_files``.
A template sees ``source``: the document's ``source`` or ``path`` column (a file's path).

Example (YAML)::

    - read: {path: docs/}
    - grounded_qa: {per_chunk: 2, chunk_size: 150, related_chunks: 1}

    - read_files: {path: src/, glob: "**/*.py"}
    - snippet_tasks: {per_chunk: 2, chunk_size: 120}
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, model_validator

from tether.core.registry import register
from tether.core.step import GlobalStep, Outcome, Verdict
from tether.errors import LLMResponseError, RecordError
from tether.generate._private import (
    LLMFields,
    Template,
    apply_policy,
    fence_tag,
    file_digests,
    load_template,
    make_child,
    wrap,
)
from tether.generate.chunking import chunk_text
from tether.records import ID, LINEAGE, Record, digest
from tether.text import words

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)


class QAPair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


SchemaType = type[BaseModel]  # an alias: the `type` field of a step shadows the builtin in its body


class QAPairs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pairs: list[QAPair]


class TaskPair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction: str = Field(min_length=1)
    response: str = Field(min_length=1)


class TaskPairs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pairs: list[TaskPair]


class GroundingVerdict(BaseModel):
    """The judge's answer. Strict booleans: "yes", "maybe" or a missing field is unparseable."""

    model_config = ConfigDict(extra="ignore")
    answerable: StrictBool
    grounded: StrictBool
    reason: str = ""


def difficulty_buckets(similarity: np.ndarray, percentiles: tuple[float, float]) -> list[str]:
    """easy / medium / hard by percentile of question-passage similarity (high similarity: easy).

    Example:
        >>> difficulty_buckets(np.array([0.9, 0.5, 0.1]), (33.3, 66.7))
        ['easy', 'medium', 'hard']
    """
    if similarity.size == 0:
        return []
    lo, hi = np.percentile(similarity, list(percentiles))
    return ["easy" if s > hi else ("medium" if s > lo else "hard") for s in similarity]


class _Chunk:
    __slots__ = ("doc", "text", "heading", "id", "related")

    def __init__(self, doc: Record, text: str, heading: str, cid: str) -> None:
        self.doc, self.text, self.heading, self.id = doc, text, heading, cid
        self.related: list[_Chunk] = []


@register
class GroundedQA(GlobalStep, LLMFields):
    """Question-answer pairs from document chunks, judged for answerability and grounding."""

    type: ClassVar[str] = "grounded_qa"
    description: ClassVar[str] = (
        "Chunk documents, generate question-answer pairs per chunk (optionally with BM25-related "
        "chunks), judge answerability and grounding (fails closed), and score difficulty."
    )
    _recipe: ClassVar[str] = "grounded_qa"
    _template_name: ClassVar[str] = "grounded_qa.j2"
    _fields: ClassVar[tuple[str, str]] = ("question", "answer")
    _schema: ClassVar[SchemaType] = QAPairs

    text_column: str = "text"
    """The column holding each document's text."""
    chunk_size: int = Field(200, ge=1)
    """Chunk size in chunk_unit."""
    chunk_overlap: int = Field(20, ge=0)
    """Overlap of consecutive chunks of one section, in chunk_unit."""
    chunk_unit: Literal["words", "chars"] = "words"
    """Unit of chunk_size and chunk_overlap."""
    markdown: bool = True
    """Treat Markdown headings as chunk boundaries."""
    min_chunk_words: int = Field(8, ge=0)
    """Chunks with fewer words are not used."""
    max_chunks: int | None = Field(None, ge=1)
    """Use at most this many chunks (in document order)."""
    per_chunk: int = Field(2, ge=1)
    """Pairs asked for per chunk."""
    related_chunks: int = Field(0, ge=0)
    """BM25-related chunks added to each prompt, for multi-chunk questions (0: single chunk)."""
    template: str | None = None
    """The generation prompt (Jinja: passage, related, n, source). Default: prompts/grounded_qa.j2."""
    template_file: str | None = None
    """A file holding the generation prompt."""
    system: str | None = None
    """The system prompt (Jinja: tag). Default: prompts/grounded_system.j2."""
    system_file: str | None = None
    """A file holding the system prompt."""
    max_attempts: int = Field(3, ge=1)
    """Tries for a valid structured answer before the chunk is handled by on_error."""
    judge: bool = True
    """Check answerability and grounding with an LLM judge."""
    judge_llm: str | None = None
    """The judge model's name in the llm section (default: llm)."""
    judge_template: str | None = None
    """The judge prompt (Jinja: passage, question, answer). Default: prompts/grounded_judge.j2."""
    judge_template_file: str | None = None
    """A file holding the judge prompt."""
    judge_attempts: int = Field(1, ge=1)
    """Tries for a parseable verdict; after that the pair is rejected (judge_unparseable)."""
    difficulty: bool = True
    """Score difficulty with the embedding model."""
    difficulty_percentiles: tuple[float, float] = (100 / 3, 200 / 3)
    """Similarity percentiles splitting hard / medium / easy."""

    _tpl: Template | None = PrivateAttr(default=None)
    _sys: Template | None = PrivateAttr(default=None)
    _judge_tpl: Template | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> GroundedQA:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        lo, hi = self.difficulty_percentiles
        if not 0 <= lo <= hi <= 100:
            raise ValueError("difficulty_percentiles must be two increasing numbers in [0, 100]")
        return self

    def input_columns(self) -> set[str]:
        return {self.text_column}

    def output_columns(self) -> set[str]:
        cols = {*self._fields, "context", "chunk_ids", "source_document"}
        if self.judge:
            cols.add("judge_reason")
        if self.difficulty:
            cols |= {"difficulty", "difficulty_similarity"}
        return cols

    def removed_columns(self) -> set[str]:
        return {"*"}

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        return file_digests(self, ctx)

    def setup(self, ctx: StepContext) -> None:
        self._tpl = load_template(self._template_name, self.template, self.template_file, ctx)
        self._sys = load_template("grounded_system.j2", self.system, self.system_file, ctx, field="system")
        self._judge_tpl = load_template("grounded_judge.j2", self.judge_template, self.judge_template_file, ctx,
                                        field="judge_template")

    # ------------------------------------------------------------------ chunks
    def _chunks(self, records: list[Record], ctx: StepContext, out: Outcome) -> list[_Chunk]:
        chunks: list[_Chunk] = []
        short = 0
        for rec in records:
            text = rec.get(self.text_column)
            if not isinstance(text, str) or not text.strip():
                exc = RecordError(f"no text in column '{self.text_column}'", field=self.text_column,
                                  where=str(rec.get(ID)))
                apply_policy(self, exc, rec, out)
                continue
            for c in chunk_text(text, self.chunk_size, self.chunk_overlap, self.chunk_unit, self.markdown):
                if len(c.text.split()) < self.min_chunk_words:
                    short += 1
                    continue
                chunks.append(_Chunk(rec, c.text, c.heading, digest({"doc": rec[ID], "i": c.index, "t": c.text})))
        if self.max_chunks is not None:
            chunks = chunks[: self.max_chunks]
        ctx.stats["documents"] = len(records)
        ctx.stats["chunks"] = len(chunks)
        ctx.stats["chunks_too_short"] = short
        if self.related_chunks and len(chunks) > 1:
            self._relate(chunks)
        return chunks

    def _relate(self, chunks: list[_Chunk]) -> None:
        from rank_bm25 import BM25Okapi

        corpus = [words(c.text) or [""] for c in chunks]
        bm25 = BM25Okapi(corpus)
        for i, c in enumerate(chunks):
            scores = bm25.get_scores(corpus[i])
            scores[i] = -np.inf
            order = np.argsort(-scores, kind="stable")[: self.related_chunks]
            c.related = [chunks[j] for j in order if scores[j] > 0]

    # ------------------------------------------------------------------ generation
    async def _generate(self, chunk: _Chunk, ctx: StepContext) -> tuple[list[Record], Outcome]:
        assert self._tpl is not None and self._sys is not None
        tag = fence_tag(ctx, chunk.id)
        values = {"passage": wrap(chunk.text, tag), "related": [wrap(r.text, tag) for r in chunk.related],
                  "n": self.per_chunk, "tag": tag, "heading": chunk.heading, "source": _doc_source(chunk.doc)}
        prompt = self._tpl.render(self.instance_name, **values)
        system = self._sys.render(self.instance_name, **values)
        client = ctx.llm(self.llm)
        out = Outcome()
        try:
            obj, resp = await client.generate_structured(self.request(prompt, system=system), self._schema,
                                                         record_id=chunk.id, max_attempts=self.max_attempts)
        except Exception as exc:  # noqa: BLE001 - the on_error policy decides
            apply_policy(self, exc, self._chunk_record(chunk, ctx), out)
            return [], out
        context = "\n\n".join([chunk.text] + [r.text for r in chunk.related])
        parents = list(dict.fromkeys([chunk.doc[ID]] + [r.doc[ID] for r in chunk.related]))
        assert self._tpl is not None and self._sys is not None
        template_hash = digest([self._tpl.hash, self._sys.hash, self._judge_tpl.hash if (self.judge and self._judge_tpl) else None])
        made = []
        if not obj.pairs:  # type: ignore[attr-defined]
            ctx.stats["chunks_without_pairs"] += 1
        for j, pair in enumerate(obj.pairs):  # type: ignore[attr-defined]
            item = pair.model_dump()
            data = {**{f: item[f].strip() for f in self._fields}, "context": context,
                    "chunk_ids": [chunk.id] + [r.id for r in chunk.related],
                    "source_document": _doc_source(chunk.doc)}
            rec = make_child(self, parents, data, ctx, recipe=self._recipe, model=client.model_identity,
                             template_hash=template_hash, prompt_hash=resp.request_hash, salt=j)
            if j < self.per_chunk:
                made.append(rec)
            else:  # more than asked for: set aside, not dropped
                out.rejected.append((rec, Verdict(False, "over_quota", float(j + 1))))
        return made, out

    def _chunk_record(self, chunk: _Chunk, ctx: StepContext) -> Record:
        return make_child(self, chunk.doc, {"context": chunk.text, "chunk_ids": [chunk.id],
                                            "source_document": _doc_source(chunk.doc)}, ctx,
                          recipe=self._recipe, model=None, template_hash=None, prompt_hash=None)

    async def _judge(self, rec: Record, ctx: StepContext, out: Outcome) -> None:
        assert self._judge_tpl is not None and self._sys is not None
        q, a = self._fields
        # the question and answer are model output grown from untrusted text: fenced like the passage
        tag = fence_tag(ctx, "judge:" + rec[ID])
        values = {"passage": wrap(rec["context"], tag), "question": wrap(rec[q], tag), "answer": wrap(rec[a], tag),
                  "tag": tag}
        prompt = self._judge_tpl.render(self.instance_name, **values)
        system = self._sys.render(self.instance_name, **values)
        client = ctx.llm(self.judge_llm or self.llm)
        req = self.request(prompt, system=system).model_copy(update={"temperature": 0.0})
        try:
            verdict, _resp = await client.generate_structured(req, GroundingVerdict, record_id=rec[ID],
                                                              max_attempts=self.judge_attempts)
        except LLMResponseError as exc:
            # fail closed: a verdict we cannot read is not a pass
            out.rejected.append((rec, Verdict(False, "judge_unparseable", None, {"error": exc.raw or exc.message})))
            return
        except Exception as exc:  # noqa: BLE001 - the on_error policy decides
            apply_policy(self, exc, rec, out)
            return
        assert isinstance(verdict, GroundingVerdict)
        judged = {**rec, "judge_reason": verdict.reason}
        if not verdict.answerable:
            out.rejected.append((judged, Verdict(False, "unanswerable", 0.0, {"error": verdict.reason})))
        elif not verdict.grounded:
            out.rejected.append((judged, Verdict(False, "ungrounded", 0.0, {"error": verdict.reason})))
        else:
            out.kept.append(judged)

    def _score_difficulty(self, kept: list[Record], ctx: StepContext) -> list[Record]:
        if not kept:
            return kept
        emb = ctx.embedder()
        q = emb.encode([r[self._fields[0]] for r in kept])
        p = emb.encode([r["context"] for r in kept])
        sim = np.sum(q * p, axis=1)
        buckets = difficulty_buckets(sim, self.difficulty_percentiles)
        ctx.stats["difficulty"] = dict(Counter(buckets))
        return [{**r, "difficulty": b, "difficulty_similarity": float(s)}
                for r, b, s in zip(kept, buckets, sim, strict=True)]

    async def aprocess(self, records: list[Record], ctx: StepContext) -> Outcome:
        if self._tpl is None:
            self.setup(ctx)
        out = Outcome()
        chunks = self._chunks(records, ctx, out)
        ctx.stats["chunks_without_pairs"] = 0  # answered with an empty list: no pair to keep or reject
        results = await asyncio.gather(*(self._generate(c, ctx) for c in chunks))
        candidates: list[Record] = []
        for made, o in results:
            candidates.extend(made)
            out.extend(o)
        ctx.stats["candidates"] = len(candidates)
        if self.judge:
            judged = Outcome()
            await asyncio.gather(*(self._judge(r, ctx, judged) for r in candidates))
            order = {r[ID]: i for i, r in enumerate(candidates)}
            judged.kept.sort(key=lambda r: order[r[ID]])
            out.rejected.extend(judged.rejected)
            out.quarantined.extend(judged.quarantined)
            kept = judged.kept
        else:
            kept = candidates
        if self.difficulty:
            kept = self._score_difficulty(kept, ctx)
        out.kept.extend(kept)
        ctx.stats["rejected"] = dict(Counter(v.reason for _, v in out.rejected))
        return out


def _doc_source(doc: Record) -> str | None:
    """Where a document came from: its ``source`` column (documents), its ``path`` column (a
    folder of files read with ``read_files``), else its lineage source or id."""
    for key in ("source", "path"):
        src = doc.get(key)
        if isinstance(src, str):
            return src
    lin = doc.get(LINEAGE) or {}
    return lin.get("source") or doc.get(ID)


@register
class SnippetTasks(GroundedQA):
    """Tasks (instruction, response) inspired by code or text snippets: grounded_qa's machinery
    with the snippet template."""

    type: ClassVar[str] = "snippet_tasks"
    description: ClassVar[str] = (
        "Tasks (instruction, response) inspired by code or text snippets from a folder: the grounded_qa "
        "machinery with the snippet template."
    )
    _recipe: ClassVar[str] = "snippet_tasks"
    _template_name: ClassVar[str] = "snippet_task.j2"
    _fields: ClassVar[tuple[str, str]] = ("instruction", "response")
    _schema: ClassVar[SchemaType] = TaskPairs

    template: str | None = None
    """The generation prompt (Jinja: passage, related, n, source: its file). Default: prompts/snippet_task.j2."""
    judge: bool = False
    """Check the tasks with the grounding judge (off by default for snippets); it sees the
    instruction as the question and the response as the answer."""
    difficulty: bool = False
    """Score difficulty with the embedding model (off by default for snippets)."""
    markdown: bool = False
    """Treat Markdown headings as boundaries (off: a ``#`` in code is a comment)."""
    chunk_size: int = Field(120, ge=1)
    """Snippet size in chunk_unit."""


__all__ = ["GroundedQA", "GroundingVerdict", "QAPair", "QAPairs", "SnippetTasks", "TaskPair", "TaskPairs",
           "difficulty_buckets"]
