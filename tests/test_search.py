"""Seed ranges and the searches of a sweep: every pair at most once, reproducibly."""

from __future__ import annotations

import re

import pytest
from ray.tune.search import Searcher

from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning.search import (
    DistinctPairs,
    PairList,
    build_searcher,
    near_square_grid,
    optuna_search,
    parse_seed_range,
    random_pairs,
)
from tune_seeds.tuning.spec import SweepSpec


def test_parse_seed_range_accepts_lists_and_ranges():
    assert parse_seed_range("1-25") == list(range(1, 26))
    assert parse_seed_range(" 3, 1-2 ,9,2") == [1, 2, 3, 9]
    assert parse_seed_range("0") == [0]
    assert parse_seed_range("7-7") == [7]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty seed range"),
        ("  ", "empty seed range"),
        ("a", "malformed seed range item 'a'"),
        ("1,,2", "malformed seed range item ''"),
        ("-3", "malformed seed range item '-3'"),
        ("1-2-3", "malformed seed range item '1-2-3'"),
        ("1.5", "malformed seed range item '1.5'"),
        ("5-3", "'5-3' in '5-3' ends before it starts"),
    ],
)
def test_parse_seed_range_rejects_bad_input(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_seed_range(text)


def test_near_square_grid_takes_the_smallest_square_ish_corner():
    assert near_square_grid(4, [1, 2, 3], [1, 2, 3]) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert near_square_grid(6, [1, 2, 3], [5, 6, 7]) == [
        (1, 5), (1, 6), (2, 5), (2, 6), (3, 5), (3, 6)
    ]
    # One WI seed only: the grid becomes a row of DO seeds.
    assert near_square_grid(3, [4], [1, 2, 3, 4]) == [(4, 1), (4, 2), (4, 3)]
    # Few DO seeds: more rows instead.
    assert near_square_grid(6, [1, 2, 3, 4, 5, 6], [1, 2]) == [
        (1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)
    ]


def test_random_pairs_are_distinct_reproducible_and_seeded():
    wi, do = list(range(1, 6)), list(range(1, 6))
    a = random_pairs(20, wi, do, seed=3)
    assert len(set(a)) == 20
    assert all(w in wi and d in do for w, d in a)
    assert a == random_pairs(20, wi, do, seed=3)
    assert a != random_pairs(20, wi, do, seed=4)
    assert sorted(random_pairs(25, wi, do, seed=0)) == [(w, d) for w in wi for d in do]


def test_pair_list_hands_out_in_order_and_resumes(tmp_path):
    pairs = [(1, 1), (1, 2), (2, 1)]
    searcher = PairList(pairs)
    assert searcher.suggest("a") == {"wi_seed": 1, "do_seed": 1}
    path = tmp_path / "state.pkl"
    searcher.save(str(path))
    assert searcher.suggest("b") == {"wi_seed": 1, "do_seed": 2}

    restored = PairList([])
    restored.restore(str(path))
    assert restored.suggest("b") == {"wi_seed": 1, "do_seed": 2}
    assert restored.suggest("c") == {"wi_seed": 2, "do_seed": 1}
    assert restored.suggest("d") == Searcher.FINISHED
    with pytest.raises(ValueError, match="more than once"):
        PairList([(1, 1), (1, 1)])


def _drain(searcher: Searcher, n: int, score=lambda w, d: (w * 7 + d * 3) % 11 / 10):
    """Suggest n trials one after another, completing each with a deterministic score."""
    pairs = []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        if config == Searcher.FINISHED:
            pairs.append(config)
            continue
        w, d = config["wi_seed"], config["do_seed"]
        pairs.append((w, d))
        searcher.on_trial_complete(f"t{i}", result={"best_score": score(w, d)})
    return pairs


def test_optuna_search_covers_the_space_without_repeating():
    searcher = optuna_search([1, 2, 3, 4], [1, 2, 3, 4], seed=0)
    searcher.set_search_properties("best_score", "max", {})
    pairs = _drain(searcher, 17)
    assert len(set(pairs[:16])) == 16
    assert pairs[16] == Searcher.FINISHED
    # Seeded: the same completions give the same pairs.
    again = optuna_search([1, 2, 3, 4], [1, 2, 3, 4], seed=0)
    again.set_search_properties("best_score", "max", {})
    assert _drain(again, 16) == pairs[:16]


def test_optuna_search_resumes_with_the_same_sequence(tmp_path):
    full = optuna_search(range(1, 6), range(1, 6), seed=1)
    expected = _drain(full, 14)

    first = optuna_search(range(1, 6), range(1, 6), seed=1)
    head = _drain(first, 7)
    first.save(str(tmp_path / "s.pkl"))
    restored = optuna_search(range(1, 6), range(1, 6), seed=99)
    restored.restore(str(tmp_path / "s.pkl"))
    tail = []
    for i in range(7, 14):
        config = restored.suggest(f"t{i}")
        w, d = config["wi_seed"], config["do_seed"]
        tail.append((w, d))
        restored.on_trial_complete(f"t{i}", result={"best_score": (w * 7 + d * 3) % 11 / 10})
    assert head + tail == expected
    assert len(set(expected)) == 14


class AlwaysTheSame(Searcher):
    """A searcher stuck on one pair, the worst case for the de-duplicating wrapper."""

    def __init__(self):
        super().__init__(metric="best_score", mode="max")
        self.closed: list[tuple[str, dict | None, bool]] = []
        self.evaluated: list[tuple[dict, float]] = []

    def suggest(self, trial_id):
        return {"wi_seed": 1, "do_seed": 1}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.closed.append((trial_id, result, error))

    def add_evaluated_point(self, parameters, value, **kwargs):
        self.evaluated.append((parameters, value))


def test_distinct_pairs_tells_repeats_their_result_and_falls_back():
    inner = AlwaysTheSame()
    searcher = DistinctPairs(inner, [1, 2], [1, 2], seed=0, max_retries=2)
    assert searcher.suggest("a") == {"wi_seed": 1, "do_seed": 1}
    # (1, 1) still running: repeats are closed as failed, then a fallback pair is drawn.
    b = searcher.suggest("b")
    assert (b["wi_seed"], b["do_seed"]) != (1, 1)
    assert inner.closed == [("b", None, True), ("b_dup1", None, True), ("b_dup2", None, True)]
    searcher.on_trial_complete("a", result={"best_score": 0.7})
    searcher.on_trial_complete("b", result={"best_score": 0.5})
    # The fallback pair reaches the wrapped searcher as an evaluated point.
    assert inner.evaluated == [(b, 0.5)]
    inner.closed.clear()
    searcher.suggest("c")
    # (1, 1) has finished: the repeat is told the known result, not a failure.
    assert inner.closed[0] == ("c", {"best_score": 0.7}, False)
    searcher.suggest("d")
    assert searcher.suggest("e") == Searcher.FINISHED
    assert sorted(searcher.handed_out) == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_build_searcher_counts():
    searcher, n = build_searcher("grid", [1, 2, 3], [1, 2], None)
    assert n == 6 and isinstance(searcher, PairList)
    assert build_searcher("grid", [1, 2, 3], [1, 2], 4)[1] == 4
    assert build_searcher("random", [1, 2, 3], [1, 2], 5, seed=2)[0].pairs == random_pairs(
        5, [1, 2, 3], [1, 2], 2
    )


@pytest.mark.parametrize(("values", "message"), [
    (dict(search="random", num_samples=None), "--search random needs --num-samples"),
    (dict(search="optuna", num_samples=3, do_seeds=(1, 2)),
     "num_samples=3 is more than the 2 distinct (WI, DO) pairs"),
    (dict(search="grid", num_samples=5, wi_seeds=(1, 2), do_seeds=(1, 2)),
     "more than the 4 distinct"),
    (dict(search="random", num_samples=0), "--num-samples must be at least 1, got 0"),
    (dict(search="bayes", num_samples=1), "unknown search 'bayes'"),
    (dict(search="grid", num_samples=None, wi_seeds=()), "both seed ranges must hold"),
])
def test_the_sweep_spec_refuses_what_no_search_can_hand_out(values, message):
    # The one check of a sweep's search settings, for the command line and sweep.json
    # alike: the searches trust what it lets through.
    with pytest.raises(ValueError, match=re.escape(message)):
        SweepSpec(TrainConfig(task="rte"), **{"wi_seeds": (1,), "do_seeds": (1,), **values})
