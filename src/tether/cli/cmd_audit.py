"""``tether audit``: audit any dataset against reference, private and benchmark data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("audit")
    def audit_cmd(
        synthetic: Annotated[Path, typer.Option("--synthetic", help="The dataset to audit (JSONL, Parquet, CSV, ...).")],
        out: Annotated[Path, typer.Option("--out", help="Folder for report.json and report.html.")],
        reference: Annotated[Path | None, typer.Option("--reference", help="Real data the synthetic data should resemble.")] = None,
        private: Annotated[Path | None, typer.Option("--private", help="The sensitive source it must not leak.")] = None,
        holdout: Annotated[Path | None, typer.Option("--holdout", help="Real data of the same kind the generator never saw.")] = None,
        benchmarks: Annotated[Path | None, typer.Option("--benchmarks", help="Folder of benchmark files (one per benchmark).")] = None,
        gates: Annotated[Path | None, typer.Option("--gates", help="YAML of metric: rule gates (e.g. diversity.distinct_2: '>= 0.3').")] = None,
        config: Annotated[Path | None, typer.Option("--config", help="YAML of audit settings (the pipeline's audit: section).")] = None,
        text_field: Annotated[list[str], typer.Option("--text-field", help="Field(s) holding the text (repeatable).")] = [],  # noqa: B006
        label_field: Annotated[str | None, typer.Option("--label-field", help="Field holding a label (default: label).")] = None,
        group_field: Annotated[str | None, typer.Option("--group-field", help="Field whose records are one group in cross-validation (default: records answering the same prompt).")] = None,
        canary: Annotated[list[str], typer.Option("--canary", help="A planted canary string to look for (repeatable).")] = [],  # noqa: B006
        family: Annotated[list[str], typer.Option("--family", help="Only these families (repeatable).")] = [],  # noqa: B006
        embedder: Annotated[str | None, typer.Option("--embedder", help="sentence-transformers (default) or hashing.")] = None,
        cache: Annotated[Path | None, typer.Option("--cache", help="Embedding cache (default OUT/cache.sqlite).")] = None,
    ) -> None:
        """Audit a dataset: quality, diversity, fidelity, utility, bias, privacy, contamination,
        integrity. Exits 5 when a gate fails."""
        import yaml

        from tether.audit import audit, load_audit_config, load_gates_file
        from tether.cli._private import err_console, out_console
        from tether.embed import Embedder
        from tether.errors import ConfigError

        settings: dict = {}
        if config is not None:
            if not config.exists():
                raise ConfigError(f"--config {config}: no such file")
            settings = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
            if not isinstance(settings, dict):
                raise ConfigError(f"--config {config}: expected a mapping of audit settings")
            settings = settings.get("audit", settings)
        if text_field:
            settings["text_fields"] = list(text_field)
        if label_field:
            settings["label_field"] = label_field
        if group_field:
            settings["group_field"] = group_field
        if canary:
            settings["canaries"] = list(settings.get("canaries", [])) + list(canary)
        if family:
            settings["families"] = list(family)
        if embedder:
            settings["embedder"] = {**(settings.get("embedder") or {}), "backend": embedder}
        cfg = load_audit_config(settings)
        if gates is not None:
            cfg.gates = {**cfg.gates, **load_gates_file(gates)}
        emb = Embedder(cfg.embedder, cache_path=cache or out / "cache.sqlite")
        try:
            def absolute(p: Path | None) -> Path | None:
                return None if p is None else p.resolve()

            report = audit(synthetic.resolve(), reference=absolute(reference), private=absolute(private),
                           holdout=absolute(holdout), benchmarks=absolute(benchmarks), config=cfg, embedder=emb,
                           base_dir=config.parent if config is not None else None)
        finally:
            emb.close()
        json_path, html_path = report.write(out)
        for fam, st in report.scorecard().items():
            color = {"ok": "green", "warn": "yellow", "fail": "red", "undefined": "magenta"}.get(st, "dim")
            out_console.print(f"{fam:>14}: [{color}]{st}[/{color}]", markup=True)
        for g in report.failed_gates:
            err_console.print(f"gate failed: {g.metric} {g.rule} (value {g.value if g.value is not None else g.note})")
        out_console.print(f"report: {json_path}  {html_path}")
        report.raise_for_gates()
