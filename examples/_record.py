"""Record the examples' responses: scripted answers, not from a real model.

    python examples/_record.py grounded_qa prompt      # some examples
    python examples/_record.py --all                    # every example with a responder.py

For each example folder this:

1. starts :class:`tether.llm.testing.FakeOpenAIServer`, a real OpenAI-compatible HTTP server
   on loopback, answering with the example's ``responder.py`` ``respond(request)``: a
   deterministic function written for the project that derives each answer from the prompt
   (the fenced passage, the question, the schema asked for);
2. runs the example's ``pipeline.yaml`` through the CLI (``tether run``) with every ``llm:``
   entry switched to ``backend: openai`` at that server (``--set``), so the answers go through
   the real LLM layer: HTTP, structured output, the run's response cache;
3. writes the cache as the example's replay file (``tether cache export RUN --out
   responses.jsonl``);
4. runs the pipeline again as shipped (``backend: replay``), offline, and checks that every
   request was answered from the file.

Run it from anywhere; it needs ``tether`` importable (``PYTHONPATH=src`` in a checkout).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tether.generate.testing import scripted_server

HERE = Path(__file__).resolve().parent


def tether(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``tether ARGS`` in ``cwd`` (a fresh interpreter, as a user would run it)."""
    env = {**os.environ}
    src = HERE.parent / "src"
    if src.is_dir():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"tether {' '.join(args)} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def load_responder(example: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_responder_{example.name}", example / "responder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.respond


def replay_entries(pipeline: Path) -> dict[str, dict[str, Any]]:
    """The pipeline's ``llm`` entries that replay a recorded file (none: not a pipeline that calls a model)."""
    raw = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or "steps" not in raw:
        return {}
    return {name: cfg for name, cfg in (raw.get("llm") or {}).items() if cfg.get("backend") == "replay"}


def pipelines(example: Path) -> list[Path]:
    """The example's pipeline files whose models replay a recorded file."""
    return [p for p in sorted(example.glob("*.yaml")) if replay_entries(p)]


def record(example: Path) -> dict[str, Any]:
    """Record the responses of every pipeline of ``example`` into its one replay file."""
    found = pipelines(example)
    files = {cfg["replay_file"] for p in found for cfg in replay_entries(p).values()}
    if len(files) != 1:
        raise SystemExit(f"{example}: the pipelines' replay entries must share one replay_file (found {sorted(files)})")
    (replay_file,) = files
    target = example / replay_file
    respond = load_responder(example)
    lines: dict[str, str] = {}
    rows: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix=f"record-{example.name}-") as tmp, \
            scripted_server(respond, model="scripted") as srv:
        for pipeline in found:
            sets: list[str] = []
            for name in replay_entries(pipeline):
                sets += ["--set", f"llm.{name}.backend=openai", "--set", f"llm.{name}.base_url={srv.base_url}",
                         "--set", f"llm.{name}.replay_file=null"]
            live = Path(tmp) / f"live-{pipeline.stem}"
            tether("run", str(pipeline), "--run-dir", str(live), *sets, cwd=example)
            out = Path(tmp) / f"{pipeline.stem}.jsonl"
            tether("cache", "export", str(live), "--out", str(out), cwd=example)
            for line in out.read_text(encoding="utf-8").splitlines():
                lines.setdefault(json.loads(line)["key"], line)
        calls = srv.calls
        target.write_text("".join(lines[k] + "\n" for k in sorted(lines)), encoding="utf-8")
        for pipeline in found:
            replayed = Path(tmp) / f"replay-{pipeline.stem}"
            tether("run", str(pipeline), "--run-dir", str(replayed), cwd=example)
            m = json.loads((replayed / "manifest.json").read_text(encoding="utf-8"))
            quarantined = sum(s["counts"].get("quarantined", 0) for s in m["steps"])
            failed = sum(u.get("failed_calls", 0) for u in (m.get("llm") or {}).values())
            if quarantined or failed or srv.calls != calls:
                raise SystemExit(f"{example.name}/{pipeline.name}: the replayed run quarantined {quarantined} "
                                 f"records, {failed} calls failed")
            rows[pipeline.name] = (m.get("dataset") or {}).get("rows")
    return {"example": example.name, "calls": calls, "file": replay_file, "bytes": target.stat().st_size,
            "dataset_rows": rows}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("examples", nargs="*", help="example folder names under examples/")
    ap.add_argument("--all", action="store_true", help="every example folder with a responder.py")
    args = ap.parse_args(argv)
    names = sorted(p.parent.name for p in HERE.glob("*/responder.py")) if args.all else args.examples
    if not names:
        ap.error("name an example, or --all")
    for name in names:
        info = record(HERE / name)
        print(f"{info['example']}: {info['calls']} scripted answers -> {info['file']} ({info['bytes']} bytes); "
              f"replayed offline: {info['dataset_rows']} records")


if __name__ == "__main__":
    main()
