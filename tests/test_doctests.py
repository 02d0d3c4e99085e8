"""The examples in tether's docstrings run, as part of the suite: one test per module.

Collected here rather than with ``--doctest-modules`` so they run like every other test: with
the suite's warnings-as-errors and its autouse fixtures (no API key in the environment), and
each module is imported only when its test runs (importing them all does not load torch).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import pkgutil
from pathlib import Path

import pytest

import tether

SLOW = {"tether.audit.privacy_pii"}  # presidio's analyzer loads in several seconds


def modules() -> list[str]:
    """Every module of the tether package but ``__main__`` (importing it runs the CLI)."""
    return sorted(m.name for m in pkgutil.walk_packages(tether.__path__, "tether.")
                  if not m.name.endswith(".__main__"))


def has_examples(name: str) -> bool:
    """Whether a module's source holds a ``>>>`` prompt (read as text: nothing is imported)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    return ">>>" in Path(spec.origin).read_text(encoding="utf-8")


MODULES = modules()
WITH_EXAMPLES = [n for n in MODULES if has_examples(n)]


def examples(name: str) -> list[doctest.DocTest]:
    """The docstring examples of one module (its own functions and classes, not imported ones)."""
    mod = importlib.import_module(name)
    return [t for t in doctest.DocTestFinder(exclude_empty=True).find(mod, name) if t.examples]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in WITH_EXAMPLES])
def test_docstring_examples(name: str) -> None:
    tests = examples(name)
    assert tests, f"{name} shows >>> but no docstring example of it is found"
    runner = doctest.DocTestRunner(verbose=False)
    report = io.StringIO()
    for t in tests:
        runner.run(t, out=report.write)
    if runner.failures:
        pytest.fail(f"{runner.failures} of {runner.tries} examples failed in {name}:\n{report.getvalue()}",
                    pytrace=False)


def test_the_examples_are_found() -> None:
    assert "tether.curate.judge" in WITH_EXAMPLES and "tether.__main__" not in MODULES
    assert len(WITH_EXAMPLES) >= 50 and "tether.errors" in MODULES and "tether.errors" not in WITH_EXAMPLES
    # a module's doctests are its own: render_rubric's example is found, once
    names = [t.name for t in examples("tether.curate.judge")]
    assert "tether.curate.judge.render_rubric" in names and len(names) == len(set(names))
    assert sum(bool(examples(n)) for n in ("tether.records", "tether.text", "tether.pipeline.step")) == 3
