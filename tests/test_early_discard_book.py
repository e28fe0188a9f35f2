"""The early-discard bookkeeping (``tune_seeds.schedulers.early_discard.book``), no Ray.

Each test plays what the scheduler reports (trials added, reaching the milestone,
ending) and checks the book's answers: which cohorts are ready, the decisions, the
queues of trials to resume, hold and stop, and that the saved state (plain JSON)
round-trips, also across a restore whose trials come back with other statuses.
"""

from __future__ import annotations

import json

import pytest

from tune_seeds.schedulers.early_discard import CohortBook, MemberState
from tune_seeds.schedulers.early_discard.book import (
    CONTINUING,
    CUT,
    KEPT_WAITING,
    LEFT,
    TRAINING,
    WAITING,
)


def book_with(n: int, cohort_size: int | None = None, keep: int | float = 0.5) -> CohortBook:
    book = CohortBook(cohort_size=cohort_size, keep=keep, mode="max")
    for i in range(n):
        book.add(f"t{i}", json.dumps({"seed": i}))
    return book


def reach(book: CohortBook, trial_id: str, *values: float) -> None:
    member = book.members[trial_id]
    for value in values:
        book.update_best(member, value)
    book.reach(member, at=2, score=member.best)


def round_trip(book: CohortBook) -> CohortBook:
    again = CohortBook(cohort_size=book.cohort_size, keep=book.keep, mode=book.mode)
    again.set_state(json.loads(json.dumps(book.get_state())))
    return again


def test_states_are_an_enum_saved_as_plain_strings() -> None:
    book = book_with(2)
    assert book.members["t0"].state is TRAINING and isinstance(TRAINING, MemberState)
    state = json.loads(json.dumps(book.get_state()))
    assert state["fields"] == ["trial_id", "index", "cohort", "config_key", "state", "best",
                               "score", "reached_at"]
    assert [row[4] for row in state["members"]] == ["training", "training"]


def test_cohorts_fill_in_add_order_and_open_one_after_another() -> None:
    book = book_with(5, cohort_size=2)
    assert [m.cohort for m in book.members.values()] == [0, 0, 1, 1, 2]
    assert [book.is_open(c) for c in (0, 1, 2)] == [True, False, False]
    reach(book, "t0", 0.6)
    assert book.ready_cohorts(search_finished=False) == []  # t1 still training
    reach(book, "t1", 0.7)
    assert book.ready_cohorts(search_finished=False) == [0]
    records = book.decide(0, now=0.0)
    assert [(r["trial_id"], r["decision"], r["rank"]) for r in records] == [
        ("t1", "kept", 1), ("t0", "cut", 2)]
    assert book.is_open(1) and not book.is_open(2)
    # The last cohort is short: it is ready only once the searcher is finished.
    book.decide(1, now=0.0)
    reach(book, "t4", 0.1)
    assert book.ready_cohorts(search_finished=False) == []
    assert book.ready_cohorts(search_finished=True) == [2]


def test_decide_ranks_by_score_then_config_and_queues_kept_and_cut() -> None:
    book = book_with(4, keep=2)
    for trial_id, values in {"t0": (0.5, 0.9), "t1": (0.8,), "t2": (0.9,), "t3": (0.2,)}.items():
        reach(book, trial_id, *values)
    records = book.decide(0, now=1.0)
    # t0 and t2 tie at 0.9: the smaller config ({"seed": 0}) ranks first.
    assert [(r["trial_id"], r["decision"]) for r in records] == [
        ("t0", "kept"), ("t2", "kept"), ("t1", "cut"), ("t3", "cut")]
    assert list(book.kept) == ["t0", "t2"] and list(book.to_stop) == ["t1", "t3"]
    assert {k: v for k, v in book.totals.items() if v} == {KEPT_WAITING: 2, CUT: 2}
    assert records[0]["score"] == 0.9 and records[0]["candidates"] == 4


def test_a_trial_ending_before_the_milestone_leaves_without_blocking() -> None:
    book = book_with(3, keep=1)
    reach(book, "t0", 0.4)
    reach(book, "t1", 0.3)
    book.end(book.members["t2"])  # errored while training
    assert book.members["t2"].state is LEFT
    records = book.decide(0, now=0.0)
    assert [r["left_before_milestone"] for r in records] == [1, 1]
    assert book.is_ended(book.members["t2"])


def test_ending_empties_the_queues_and_freezes_a_closed_cohort() -> None:
    book = book_with(3, keep=1)
    for trial_id, value in (("t0", 0.4), ("t1", 0.6), ("t2", 0.5)):
        reach(book, trial_id, value)
    book.decide(0, now=0.0)
    assert list(book.to_stop) == ["t2", "t0"]
    book.end(book.members["t2"])
    book.end(book.members["t0"])
    assert not book.to_stop and 0 not in book.frozen
    book.move(book.members["t1"], CONTINUING)
    book.end(book.members["t1"])
    assert not book.kept and 0 in book.frozen
    state = book.get_state()
    assert state["members"] == [] and state["decisions"] == []  # all in the frozen blob


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
def test_state_round_trips_and_restored_statuses_decide_what_to_stop(frozen: bool) -> None:
    book = book_with(5, cohort_size=3, keep=1)
    for trial_id, value in (("t0", 0.4), ("t1", 0.6), ("t2", 0.5)):
        reach(book, trial_id, value)
    book.decide(0, now=0.0)
    book.move(book.members["t1"], CONTINUING)
    reach(book, "t3", 0.7)  # cohort 1 waits for t4
    if frozen:
        for trial_id in ("t0", "t1", "t2"):
            book.end(book.members[trial_id])
        assert 0 in book.frozen

    again = round_trip(book)
    assert json.loads(json.dumps(again.get_state())) == json.loads(json.dumps(book.get_state()))
    assert again.decisions == book.decisions and again.decided == [0]
    assert {t: m.state for t, m in again.members.items()} == {
        "t0": CUT, "t1": CONTINUING, "t2": CUT, "t3": WAITING, "t4": TRAINING}
    assert again.members["t3"].score == 0.7 and again.members["t3"].best == 0.7
    assert again.is_open(1) and again.ready_cohorts(search_finished=False) == []
    # Nothing about the trials' statuses was saved: until the scheduler reports which
    # ended, every cut trial is to be stopped and every kept one to run.
    assert list(again.to_stop) == ["t2", "t0"] and list(again.kept) == ["t1"]
    # Tune restored t0 and t1 TERMINATED, and t2 unfinished (its stop was not saved).
    again.end(again.members["t0"])
    again.end(again.members["t1"])
    assert list(again.to_stop) == ["t2"] and not again.kept
    again.end(again.members["t2"])
    assert 0 in again.frozen
    # Cohort 1 goes on exactly as it would have.
    reach(again, "t4", 0.1)
    assert [(r["trial_id"], r["decision"]) for r in again.decide(1, now=0.0)] == [
        ("t3", "kept"), ("t4", "cut")]


def test_a_retried_trial_rejoins_an_undecided_cohort_only() -> None:
    book = book_with(4, cohort_size=2, keep=1)
    book.end(book.members["t0"])
    book.end(book.members["t2"])
    again = round_trip(book)
    again.rejoin(again.members["t0"])  # cohort 0 undecided: back to training
    assert again.members["t0"].state is TRAINING and 0 not in again.settled
    reach(again, "t1", 0.5)
    reach(again, "t0", 0.6)
    assert [r["trial_id"] for r in again.decide(0, now=0.0)][:1] == ["t0"]
    again.decide(1, now=0.0)  # t3 never reached it: nothing to rank but t2 left
    again.rejoin(again.members["t2"])
    assert again.members["t2"].state is LEFT


def test_the_state_of_the_single_module_version_still_loads() -> None:
    """Version 2 rows carried started/slot_released/stopped/ended flags: dropped."""
    old_fields = ["trial_id", "index", "cohort", "config_key", "state", "best", "score",
                  "reached_at", "started", "slot_released", "stopped", "ended"]
    key = json.dumps({"seed": 0})
    state = {
        "fields": old_fields,
        "members": [["t0", 0, 0, key, "cut", 0.4, 0.4, 2, True, True, True, True],
                    ["t1", 1, 0, key, "continuing", 0.6, 0.6, 2, True, False, False, False]],
        "frozen": {},
        "decided": [0],
        "decisions": [{"cohort": 0, "trial_id": "t1", "rank": 1, "decision": "kept"},
                      {"cohort": 0, "trial_id": "t0", "rank": 2, "decision": "cut"}],
    }
    book = CohortBook(cohort_size=None, keep=1, mode="max")
    book.set_state(state)
    assert book.members["t0"].state is CUT and list(book.to_stop) == ["t0"]
    assert list(book.kept) == ["t1"] and book.is_decided(0)


def test_a_scheduler_pickled_by_the_single_module_version_is_rebuilt() -> None:
    """tuner.pkl of a sweep started before the split holds the old layout (pickled
    before the run, so only the settings and the callback matter)."""
    import pickle

    from tune_seeds.schedulers import EarlyDiscardScheduler

    new = EarlyDiscardScheduler(milestone=8, keep=0.25, cohort_size=4, time_attr="eval_index",
                                metric="score", mode="max", rank_by="last", rank_from=1)
    callback = new.state_callback()
    old_layout = {k: v for k, v in new.__dict__.items() if k != "_layout"}
    old_layout["_stalled_since"] = None  # an attribute only the old layout had
    del old_layout["_stall"]
    restored = EarlyDiscardScheduler.__new__(EarlyDiscardScheduler)
    restored.__setstate__(old_layout)
    assert restored.debug_string() == new.debug_string()
    assert restored._rank_from == 1 and restored.state_callback() is callback
    assert not hasattr(restored, "_stalled_since") and restored._book.members == {}
    same = pickle.loads(pickle.dumps(new))  # the current layout round-trips as is
    assert same.debug_string() == new.debug_string()
    assert same.state_callback()._scheduler is same
