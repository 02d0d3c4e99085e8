"""Curation tests: clear API-key variables so no test can reach a real service."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.endswith("_API_KEY"):
            monkeypatch.delenv(k, raising=False)
