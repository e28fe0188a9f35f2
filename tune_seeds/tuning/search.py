"""The (WI, DO) seed pairs of a sweep: seed ranges, grids, random draws and Optuna.

The two seeds of a trial (weight initialization ``wi_seed`` and data order
``do_seed``) are the whole search space. A trial is deterministic given its pair,
so running a pair twice wastes a full trial and biases every statistic computed
over the sweep. Every search built here therefore hands out each pair at most once:

- ``grid``: the WI x DO grid, in row-major order (WI outer). Either the full
  product of the two seed ranges, or, with ``num_samples``, a near-square
  sub-grid of exactly that many pairs taken from the start of both ranges.
- ``random``: ``num_samples`` distinct pairs drawn without replacement from the
  product of the two ranges, reproducible from ``seed``.
- ``optuna``: Ray's :class:`~ray.tune.search.optuna.OptunaSearch` over the two
  seeds as categorical parameters with a seeded TPE sampler, wrapped in
  :class:`DistinctPairs`, which refuses pairs already handed out (TPE
  happily proposes the same categorical pair again).

Ray's ``tune.grid_search`` is not used: with ``num_samples > 1`` it repeats the
whole grid with identical configs. Grid and random sweeps are fixed lists of
pairs fed by :class:`PairList`, which also makes them resumable exactly.

>>> parse_seed_range("1-3,7,5")
[1, 2, 3, 5, 7]
>>> near_square_grid(5, [1, 2, 3], [1, 2, 3])
[(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from ray.tune.search import Searcher

SEARCHES = ("grid", "random", "optuna")

Pair = tuple[int, int]

_RANGE_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_seed_range(text: str) -> list[int]:
    """Seeds from a comma-separated list of integers and inclusive ``a-b`` ranges.

    Returns the distinct seeds in ascending order. Raises ``ValueError`` naming
    the offending item for an empty text, a non-integer, a negative seed or a
    range whose end is below its start.

    >>> parse_seed_range(" 1-25, 30 ")[-3:]
    [24, 25, 30]
    """
    if not text or not text.strip():
        raise ValueError("empty seed range; write seeds like '1-25' or '1-5,9,12'")
    seeds: set[int] = set()
    for raw in text.split(","):
        item = raw.strip()
        match = _RANGE_ITEM.match(item)
        if match is None:
            raise ValueError(
                f"malformed seed range item {item!r} in {text!r}; "
                "use non-negative integers and inclusive ranges like '1-25'"
            )
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        if end < start:
            raise ValueError(f"seed range {item!r} in {text!r} ends before it starts")
        seeds.update(range(start, end + 1))
    return sorted(seeds)


def full_grid(wi_seeds: Sequence[int], do_seeds: Sequence[int]) -> list[Pair]:
    """Every (WI, DO) pair, WI outer."""
    return [(w, d) for w in wi_seeds for d in do_seeds]


def near_square_grid(
    num_samples: int, wi_seeds: Sequence[int], do_seeds: Sequence[int]
) -> list[Pair]:
    """``num_samples`` pairs from the smallest near-square grid that holds them.

    The grid has ``rows = ceil(sqrt(n))`` WI seeds (fewer if the WI range is
    short, more columns then) and enough DO seeds to hold ``n`` pairs, both taken
    from the start of their ranges; the pairs are the first ``n`` in row-major
    order. The ranges must hold ``n`` pairs (a sweep's spec checks that).
    """
    _assert_room(num_samples, wi_seeds, do_seeds)
    rows = min(math.ceil(math.sqrt(num_samples)), len(wi_seeds))
    cols = math.ceil(num_samples / rows)
    if cols > len(do_seeds):
        cols = len(do_seeds)
        rows = math.ceil(num_samples / cols)
    return full_grid(wi_seeds[:rows], do_seeds[:cols])[:num_samples]


def random_pairs(
    num_samples: int, wi_seeds: Sequence[int], do_seeds: Sequence[int], seed: int
) -> list[Pair]:
    """``num_samples`` distinct pairs drawn uniformly without replacement.

    Draws indices into the WI x DO product, so the result depends only on the two
    ranges, ``num_samples`` and ``seed``.
    """
    _assert_room(num_samples, wi_seeds, do_seeds)
    total = len(wi_seeds) * len(do_seeds)
    picks = np.random.default_rng(seed).choice(total, size=num_samples, replace=False)
    n_do = len(do_seeds)
    return [(int(wi_seeds[i // n_do]), int(do_seeds[i % n_do])) for i in picks]


def _assert_room(num_samples: int, wi_seeds: Sequence[int], do_seeds: Sequence[int]) -> None:
    # SweepSpec refuses a count the ranges cannot hold; other callers are this module's tests.
    assert 1 <= num_samples <= len(wi_seeds) * len(do_seeds), (
        f"{num_samples} distinct pairs from {len(wi_seeds)} x {len(do_seeds)} seeds")


def _pair_of(config: dict[str, Any]) -> Pair:
    return int(config["wi_seed"]), int(config["do_seed"])


class _StatefulSearcher(Searcher):
    """Saves and restores through ``get_state``/``set_state``, as Tune's restore expects."""

    def get_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def set_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))


class PairList(_StatefulSearcher):
    """Hands out a fixed list of (WI, DO) pairs in order, then finishes.

    The state is the position in the list, so a restored sweep continues with
    the next pair and never repeats one.

    Args:
        pairs: the pairs to run, each once; duplicates are rejected.
        metric, mode: passed to :class:`~ray.tune.search.Searcher` (unused here).
    """

    def __init__(self, pairs: Sequence[Pair], metric: str | None = None, mode: str | None = None):
        super().__init__(metric=metric, mode=mode)
        if len(set(pairs)) != len(pairs):
            raise ValueError("PairList got the same (WI, DO) pair more than once")
        self.pairs = [(int(w), int(d)) for w, d in pairs]
        self.next_index = 0

    def suggest(self, trial_id: str) -> dict[str, int] | str:
        if self.next_index >= len(self.pairs):
            return Searcher.FINISHED
        wi, do = self.pairs[self.next_index]
        self.next_index += 1
        return {"wi_seed": wi, "do_seed": do}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        pass

    def get_state(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "next_index": self.next_index}

    def set_state(self, state: dict[str, Any]) -> None:
        self.pairs = state["pairs"]
        self.next_index = state["next_index"]


class DistinctPairs(_StatefulSearcher):
    """Wraps a searcher of ``wi_seed``/``do_seed`` configs so no pair runs twice.

    When the wrapped searcher proposes a pair that was already handed out, the
    proposal is closed at once and the searcher is asked again (up to
    ``max_retries`` times): a pair whose trial has finished is told its known
    result (the trial is deterministic, so that *is* its result); a pair still
    running is closed as failed, which Optuna's samplers ignore. If the searcher
    keeps repeating itself, an unused pair is drawn at random (seeded) and its
    result is added to the searcher as an evaluated point when it is known.
    The wrapper finishes once every pair of the space has been handed out.

    Args:
        searcher: the wrapped searcher (e.g. :class:`OptunaSearch`).
        wi_seeds, do_seeds: the seed ranges; the space is their product.
        seed: seeds the fallback draw.
        max_retries: proposals asked for before falling back to a random pair.
    """

    def __init__(
        self,
        searcher: Searcher,
        wi_seeds: Sequence[int],
        do_seeds: Sequence[int],
        seed: int = 0,
        max_retries: int = 20,
    ):
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.space = set(full_grid(wi_seeds, do_seeds))
        self.max_retries = max_retries
        self.rng = np.random.default_rng(seed)
        self.handed_out: dict[Pair, str] = {}  # pair -> trial id
        self.results: dict[Pair, dict] = {}  # pair -> final result, once known
        self.inner_id: dict[str, str | None] = {}  # trial id -> wrapped searcher's id
        self.configs: dict[str, dict] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec):
        ok = self.searcher.set_search_properties(metric, mode, config, **spec)
        self._metric, self._mode = self.searcher.metric, self.searcher.mode
        return ok

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> dict | str | None:
        if len(self.handed_out) >= len(self.space):
            return Searcher.FINISHED
        for attempt in range(self.max_retries + 1):
            inner = trial_id if attempt == 0 else f"{trial_id}_dup{attempt}"
            config = self.searcher.suggest(inner)
            if config is None or config == Searcher.FINISHED:
                return config
            pair = _pair_of(config)
            if pair not in self.handed_out:
                return self._hand_out(trial_id, pair, config, inner)
            # Close the repeated proposal so the searcher moves on.
            known = self.results.get(pair)
            self.searcher.on_trial_complete(inner, result=known, error=known is None)
        unused = sorted(self.space.difference(self.handed_out))
        wi, do = unused[int(self.rng.integers(len(unused)))]
        return self._hand_out(trial_id, (wi, do), {"wi_seed": wi, "do_seed": do}, None)

    def _hand_out(self, trial_id: str, pair: Pair, config: dict, inner: str | None) -> dict:
        self.handed_out[pair] = trial_id
        self.inner_id[trial_id] = inner
        self.configs[trial_id] = config
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        inner = self.inner_id.get(trial_id)
        if inner is not None:
            self.searcher.on_trial_result(inner, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        config = self.configs.get(trial_id)
        if config is None:
            return
        if result is not None and not error:
            self.results[_pair_of(config)] = result
        inner = self.inner_id.get(trial_id)
        if inner is not None:
            self.searcher.on_trial_complete(inner, result=result, error=error)
        elif result is not None and not error and self.metric in result:
            self.searcher.add_evaluated_point(config, result[self.metric])

    def get_state(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def optuna_search(
    wi_seeds: Sequence[int],
    do_seeds: Sequence[int],
    seed: int,
    metric: str = "best_score",
    mode: str = "max",
) -> DistinctPairs:
    """Ray's OptunaSearch over the seeds (categorical, seeded TPE), never repeating a pair.

    TPE models each seed separately, so it can learn that some WI seeds (or DO
    seeds) do better across partners, which the paper found to be the case.
    """
    # Optuna only for --search optuna: it takes about a second to import.
    import optuna
    from optuna.distributions import CategoricalDistribution
    from ray.tune.search.optuna import OptunaSearch

    space = {
        "wi_seed": CategoricalDistribution(list(wi_seeds)),
        "do_seed": CategoricalDistribution(list(do_seeds)),
    }
    inner = OptunaSearch(
        space=space, metric=metric, mode=mode, sampler=optuna.samplers.TPESampler(seed=seed)
    )
    return DistinctPairs(inner, wi_seeds, do_seeds, seed=seed)


def build_searcher(
    search: str,
    wi_seeds: Sequence[int],
    do_seeds: Sequence[int],
    num_samples: int | None,
    seed: int = 0,
    metric: str = "best_score",
    mode: str = "max",
) -> tuple[Searcher, int]:
    """The searcher of a sweep and the number of trials it will hand out.

    Takes what a :class:`~tune_seeds.tuning.spec.SweepSpec` holds, which it checked.

    Args:
        search: ``grid``, ``random`` or ``optuna``.
        wi_seeds, do_seeds: the seed ranges (see :func:`parse_seed_range`).
        num_samples: trials to run; ``None`` only for ``grid`` (the full grid).
        seed: seed of ``random`` draws and of the Optuna sampler.
        metric, mode: what Optuna maximizes (the trial's best score by default).
    """
    assert search in SEARCHES, search
    if search == "grid":
        pairs = (
            full_grid(wi_seeds, do_seeds)
            if num_samples is None
            else near_square_grid(num_samples, wi_seeds, do_seeds)
        )
        return PairList(pairs), len(pairs)
    assert num_samples is not None, f"--search {search} draws --num-samples pairs"
    if search == "random":
        return PairList(random_pairs(num_samples, wi_seeds, do_seeds, seed)), num_samples
    _assert_room(num_samples, wi_seeds, do_seeds)
    return optuna_search(wi_seeds, do_seeds, seed, metric, mode), num_samples
