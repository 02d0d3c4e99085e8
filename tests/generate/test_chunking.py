"""The Markdown-aware chunker."""

from __future__ import annotations

import pytest

from tether.generate.chunking import chunk_text

DOC = """Intro line before any heading.

# Soil
Worms and fungi break matter down.

## Worms
Red wigglers eat half their weight a day.

```python
# not a heading, a comment
x = 1
```

# Water
Keep the heap as damp as a wrung-out sponge.
"""


def test_headings_are_boundaries_and_code_comments_are_not() -> None:
    chunks = chunk_text(DOC, size=100, overlap=10)
    assert [c.heading for c in chunks] == ["", "Soil", "Soil > Worms", "Water"]
    assert "# not a heading" in chunks[2].text and "x = 1\n```" in chunks[2].text  # lines kept
    assert all("Water" not in c.text for c in chunks[:3])
    flat = chunk_text(DOC, size=100, overlap=10, markdown=False)
    assert len(flat) == 1


def test_windows_have_the_asked_size_and_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    chunks = chunk_text(text, size=30, overlap=10, markdown=False)
    toks = [c.text.split() for c in chunks]
    assert [len(t) for t in toks] == [30, 30, 30, 30, 30][: len(toks) - 1] + [len(toks[-1])]
    assert all(a[-10:] == b[:10] for a, b in zip(toks, toks[1:], strict=False))
    assert toks[-1][-1] == "w99" and len(chunks) == 5
    chars = chunk_text(text, size=50, overlap=10, unit="chars", markdown=False)
    assert all(len(c.text) <= 50 for c in chars) and chars[-1].text.endswith("w99")
    assert all(not c.text.startswith(" ") for c in chars)
    with pytest.raises(ValueError, match="overlap < size"):
        chunk_text(text, size=10, overlap=10)
