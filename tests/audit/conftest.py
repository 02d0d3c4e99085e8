"""A generator of "real" data for the audit tests, and defects to plant on top of it.

The data are templated but varied sentences from word lists with randomness: questions and
answers about everyday topics, a sentiment label, and mentions of people (gender and
occupation drawn independently). Two halves of one generated set play "two halves of one
real dataset".
"""

from __future__ import annotations

import pytest
from audit_data import make_real, real_record  # noqa: F401

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
