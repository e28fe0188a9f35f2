"""Tests of tune_seeds.schedulers: EarlyDiscardScheduler on real (small) Tune runs, comparators.

Expected decisions are computed here from the synthetic curves, independently of the
scheduler's own ranking code. Compute is measured twice: from the trainable's ledger
(every interval actually trained, duplicates included) and from Tune's results.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray
from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler, HyperBandScheduler
from ray.tune.search import Searcher

from tests.synthetic_trainable import curve_of, read_ledger, synthetic_trainable
from tune_seeds.plan import EarlyDiscardPlan
from tune_seeds.schedulers import (
    DECISIONS_FILE,
    EarlyDiscardScheduler,
    asha_scheduler,
    hyperband_scheduler,
    total_compute,
    trial_compute,
)
from tune_seeds.schedulers.early_discard import _Member, _n_keep, rank_members

# ----- pure parts (no Ray) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"milestone": 0, "keep": 2}, "milestone must be > 0"),
        ({"milestone": "5", "keep": 2}, "milestone must be a number"),
        ({"milestone": 5, "keep": 0}, "keep as an int must be >= 1"),
        ({"milestone": 5, "keep": 1.5}, r"keep as a fraction must be in \(0, 1\]"),
        ({"milestone": 5, "keep": 0.0}, r"keep as a fraction must be in \(0, 1\]"),
        ({"milestone": 5, "keep": True}, "keep must be an int >= 1 or a float"),
        ({"milestone": 5, "keep": 2, "cohort_size": 1}, "cohort_size must be >= 2"),
        ({"milestone": 5, "keep": 2, "cohort_size": 2.5}, "cohort_size must be None or an int"),
        (
            {"milestone": 5, "keep": 4, "cohort_size": 4},
            "keep=4 must be smaller than cohort_size=4",
        ),
        ({"milestone": 5, "keep": 2, "mode": "maximize"}, "mode must be 'min' or 'max'"),
        ({"milestone": 5, "keep": 2, "rank_by": "mean"}, "rank_by must be 'best' or 'last'"),
        ({"milestone": 5, "keep": 2, "time_attr": ""}, "time_attr must be a result key"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EarlyDiscardScheduler(**kwargs)


def test_numpy_numbers_are_accepted_as_counts() -> None:
    # A planner's numpy integers mean a count of trials, not a fraction.
    scheduler = EarlyDiscardScheduler(
        milestone=np.int64(5), keep=np.int64(4), cohort_size=np.int64(8), time_attr="eval_index"
    )
    assert "milestone eval_index=5, keep 4 per cohort of 8" in scheduler.debug_string()


def test_keep_counts_int_and_fraction() -> None:
    assert [_n_keep(4, n) for n in (0, 2, 4, 16)] == [0, 2, 4, 4]
    # Fractions round up, never to zero, and float noise does not add a trial.
    assert [_n_keep(0.25, n) for n in (16, 15, 3, 1)] == [4, 4, 1, 1]
    assert _n_keep(0.3, 10) == 3
    assert _n_keep(1.0, 7) == 7


def test_ranking_breaks_ties_by_config_then_order() -> None:
    def member(i: int, key: str, score: float | None) -> _Member:
        return _Member(trial_id=f"t{i}", index=i, cohort=0, config_key=key, score=score)

    members = [
        member(0, '{"seed": 2}', 0.8),
        member(1, '{"seed": 1}', 0.8),
        member(2, '{"seed": 3}', float("nan")),
        member(3, '{"seed": 1}', 0.8),  # same config as t1: the earlier-added wins
        member(4, '{"seed": 0}', 0.9),
        member(5, '{"seed": 5}', None),
    ]
    assert [m.trial_id for m in rank_members(members, "max")] == [
        "t4", "t1", "t3", "t0", "t2", "t5"
    ]  # fmt: skip
    assert [m.trial_id for m in rank_members(members, "min")][:4] == ["t1", "t3", "t0", "t4"]


def test_comparators_share_time_attr_and_reject_bad_budgets() -> None:
    asha = asha_scheduler(30, grace_period=3, time_attr="eval_index", metric="score", mode="max")
    hb = hyperband_scheduler(30, time_attr="eval_index", metric="score", mode="max")
    assert isinstance(asha, AsyncHyperBandScheduler) and asha._time_attr == "eval_index"
    assert (asha._max_t, asha._reduction_factor) == (30, 4)
    assert isinstance(hb, HyperBandScheduler) and hb._time_attr == "eval_index"
    with pytest.raises(ValueError, match="grace_period=31 must not exceed max_t=30"):
        asha_scheduler(30, grace_period=31)
    with pytest.raises(ValueError, match="max_t must be an int >= 1"):
        hyperband_scheduler(0)
    with pytest.raises(ValueError, match="reduction_factor must be > 1"):
        asha_scheduler(30, reduction_factor=1)


def test_compute_helpers() -> None:
    assert trial_compute({"eval_index": 8, "score": 0.8}) == 8
    assert trial_compute({"training_iteration": 9}, "training_iteration", start=1) == 8
    assert trial_compute({}) == 0
    assert total_compute([{"eval_index": 5}] * 12 + [{"eval_index": 30}] * 4) == 180
    assert EarlyDiscardPlan(16, milestone=5, keep=4, total_evals=30).cost == 16 * 5 + 4 * 25
    with pytest.raises(TypeError, match=r"takes a ray\.tune\.Result"):
        trial_compute(3)
    with pytest.raises(ValueError, match="milestone=31 exceeds the 30 evaluations"):
        EarlyDiscardPlan(16, milestone=31, keep=4, total_evals=30)


# ----- Tune runs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_instance():
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # One CPU per trial: without max_concurrent_trials, resources let 2 run at once.
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _configs(
    n: int, intervals: int, ledger: Path, **per_seed: dict[int, Any]
) -> list[dict[str, Any]]:
    """The configs Tune will resolve, in its order, for seeds 0..n-1."""
    configs = []
    for seed in range(n):
        config = {"seed": seed, "intervals": intervals, "ledger_dir": str(ledger)}
        config.update({k: v.get(seed) for k, v in per_seed.items()})
        configs.append(config)
    return configs


def _expected(
    configs: list[dict[str, Any]],
    milestone: int,
    keep: int | float,
    cohort_size: int | None = None,
    rank_by: str = "best",
    failing: tuple[int, ...] = (),
) -> dict[int, str]:
    """seed -> 'kept' | 'cut', from the curves (milestone in eval_index units)."""
    size = cohort_size or len(configs)
    decisions = {}
    for start in range(0, len(configs), size):
        cohort = [c for c in configs[start : start + size] if c["seed"] not in failing]
        curves = {c["seed"]: curve_of(c) for c in cohort}
        score = {
            s: max(curve[: milestone + 1]) if rank_by == "best" else curve[milestone]
            for s, curve in curves.items()
        }
        ranked = sorted(cohort, key=lambda c: (-score[c["seed"]], json.dumps(c, sort_keys=True)))
        n_keep = keep if isinstance(keep, int) else math.ceil(keep * len(cohort) - 1e-9)
        for rank, c in enumerate(ranked):
            decisions[c["seed"]] = "kept" if rank < n_keep else "cut"
    return decisions


class _Interrupt(tune.Callback):
    """Interrupts the run like Ctrl+C once `count` results satisfy `when`, only once
    (a marker file survives into the restored run, which unpickles this callback)."""

    def __init__(self, marker: Path, milestone: int, when: str, count: int) -> None:
        self.marker, self.milestone, self.when, self.count = marker, milestone, when, count
        self.seen = 0

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if self.marker.exists():
            return
        k, milestone = result["eval_index"], self.milestone
        hit = {"before": k < milestone, "at": k == milestone, "after": k > milestone}
        self.seen += hit[self.when]
        if self.seen >= self.count:
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGUSR1)  # Tune saves the state and returns


# A hang (the failure this scheduler must avoid) ends the run and fails the asserts
# instead of blocking the test suite.
_HANG_GUARD_S = 150


def _sweep(
    tmp_path: Path,
    n: int,
    intervals: int,
    milestone: int,
    keep: int | float,
    cohort_size: int | None = None,
    max_concurrent: int | None = None,
    time_attr: str = "eval_index",
    rank_by: str = "best",
    attach_callback: bool = True,
    extra_callbacks: tuple[tune.Callback, ...] = (),
    **per_seed: dict[int, Any],
) -> tuple[EarlyDiscardScheduler, tune.ResultGrid, list[dict[str, Any]]]:
    ledger = tmp_path / "ledger"
    ledger.mkdir(exist_ok=True)
    configs = _configs(n, intervals, ledger, **per_seed)
    scheduler = EarlyDiscardScheduler(
        milestone=milestone,
        keep=keep,
        cohort_size=cohort_size,
        time_attr=time_attr,
        metric="score",
        mode="max",
        rank_by=rank_by,
    )
    param_space = {
        "seed": tune.grid_search(list(range(n))),
        "intervals": intervals,
        "ledger_dir": str(ledger),
    }
    for key, values in per_seed.items():
        param_space[key] = tune.sample_from(lambda spec, v=values: v.get(spec.config["seed"]))
    callbacks = [scheduler.state_callback()] if attach_callback else []
    tuner = tune.Tuner(
        synthetic_trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            scheduler=scheduler,
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,
            time_budget_s=_HANG_GUARD_S,
        ),
        run_config=tune.RunConfig(
            name="exp",
            storage_path=str(tmp_path / "runs"),
            verbose=0,
            callbacks=callbacks + list(extra_callbacks),
        ),
    )
    return scheduler, tuner.fit(), configs


def _decided(decisions: list[dict[str, Any]]) -> dict[int, str]:
    return {d["config"]["seed"]: d["decision"] for d in decisions}


def _reached(results: tune.ResultGrid) -> dict[int, int]:
    return {r.config["seed"]: trial_compute(r) for r in results}


@pytest.mark.ray
@pytest.mark.parametrize("max_concurrent", [1, 2, None])
def test_done_when_16_trials_train_exactly_the_budget(
    ray_instance, tmp_path: Path, max_concurrent: int | None
) -> None:
    """milestone=5, keep=4 over 16 trials of T intervals: 16*5 + 4*(T-5), any concurrency.
    With a cohort of 16 and at most 1 or 2 trials running (by max_concurrent_trials, or
    by resources when unlimited), this is also the no-deadlock check."""
    T = 8
    scheduler, results, configs = _sweep(tmp_path, 16, T, 5, 4, max_concurrent=max_concurrent)

    expected = _expected(configs, milestone=5, keep=4)
    assert _decided(scheduler.decisions) == expected
    assert next(d["config"] for d in scheduler.decisions if d["rank"] == 1) in configs
    ledger = read_ledger(tmp_path / "ledger")
    trained = Counter((seed, k) for seed, k, _ in ledger)
    assert max(trained.values()) == 1, "a paused trial retrained intervals after resuming"
    assert len(ledger) == 16 * 5 + 4 * (T - 5) == total_compute(results)
    assert _reached(results) == {s: T if d == "kept" else 5 for s, d in expected.items()}
    # Every trial paused at the milestone but the last arrival, and kept ones resumed:
    # the ledger shows the kept trials' intervals after 5 all came after every cut.
    last_cut_interval = max(t for seed, k, t in ledger if expected[seed] == "cut")
    assert all(t > last_cut_interval for seed, k, t in ledger if k > 5)


@pytest.mark.ray
def test_waves_fractional_keep_and_an_error_before_the_milestone(
    ray_instance, tmp_path: Path
) -> None:
    """Cohorts of 4 in add order, keep half of each; a cohort starts only once the one
    before it is decided; 2 concurrent slots, so kept trials must win freed slots.
    Seed 5 crashes after one interval: it leaves cohort 1 (3 candidates, 2 kept)."""
    scheduler, results, configs = _sweep(
        tmp_path, 12, 6, 3, 0.5, cohort_size=4, max_concurrent=2, fail_at={5: 2}
    )
    assert [r.config["seed"] for r in results if r.error is not None] == [5]
    expected = _expected(configs, milestone=3, keep=0.5, cohort_size=4, failing=(5,))
    assert Counter(expected.values()) == {"kept": 6, "cut": 5}
    assert _decided(scheduler.decisions) == expected
    assert [d["cohort"] for d in scheduler.decisions] == [0] * 4 + [1] * 3 + [2] * 4
    assert [d["left_before_milestone"] for d in scheduler.decisions if d["cohort"] == 1] == [1] * 3
    ledger = read_ledger(tmp_path / "ledger")
    assert len(ledger) == len({(s, k) for s, k, _ in ledger}) == 11 * 3 + 1 + 6 * 3
    decided_at = {
        c: max(d["time"] for d in scheduler.decisions if d["cohort"] == c) for c in (0, 1)
    }
    for seed, _, t in ledger:
        if seed >= 4:  # cohorts 1 and 2 train nothing before the previous cohort is decided
            assert t > decided_at[seed // 4 - 1]
    assert "Cohort 1 (decided, 4 trials): 2 continuing, 1 cut, 1 left." in scheduler.debug_string()


@pytest.mark.ray
def test_ties_go_to_the_smaller_config_and_missing_callback_warns(
    ray_instance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Seeds 0-2 and 3-5 share two curves: equal scores, so the config decides.
    The run has no state callback: a clear warning, and no decisions file."""
    curve_seed = {0: 7, 1: 7, 2: 7, 3: 11, 4: 11, 5: 11}
    configs_probe = _configs(6, 4, tmp_path, curve_seed=curve_seed)
    assert curve_of(configs_probe[0]) == curve_of(configs_probe[2])
    with caplog.at_level(logging.WARNING, logger="tune_seeds.schedulers.early_discard"):
        scheduler, _, configs = _sweep(
            tmp_path, 6, 4, 2, 2, attach_callback=False, curve_seed=curve_seed
        )
    expected = _expected(configs, milestone=2, keep=2)
    assert _decided(scheduler.decisions) == expected
    assert sorted(s for s, d in expected.items() if d == "kept") in ([0, 1], [3, 4])
    assert "restore-safety is OFF" in caplog.text
    assert not (tmp_path / "runs" / "exp" / DECISIONS_FILE).exists()


@pytest.mark.ray
def test_rank_by_last_on_training_iteration(ray_instance, tmp_path: Path) -> None:
    """Any time_attr works: training_iteration is eval_index + 1 for these trials."""
    configs = _configs(6, 4, tmp_path / "ledger")
    by_best, by_last = _expected(configs, 2, 3), _expected(configs, 2, 3, rank_by="last")
    assert by_best != by_last  # the scenario tells the two rules apart
    scheduler, results, _ = _sweep(
        tmp_path, 6, 4, 3, 3, time_attr="training_iteration", rank_by="last", max_concurrent=2
    )
    assert _decided(scheduler.decisions) == by_last
    assert {d["reached_at"] for d in scheduler.decisions} == {3}
    assert _reached(results) == {s: 4 if d == "kept" else 2 for s, d in by_last.items()}


@pytest.mark.ray
def test_milestone_report_without_checkpoint_is_an_error(ray_instance, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="carries no checkpoint") as info:
        _sweep(tmp_path, 3, 4, 2, 1, checkpoints={0: False, 1: False, 2: False})
    assert "tune.report(metrics, checkpoint=" in str(info.value)


class _SelfLimitingSearcher(Searcher):
    """A searcher that enforces max_concurrent itself, invisibly to the scheduler."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.given, self.live, self.limit = n, 0, set(), None

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.limit = max_concurrent
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.given >= self.n:
            return Searcher.FINISHED
        if len(self.live) >= self.limit:
            return None
        self.live.add(trial_id)
        self.given += 1
        return {"seed": self.given, "intervals": 4}

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        self.live.discard(trial_id)


@pytest.mark.ray
def test_a_cohort_that_can_never_fill_fails_loudly(ray_instance, tmp_path: Path) -> None:
    scheduler = EarlyDiscardScheduler(
        milestone=2, keep=1, time_attr="eval_index", metric="score", mode="max"
    )
    scheduler.stall_timeout_s = 1.0
    tuner = tune.Tuner(
        synthetic_trainable,
        tune_config=tune.TuneConfig(
            scheduler=scheduler,
            search_alg=_SelfLimitingSearcher(6),
            num_samples=6,
            max_concurrent_trials=2,
        ),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), verbose=0, callbacks=[scheduler.state_callback()]
        ),
    )
    with pytest.raises(Exception, match="the cohort can never fill"):
        tuner.fit()


@pytest.mark.ray
@pytest.mark.parametrize(
    ("when", "count"),
    [("before", 3), ("at", 5), ("after", 2)],
    ids=["before-milestone", "mid-cohort", "after-cut"],
)
def test_restore_gives_the_same_decisions(
    ray_instance, tmp_path: Path, when: str, count: int
) -> None:
    n, T, milestone, keep = 8, 5, 3, 2
    interrupt = _Interrupt(tmp_path / "interrupted", milestone, when, count)
    scheduler, _, configs = _sweep(
        tmp_path, n, T, milestone, keep, max_concurrent=2, extra_callbacks=(interrupt,)
    )
    assert (tmp_path / "interrupted").exists()
    expected = _expected(configs, milestone, keep)
    before_restore = _decided(scheduler.decisions)
    assert before_restore == ({} if when != "after" else expected)
    if when == "at":
        waiting = "waiting" in scheduler.debug_string()
        assert waiting and not scheduler.decisions, scheduler.debug_string()

    restored = tune.Tuner.restore(str(tmp_path / "runs" / "exp"), trainable=synthetic_trainable)
    results = restored.fit()

    lines = (tmp_path / "runs" / "exp" / DECISIONS_FILE).read_text().splitlines()
    assert _decided([json.loads(line) for line in lines]) == expected
    assert len(lines) == n
    assert _reached(results) == {s: T if d == "kept" else milestone for s, d in expected.items()}
    ledger = read_ledger(tmp_path / "ledger")
    # Only work in flight at the interruption (at most one interval for each of the
    # 2 running trials) may be redone; paused trials restart from their milestone.
    redone = len(ledger) - len({(s, k) for s, k, _ in ledger})
    assert redone <= 2
    assert len({(s, k) for s, k, _ in ledger}) == EarlyDiscardPlan(n, milestone, keep, T).cost
