from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from lineage_helpers import make_project, run_project  # noqa: E402


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run: 3 seed documents -> 2 QA children each -> a length filter."""
    project = make_project(tmp_path_factory.mktemp("proj"))
    return run_project(project, project / "run")
