"""Fixtures of the audit tests; the data generator lives in audit_data.py."""

from __future__ import annotations

import pytest
from audit_data import make_real

from tether.audit import AuditConfig
from tether.embed import Embedder, EmbedderConfig


@pytest.fixture(scope="session")
def real_halves() -> tuple[list[dict], list[dict]]:
    data = make_real(1600, seed=1)
    return data[:800], data[800:]


@pytest.fixture(scope="session")
def hashing_embedder() -> Embedder:
    return Embedder(EmbedderConfig(backend="hashing", dim=256))


@pytest.fixture
def cfg() -> AuditConfig:
    return AuditConfig(embedder=EmbedderConfig(backend="hashing", dim=256), bootstrap=50)
