"""The suite's own hygiene: no test sees a credential from the environment it started in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from env_hygiene import is_secret

HERE = Path(__file__).resolve().parent
PLANTED = {"OPENAI_API_KEY": "sk-planted-1", "ANTHROPIC_API_KEY": "sk-ant-planted", "MY_SERVICE_API_KEY": "k",
           "HF_TOKEN": "hf_planted", "HUGGING_FACE_HUB_TOKEN": "hf_planted", "AWS_SECRET_ACCESS_KEY": "a",
           "OPENAI_BASE_URL": "https://api.example.invalid/v1"}


def test_no_credential_reaches_a_test() -> None:
    assert not [k for k in os.environ if is_secret(k)]


def test_credentials_of_the_shell_are_cleared_for_every_test(tmp_path: Path) -> None:
    # a pytest run started with planted credentials: its tests see none of them
    env = {**os.environ, **PLANTED}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(HERE.parent),
         f"{HERE / 'test_conftest.py'}::test_no_credential_reaches_a_test"],
        env=env, cwd=HERE.parent, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_what_counts_as_a_credential() -> None:
    for name in ("OPENAI_API_KEY", "anthropic_api_key", "HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN", "GITHUB_TOKEN",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "SLACK_AUTH_TOKEN", "OPENAI_BASE_URL"):
        assert is_secret(name), name
    for name in ("PATH", "HOME", "TETHER_TEST_KEY", "TOKENIZERS_PARALLELISM", "CI", "PYTHONPATH"):
        assert not is_secret(name), name


def test_a_misspelt_marker_is_an_error(tmp_path: Path) -> None:
    # the suite's own settings (pyproject.toml) with a test file marked @pytest.mark.slwo
    (tmp_path / "test_marker.py").write_text("import pytest\n\n\n@pytest.mark.slwo\ndef test_x():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(HERE.parent / "pyproject.toml"),
         "--rootdir", str(tmp_path), str(tmp_path / "test_marker.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0 and "'slwo' not found in `markers` configuration option" in proc.stdout + proc.stderr
