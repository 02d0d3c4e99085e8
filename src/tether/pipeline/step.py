"""Moved to :mod:`tether.core.step` (the step contract, below the executors); this name is the
same module, kept so that ``tether.pipeline.step`` imports go on working."""

import sys

from tether.core import step as _module

sys.modules[__name__] = _module
