"""Moved to :mod:`tether.core.resources` (the step contract, below the executors); this name is the
same module, kept so that ``tether.pipeline.resources`` imports go on working."""

import sys

from tether.core import resources as _module

sys.modules[__name__] = _module
