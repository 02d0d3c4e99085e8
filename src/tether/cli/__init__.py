"""The command-line app: ``tether run | validate | inspect | steps`` and more."""

from __future__ import annotations

from tether.cli.app import app, main

__all__ = ["app", "main"]
