"""Ray Tune schedulers for seed sweeps.

- :mod:`.kinds`: every kind of scheduler the project runs (``fifo``, ``early-discard``,
  ``adaptive``, ``asha``, ``hyperband``, ``median``), one object each that checks,
  plans, builds and describes it; a sweep's choice is a :class:`~.kinds.SchedulerSpec`.
- :class:`EarlyDiscardScheduler`: start many trials, pause them all at a milestone,
  continue the best few (Dodge et al. 2020), restore-safe with its state callback.
- :func:`asha_scheduler`, :func:`hyperband_scheduler`: Ray's ASHA and HyperBand on the
  same ``time_attr`` units, for comparisons at equal compute.
- :class:`StallGuard`: a Tune callback that fails a stalled run (nothing running, some
  trial waiting, no progress) with :class:`SweepStalled`, naming the trials involved.
- :func:`trial_compute`, :func:`total_compute`: compute accounting in ``time_attr`` units
  (evaluation intervals in this project); what a plan will spend is its
  :attr:`~tune_seeds.plan.EarlyDiscardPlan.cost`.
"""

from tune_seeds.schedulers.comparators import (
    RestorableASHA,
    asha_scheduler,
    hyperband_scheduler,
)
from tune_seeds.schedulers.compute import total_compute, trial_compute
from tune_seeds.schedulers.early_discard import (
    DECISIONS_FILE,
    EarlyDiscardScheduler,
    EarlyDiscardStateCallback,
)
from tune_seeds.schedulers.stall import StallGuard, SweepStalled

__all__ = [
    "DECISIONS_FILE",
    "EarlyDiscardScheduler",
    "EarlyDiscardStateCallback",
    "RestorableASHA",
    "StallGuard",
    "SweepStalled",
    "asha_scheduler",
    "hyperband_scheduler",
    "total_compute",
    "trial_compute",
]
