"""The project's Ray Tune schedulers under a short name: a thin face of
:mod:`tune_seeds.schedulers`, where they live (import from there in code that may
meet another package called ``schedulers``).

>>> from schedulers import EarlyDiscardScheduler
>>> EarlyDiscardScheduler.__module__
'tune_seeds.schedulers.early_discard.scheduler'
"""

from tune_seeds.schedulers import *  # noqa: F403
from tune_seeds.schedulers import __all__  # noqa: F401
