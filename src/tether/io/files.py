"""The ``read_files`` step: a folder of files (code or text), each file one record.

Each file a glob pattern matches becomes a record with ``path`` (relative to the folder, with
``/``) and ``text`` (its UTF-8 content). A file that cannot be such a record is rejected with a
stable reason, never dropped: ``binary_file`` (a NUL byte in its first 8 KiB), ``not_utf8``,
``too_large`` (over ``max_bytes``; not read), ``empty_file``, ``unreadable``. Hidden files and
folders (a name starting with ``.``: ``.git``, ``.venv``) are not matched unless ``hidden``.

Example (YAML)::

    - read_files: {path: src/, glob: "**/*.py", max_bytes: 200000}
    - snippet_tasks: {per_chunk: 2, chunk_size: 120}

Example:
    >>> is_binary(b"def f():\\n    return 1\\n"), is_binary(b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00")
    (False, True)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from tether.core.registry import register
from tether.core.step import Outcome, SourceStep, Verdict
from tether.errors import InputError
from tether.io._private import file_sha256
from tether.records import ORIGIN_REAL, new_record

if TYPE_CHECKING:
    from tether.core.context import StepContext

SNIFF_BYTES = 8192
"""How much of a file is looked at for a NUL byte (git's and grep's rule for binary)."""


def is_binary(head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is binary: it holds a NUL byte."""
    return b"\x00" in head[:SNIFF_BYTES]


@register
class ReadFiles(SourceStep):
    """Read a folder of files (code or text): each file one record with its path and text."""

    type: ClassVar[str] = "read_files"
    description: ClassVar[str] = (
        "Read a folder of files (code or text) by glob: each file one record (path, text); binary, "
        "non-UTF-8, empty and too-large files are rejected with their reason."
    )

    path: str | list[str]
    """A folder (or a file), or a list of them; relative to the pipeline file."""
    glob: str | list[str] = "**/*"
    """Which files of each folder to read (pathlib patterns, e.g. "**/*.py"; a list: any of them)."""
    exclude: list[str] = Field(default_factory=list)
    """Patterns of paths (relative to the folder, fnmatch: * crosses /) not to read, e.g. "tests/*"."""
    hidden: bool = False
    """Also read hidden files and files in hidden folders (.git, .venv, ...)."""
    max_bytes: int = Field(1_000_000, ge=1)
    """A file larger than this is rejected (too_large) without being read."""
    limit: int | None = Field(None, ge=1)
    """Read at most this many files (in path order)."""

    @field_validator("path", "glob")
    @classmethod
    def _non_empty(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("give at least one")
        return v

    def output_columns(self) -> set[str]:
        return {"path", "text"}

    def peek_columns(self, ctx: StepContext) -> set[str] | None:
        """The columns are known before reading: ``output_columns``."""
        return set()

    def _roots(self, ctx: StepContext) -> list[Path]:
        paths = [self.path] if isinstance(self.path, str) else list(self.path)
        return [ctx.resolve(p) for p in paths]

    def files(self, root: Path) -> list[tuple[Path, str]]:
        """(file, path relative to ``root``) for each file of ``root`` the step reads, in path order."""
        if not root.exists():
            raise InputError(f"{root}: no such file or folder",
                             hint="check read_files.path; relative paths are read from the pipeline file's folder")
        if root.is_file():
            return [(root, root.name)]
        patterns = [self.glob] if isinstance(self.glob, str) else list(self.glob)
        found: dict[str, Path] = {}
        for pattern in patterns:
            for f in root.glob(pattern):
                rel = f.relative_to(root).as_posix()
                if rel in found or not f.is_file():
                    continue
                if not self.hidden and any(part.startswith(".") for part in Path(rel).parts):
                    continue
                if any(fnmatch.fnmatchcase(rel, ex) for ex in self.exclude):
                    continue
                found[rel] = f
        if not found:
            raise InputError(f"{root}: no files match {', '.join(patterns)}",
                             hint="check read_files.glob and exclude (hidden files need hidden: true)")
        return [(found[rel], rel) for rel in sorted(found)]

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        digests: dict[str, str] = {}
        for root in self._roots(ctx):
            for f, rel in self.files(root):
                size = f.stat().st_size
                digests[f"{root.name}/{rel}"] = file_sha256(f) if size <= self.max_bytes else f"size:{size}"
        return digests

    def _record(self, f: Path, rel: str, source: str, ctx: StepContext) -> tuple[dict[str, Any], Verdict | None]:
        """The file's record, and the verdict that rejects it (None: kept)."""
        lineage = {"origin": ORIGIN_REAL, "step": self.instance_name, "source": source, "run_id": ctx.run_id}
        try:
            size = f.stat().st_size
            if size > self.max_bytes:
                return (new_record({"path": rel}, **lineage),
                        Verdict(False, "too_large", float(size),
                                {"error": f"{size} bytes, over max_bytes={self.max_bytes}"}))
            raw = f.read_bytes()
        except OSError as exc:
            return new_record({"path": rel}, **lineage), Verdict(False, "unreadable", None, {"error": str(exc)})
        if is_binary(raw):
            return (new_record({"path": rel}, **lineage),
                    Verdict(False, "binary_file", float(len(raw)), {"error": "a NUL byte: a binary file"}))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            return (new_record({"path": rel}, **lineage),
                    Verdict(False, "not_utf8", float(len(raw)),
                            {"error": f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {line})"}))
        if not text.strip():
            return new_record({"path": rel}, **lineage), Verdict(False, "empty_file", 0.0, {"error": "no text"})
        return new_record({"path": rel, "text": text}, **lineage), None

    def read(self, ctx: StepContext) -> Iterator[Outcome]:
        batch = Outcome()
        kept = 0
        for root in self._roots(ctx):
            try:
                shown = root.relative_to(ctx.base_dir).as_posix()
            except ValueError:
                shown = str(root)
            for f, rel in self.files(root):
                if self.limit is not None and kept >= self.limit:
                    break
                source = shown if root.is_file() else (rel if shown == "." else f"{shown}/{rel}")
                rec, verdict = self._record(f, rel, source, ctx)
                if verdict is None:
                    batch.kept.append(rec)
                    kept += 1
                else:
                    batch.rejected.append((rec, verdict))
                if len(batch.kept) + len(batch.rejected) >= ctx.batch_size:
                    yield batch
                    batch = Outcome()
        if batch.kept or batch.rejected:
            yield batch


__all__ = ["ReadFiles", "is_binary"]
