"""A small Markdown-aware chunker: headings are boundaries, windows of ``size`` words or
characters with ``overlap``, and lines inside code fences are never taken for headings.

Written here rather than taken from a library: the splitters that fit (LangChain's,
LlamaIndex's) bring large dependency trees for some forty lines of logic.

Example:
    >>> doc = "# Soil\\nWorms help.\\n\\n# Water\\nKeep it damp."
    >>> [c.heading for c in chunk_text(doc, size=50)]
    ['Soil', 'Water']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """One piece of a document: its text, the heading path above it, and its place."""

    text: str
    heading: str
    index: int
    start: int
    """Offset of the window in its section, in the chunker's unit."""


def sections(text: str, markdown: bool = True) -> list[tuple[str, str]]:
    """Split a document at Markdown headings: ``(heading path, section text)`` pairs."""
    if not markdown:
        return [("", text)]
    out: list[tuple[str, list[str]]] = [("", [])]
    trail: list[tuple[int, str]] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            level = len(m.group(1))
            trail = [(lv, t) for lv, t in trail if lv < level] + [(level, m.group(2))]
            out.append((" > ".join(t for _, t in trail), [line]))
        else:
            out[-1][1].append(line)
    return [(h, "\n".join(lines).strip()) for h, lines in out if "\n".join(lines).strip()]


def _windows_words(text: str, size: int, overlap: int) -> list[tuple[int, str]]:
    # slices of the original text, so line breaks (code, lists) survive
    spans = [m.span() for m in _TOKEN.finditer(text)]
    if len(spans) <= size:
        return [(0, text)]
    step = size - overlap
    out = []
    for start in range(0, len(spans), step):
        last = min(len(spans), start + size) - 1
        out.append((start, text[spans[start][0] : spans[last][1]]))
        if start + size >= len(spans):
            break
    return out


def _windows_chars(text: str, size: int, overlap: int) -> list[tuple[int, str]]:
    if len(text) <= size:
        return [(0, text)]
    out = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):  # end at a space when one is near, not inside a word
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        out.append((start, text[start:end].strip()))
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return out


def chunk_text(
    text: str,
    size: int = 200,
    overlap: int = 20,
    unit: Literal["words", "chars"] = "words",
    markdown: bool = True,
) -> list[Chunk]:
    """Chunks of ``text``: no chunk crosses a heading; long sections are windowed.

    Args:
        size: window size in ``unit``.
        overlap: how much consecutive windows of one section share (less than ``size``).
        unit: ``words`` or ``chars``.
        markdown: treat ``#`` headings as boundaries (outside code fences).
    """
    if size < 1 or overlap < 0 or overlap >= size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size (got size={size}, overlap={overlap})")
    win = _windows_words if unit == "words" else _windows_chars
    out: list[Chunk] = []
    for heading, body in sections(text, markdown):
        for start, piece in win(body, size, overlap):
            if piece.strip():
                out.append(Chunk(piece, heading, len(out), start))
    return out


__all__ = ["Chunk", "chunk_text", "sections"]
