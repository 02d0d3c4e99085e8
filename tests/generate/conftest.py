from __future__ import annotations

from gen_helpers import *  # noqa: F403
