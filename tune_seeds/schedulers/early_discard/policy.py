"""The early-discarding policy as pure functions: no Ray, no state.

- :func:`config_key`: a trial's tie-breaking key;
- :func:`n_keep`: how many trials of a cohort continue;
- :func:`rank_members`: the order in which a cohort's candidates are kept;
- :func:`best_so_far`: the running best score (the paper ranks by it);
- :func:`validate`: the scheduler's arguments, with a clear error for each mistake.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from tune_seeds.plan import share_kept


class Rankable(Protocol):
    """What ranking reads of a cohort member."""

    index: int
    config_key: str
    score: float | None


R = TypeVar("R", bound=Rankable)


def config_key(config: dict[str, Any]) -> str:
    """The deterministic tie-breaking key of a trial: its config as sorted JSON."""
    return json.dumps(config, sort_keys=True, default=repr)


def n_keep(keep: int | float, n_candidates: int) -> int:
    """Trials kept out of ``n_candidates``: ``keep`` itself for an int (at most all),
    else a share, by :func:`~tune_seeds.plan.share_kept` (rounded up, at least one).

    >>> n_keep(4, 3), n_keep(0.25, 16), n_keep(0.25, 15), n_keep(0.3, 10), n_keep(0.5, 0)
    (3, 4, 4, 3, 0)
    """
    if isinstance(keep, int):
        return min(keep, n_candidates)
    return share_kept(keep, n_candidates)


def rank_members(members: Iterable[R], mode: str) -> list[R]:
    """Best first. NaN or missing scores rank last; ties go to the smaller config key,
    then to the earlier-added trial, so the order never depends on arrival."""
    sign = -1.0 if mode == "max" else 1.0

    def key(m: R) -> tuple[bool, float, str, int]:
        missing = m.score is None or math.isnan(m.score)
        return (missing, 0.0 if missing else sign * m.score, m.config_key, m.index)

    return sorted(members, key=key)


def best_so_far(best: float | None, value: float, mode: str) -> float | None:
    """The running best after seeing ``value`` (NaN is ignored).

    >>> best_so_far(None, 0.5, "max"), best_so_far(0.5, 0.4, "max"), best_so_far(0.5, 0.4, "min")
    (0.5, 0.5, 0.4)
    """
    if math.isnan(value):
        return best
    if best is None:
        return value
    return max(best, value) if mode == "max" else min(best, value)


def validate(
    milestone: Any,
    keep: Any,
    cohort_size: Any,
    time_attr: Any,
    mode: Any,
    rank_by: Any,
) -> tuple[int | float, int | float, int | None]:
    """Checks the arguments; returns milestone, keep and cohort_size as plain Python
    numbers (numpy integers from a planner are ints, so an integral keep is a count)."""

    def fail(message: str) -> None:
        raise ValueError(f"EarlyDiscardScheduler: {message}")

    def number(value: Any) -> int | float | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        return None

    milestone_n, keep_n = number(milestone), number(keep)
    if milestone_n is None:
        fail(f"milestone must be a number of time_attr units, got {milestone!r}")
    if not milestone_n > 0:
        fail(f"milestone must be > 0, got {milestone!r}")
    if keep_n is None:
        fail(f"keep must be an int >= 1 or a float in (0, 1], got {keep!r}")
    if isinstance(keep_n, int) and keep_n < 1:
        fail(f"keep as an int must be >= 1, got {keep_n}")
    if isinstance(keep_n, float) and not 0 < keep_n <= 1:
        fail(f"keep as a fraction must be in (0, 1], got {keep_n}")
    if cohort_size is not None:
        if not isinstance(number(cohort_size), int):
            fail(f"cohort_size must be None or an int >= 2, got {cohort_size!r}")
        cohort_size = int(cohort_size)
        if cohort_size < 2:
            fail(f"cohort_size must be >= 2 (a cohort of one cuts nothing), got {cohort_size}")
        if isinstance(keep_n, int) and keep_n >= cohort_size:
            fail(f"keep={keep_n} must be smaller than cohort_size={cohort_size}, or nothing is cut")
    if not isinstance(time_attr, str) or not time_attr:
        fail(f"time_attr must be a result key, got {time_attr!r}")
    if mode not in (None, "min", "max"):
        fail(f"mode must be 'min' or 'max', got {mode!r}")
    if rank_by not in ("best", "last"):
        fail(f"rank_by must be 'best' or 'last', got {rank_by!r}")
    return milestone_n, keep_n, cohort_size
