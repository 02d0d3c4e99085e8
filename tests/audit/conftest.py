"""Fixtures of the audit tests; the data generator lives in audit_data.py."""

from __future__ import annotations

import pytest
from audit_data import make_real

from tether.audit import AuditConfig
from tether.embed import Embedder, EmbedderConfig


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread: beside other work on a few cores, multi-threaded BLAS oversubscribes
    them and the small matrices of these tests take several times longer."""
    import scipy.linalg  # noqa: F401  (load every BLAS the tests use before limiting them)
    import sklearn.metrics  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


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
