"""Early discarding ("start many, stop early, continue some") as a Ray Tune scheduler.

Dodge et al. (2020) advise starting many fine-tuning trials, training each for a
fraction of the schedule, ranking them by their best validation score so far and
continuing only the best few. :class:`EarlyDiscardScheduler` does exactly that,
synchronously and deterministically, and survives ``Tuner.restore`` (even after the
driver was killed outright).

The package, as Ray's ASHA is a scheduler over its ``_Bracket``:

- :mod:`.policy`: the pure policy: ranking, how many to keep, the best-so-far score,
  argument checks;
- :mod:`.book`: the cohort bookkeeping (:class:`~.book.CohortBook`), with the members'
  states as an enum (:class:`~.book.MemberState`) and no copy of anything the trials'
  own statuses say; pure Python, saved and restored as plain JSON;
- :mod:`.ray_compat`: every workaround that relies on Tune internals (the concurrency
  slots of paused trials, holding a trial PAUSED, the "cohort can never fill" check);
- :mod:`.callback`: the Tune callback that persists the bookkeeping with each
  experiment snapshot and writes the decisions file;
- :mod:`.scheduler`: :class:`EarlyDiscardScheduler`, Tune's hooks, thin over the rest.
"""

from tune_seeds.schedulers.early_discard.book import (
    CONTINUING,
    CUT,
    KEPT_WAITING,
    LEFT,
    TRAINING,
    WAITING,
    Cohort,
    CohortBook,
    Member,
    MemberState,
)
from tune_seeds.schedulers.early_discard.callback import DECISIONS_FILE, EarlyDiscardStateCallback
from tune_seeds.schedulers.early_discard.policy import (
    best_so_far,
    config_key,
    n_keep,
    rank_members,
    validate,
)
from tune_seeds.schedulers.early_discard.ray_compat import SearcherSlots
from tune_seeds.schedulers.early_discard.scheduler import EarlyDiscardScheduler

# Names of the single-module version: older tests and pickles (tuner.pkl of sweeps
# started before the split) refer to them.
_Member = Member
_Cohort = Cohort
_CohortBook = CohortBook
_SearcherSlots = SearcherSlots
_n_keep = n_keep
_validate = validate

__all__ = [
    "CONTINUING",
    "CUT",
    "DECISIONS_FILE",
    "KEPT_WAITING",
    "LEFT",
    "TRAINING",
    "WAITING",
    "Cohort",
    "CohortBook",
    "EarlyDiscardScheduler",
    "EarlyDiscardStateCallback",
    "Member",
    "MemberState",
    "SearcherSlots",
    "best_so_far",
    "config_key",
    "n_keep",
    "rank_members",
    "validate",
]
