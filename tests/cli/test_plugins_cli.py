"""An installed step plugin that fails to import: the command line names it and its error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _install_broken_plugin(site: Path) -> None:
    dist = site / "acme_tether-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tether\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[tether.steps]\nacme = acme_steps\n", encoding="utf-8")
    (site / "acme_steps.py").write_text("import acme_missing_dependency\n", encoding="utf-8")


def test_a_broken_plugin_is_named_by_validate_and_steps(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_broken_plugin(site)
    (tmp_path / "d.jsonl").write_text(json.dumps({"text": "a b c"}) + "\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text("steps:\n  - read: {path: d.jsonl}\n  - acme_dedup: {}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}

    def tether(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tether", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env=env)

    r = tether("validate", "p.yaml")
    assert r.returncode == 2, r.stdout + r.stderr
    assert ("steps[1]: unknown step 'acme_dedup': step plugin 'acme' (acme_steps) failed to import: "
            "ModuleNotFoundError: No module named 'acme_missing_dependency'") in r.stderr
    assert "Traceback" not in r.stderr
    r = tether("steps")
    assert r.returncode == 2 and "step plugin 'acme' (acme_steps) failed to import" in r.stderr
    assert "limit" not in r.stdout  # not a list that leaves the plugin's steps out
