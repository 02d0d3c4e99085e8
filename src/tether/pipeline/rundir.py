"""Moved to :mod:`tether.core.rundir` (the step contract, below the executors); this name is the
same module, kept so that ``tether.pipeline.rundir`` imports go on working."""

import sys

from tether.core import rundir as _module

sys.modules[__name__] = _module
