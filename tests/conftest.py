"""Fixtures of the whole suite.

Every test runs without the developer's credentials: API keys, tokens and the variables that
point an SDK at a real service are removed from the environment (subprocesses a test starts
inherit that). Tests that need a key set their own with ``monkeypatch.setenv``.
"""

from __future__ import annotations

import os

import pytest

from env_hygiene import is_secret


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real API key or token from the environment it was started in."""
    for name in list(os.environ):
        if is_secret(name):
            monkeypatch.delenv(name, raising=False)
