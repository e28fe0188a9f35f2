"""Ray Tune schedulers for seed sweeps.

- :class:`EarlyDiscardScheduler`: start many trials, pause them all at a milestone,
  continue the best few (Dodge et al. 2020), restore-safe with its state callback.
- :func:`asha_scheduler`, :func:`hyperband_scheduler`: Ray's ASHA and HyperBand on the
  same ``time_attr`` units, for comparisons at equal compute.
- :class:`StallGuard`: a Tune callback that fails a stalled run (nothing running, some
  trial waiting, no progress) with :class:`SweepStalled`, naming the trials involved.
- :func:`trial_compute`, :func:`total_compute`, :func:`early_discard_compute`: compute
  accounting in ``time_attr`` units (evaluation intervals in this project);
  :func:`planned_compute`: what an early-discarding sweep will spend, cohort by cohort.
"""

from tune_seeds.schedulers.comparators import (
    RestorableASHA,
    asha_scheduler,
    hyperband_scheduler,
)
from tune_seeds.schedulers.compute import early_discard_compute, total_compute, trial_compute
from tune_seeds.schedulers.early_discard import (
    DECISIONS_FILE,
    EarlyDiscardScheduler,
    EarlyDiscardStateCallback,
    planned_compute,
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
    "early_discard_compute",
    "hyperband_scheduler",
    "planned_compute",
    "total_compute",
    "trial_compute",
]
