"""moecalc: what it costs to serve a Mixture-of-Experts language model.

Total parameters set the memory floor; active parameters set the compute ceiling.
"""

import time as _time

__version__ = "0.1.0"
IMPORTED = _time.perf_counter()
"""When moecalc was imported: the start of an end-to-end rate where /proc is not there."""

