"""Moved to :mod:`tether.core.context` (the step contract, below the executors); this name is the
same module, kept so that ``tether.pipeline.context`` imports go on working."""

import sys

from tether.core import context as _module

sys.modules[__name__] = _module
