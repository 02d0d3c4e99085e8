"""Step plugins that fail to import are errors that name the plugin and the import error."""

from __future__ import annotations

from pathlib import Path

import pytest

import tether.pipeline.registry as registry
from tether.errors import ConfigError
from tether.pipeline import Pipeline


class _BrokenEntryPoint:
    name = "acme"
    value = "acme_steps"

    def load(self) -> None:
        raise ModuleNotFoundError("No module named 'acme_steps'", name="acme_steps")


@pytest.fixture
def broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: [_BrokenEntryPoint()])
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_FAILED", {})


def test_a_step_of_a_plugin_that_failed_to_import_names_the_plugin(broken_plugin: None, numbers: Path) -> None:
    with pytest.raises(ConfigError) as err:
        Pipeline.from_dict({"steps": [{"read": {"path": str(numbers)}}, {"acme_dedup": {}}]})
    msg = err.value.message
    assert "unknown step 'acme_dedup'" in msg
    assert "step plugin 'acme' (acme_steps) failed to import: ModuleNotFoundError: No module named 'acme_steps'" in msg


def test_the_step_list_is_not_shown_without_a_plugin(broken_plugin: None) -> None:
    with pytest.raises(ConfigError, match="step plugin 'acme' .acme_steps. failed to import"):
        registry.catalog()


def test_builtin_steps_still_load_beside_a_broken_plugin(broken_plugin: None, numbers: Path) -> None:
    Pipeline.from_dict({"steps": [{"read": {"path": str(numbers)}}, {"limit": {"n": 1}}]})


def test_a_pipeline_plugin_that_raises_on_import_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  numbers: Path) -> None:
    (tmp_path / "bad_steps_mod.py").write_text("raise RuntimeError('needs ACME_HOME')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"plugin module 'bad_steps_mod' cannot be imported: RuntimeError: needs "
                                          r"ACME_HOME"):
        Pipeline.from_dict({"plugins": ["bad_steps_mod"], "steps": [{"read": {"path": str(numbers)}}]})
