"""Cohort bookkeeping of early discarding: pure Python, no Ray.

A :class:`CohortBook` holds every trial of the experiment as a :class:`Member` of a
cohort, in the order the trials were added (the searcher's order). Each member is in
exactly one :class:`MemberState`; the book records what *the scheduler* decided about
it, never what can be read from the trial itself. Whether a trial has ended is Tune's
to say: the scheduler reports it with :meth:`CohortBook.end` (also for every trial that
a restored experiment brings back finished), and the book keeps that only in memory.
Its saved state (:meth:`CohortBook.get_state`) is therefore the members' states,
scores and the decisions, never a stale copy of a trial's status: after a restore the
statuses Tune restored decide which cut trials must still be stopped and which kept
trials must still run.

Tune asks the scheduler what to do many times per trial, and a large experiment adds
all its trials up front, so nothing here scans all members: members are indexed by
cohort with per-state counts kept by :meth:`CohortBook.move`, and the members the
scheduler must act on are in small ordered queues (``kept``, ``held``, ``to_stop``)
bounded by a cohort, not by the experiment.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from tune_seeds.schedulers.early_discard.policy import best_so_far, n_keep, rank_members


class MemberState(str, Enum):
    """Where a member stands in the policy. The values are the saved strings."""

    TRAINING = "training"  # before the milestone (or not started yet)
    WAITING = "waiting"  # reached the milestone; waits until its cohort is decided
    KEPT_WAITING = "kept_waiting"  # kept; waits for a slot to resume
    CONTINUING = "continuing"  # kept and resumed: trains to the end
    CUT = "cut"  # not kept: to be stopped (if its trial has not ended)
    LEFT = "left"  # its trial ended (finished, errored, removed) before the milestone

    def __str__(self) -> str:
        return self.value


TRAINING, WAITING, KEPT_WAITING, CONTINUING, CUT, LEFT = MemberState
KEPT_STATES = (KEPT_WAITING, CONTINUING)


@dataclass
class Member:
    """One trial in its cohort. ``state`` changes only through :meth:`CohortBook.move`."""

    trial_id: str
    index: int  # order of addition to the experiment: fixes cohort membership
    cohort: int
    config_key: str
    state: MemberState = TRAINING
    best: float | None = None  # best metric value seen so far (mode-aware)
    score: float | None = None  # the value ranked: best or last at the milestone
    reached_at: float | None = None  # time_attr of the milestone report


MEMBER_FIELDS = tuple(f.name for f in fields(Member))


def _row(member: Member) -> list[Any]:
    return [str(v) if isinstance(v, MemberState) else v for v in
            (getattr(member, name) for name in MEMBER_FIELDS)]


@dataclass
class Cohort:
    """One cohort's members (in add order), how many are in each state, its decisions."""

    members: list[Member] = field(default_factory=list)
    counts: Counter[MemberState] = field(default_factory=Counter)
    n_ended: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CohortBook:
    """Cohorts, scores and decisions of an experiment (see the module docstring).

    A cohort is *open* (its trials may start) once every earlier cohort is decided,
    and *ready* to be decided when no member is TRAINING and it is full or no trial
    can join it anymore (the searcher is finished).
    """

    cohort_size: int | None
    keep: int | float
    mode: str
    members: dict[str, Member] = field(default_factory=dict)
    cohorts: dict[int, Cohort] = field(default_factory=dict)
    #: Decided cohorts in decision order, and every decision record in that order.
    decided: list[int] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    #: Members per state over all cohorts.
    totals: Counter[MemberState] = field(default_factory=Counter)
    #: Kept members whose trial has not ended, oldest cohort and best rank first: the
    #: order in which paused kept trials resume.
    kept: dict[str, None] = field(default_factory=dict)
    #: Unstarted TRAINING members held back until their cohort opens, in add order.
    held: dict[str, None] = field(default_factory=dict)
    #: CUT members whose trial has not ended: they must be stopped.
    to_stop: dict[str, None] = field(default_factory=dict)
    #: Members whose trial has ended, as reported by :meth:`end` (not saved).
    ended: set[str] = field(default_factory=set)
    #: Undecided cohorts with no TRAINING member: the only ones that can be ready.
    settled: set[int] = field(default_factory=set)
    #: Saved form of closed cohorts (decided, every trial ended): reused by every
    #: snapshot until a member changes again.
    frozen: dict[int, str] = field(default_factory=dict)
    _decided_set: set[int] = field(default_factory=set)
    _first_undecided: int = 0

    # ----- members ----------------------------------------------------------------------

    def add(self, trial_id: str, key: str) -> Member:
        """A new trial joins the next place in add order."""
        index = len(self.members)
        cohort = 0 if self.cohort_size is None else index // self.cohort_size
        member = Member(trial_id=trial_id, index=index, cohort=cohort, config_key=key)
        self._index(member)
        return member

    def _index(self, member: Member) -> None:
        self.members[member.trial_id] = member
        c = self.cohorts.setdefault(member.cohort, Cohort())
        c.members.append(member)
        c.counts[member.state] += 1
        self.totals[member.state] += 1
        self._update_settled(member.cohort)

    def cohort(self, cohort: int) -> list[Member]:
        c = self.cohorts.get(cohort)
        return list(c.members) if c is not None else []

    def move(self, member: Member, state: MemberState) -> None:
        """Change a member's state, keeping the counts and queues in step."""
        if state == member.state:
            return
        c = self.cohorts[member.cohort]
        c.counts[member.state] -= 1
        c.counts[state] += 1
        self.totals[member.state] -= 1
        self.totals[state] += 1
        member.state = state
        self.frozen.pop(member.cohort, None)
        if member.trial_id not in self.ended:
            if state == CUT:
                self.to_stop[member.trial_id] = None
            elif state in KEPT_STATES:
                self.kept[member.trial_id] = None
        self._update_settled(member.cohort)

    def end(self, member: Member) -> None:
        """Tune says the member's trial is over: it leaves every queue.

        A TRAINING member leaves its cohort (LEFT) without blocking its decision."""
        if member.trial_id in self.ended:
            return
        if member.state == TRAINING:
            self.move(member, LEFT)
        self.ended.add(member.trial_id)
        for queue in (self.kept, self.held, self.to_stop):
            queue.pop(member.trial_id, None)
        self.cohorts[member.cohort].n_ended += 1
        self._maybe_freeze(member.cohort)

    def is_ended(self, member: Member) -> bool:
        return member.trial_id in self.ended

    def rejoin(self, member: Member) -> None:
        """A trial that left before the milestone is retried (e.g. an errored trial on
        a resume): it rejoins its cohort if that is still undecided."""
        if member.state == LEFT and not self.is_decided(member.cohort):
            self.move(member, TRAINING)

    def update_best(self, member: Member, value: float) -> None:
        member.best = best_so_far(member.best, value, self.mode)

    def reach(self, member: Member, at: float, score: float | None) -> None:
        """The member reports at the milestone: it waits for its cohort's decision."""
        self.move(member, WAITING)
        member.reached_at = at
        member.score = score

    # ----- cohorts ----------------------------------------------------------------------

    def is_decided(self, cohort: int) -> bool:
        return cohort in self._decided_set

    def is_open(self, cohort: int) -> bool:
        """Trials of a cohort may start once every earlier cohort is decided."""
        return cohort <= self._first_undecided

    def _update_settled(self, cohort: int) -> None:
        if cohort in self._decided_set or self.cohorts[cohort].counts[TRAINING]:
            self.settled.discard(cohort)
        else:
            self.settled.add(cohort)

    def ready_cohorts(self, search_finished: bool) -> list[int]:
        return sorted(
            c
            for c in self.settled
            if search_finished
            or (self.cohort_size is not None and len(self.cohorts[c].members) >= self.cohort_size)
        )

    def decide(self, cohort: int, now: float | None = None) -> list[dict[str, Any]]:
        """Rank the cohort's WAITING members; the best :func:`n_keep` are KEPT_WAITING,
        the rest CUT. Returns the decision records, best rank first."""
        members = self.cohorts[cohort].members
        candidates = rank_members([m for m in members if m.state == WAITING], self.mode)
        keep = n_keep(self.keep, len(candidates))
        now = time.time() if now is None else now
        records = []
        for rank, m in enumerate(candidates):
            kept = rank < keep
            self.move(m, KEPT_WAITING if kept else CUT)
            records.append(
                {
                    "cohort": cohort,
                    "trial_id": m.trial_id,
                    "config": json.loads(m.config_key),
                    "score": m.score,
                    "rank": rank + 1,
                    "decision": "kept" if kept else "cut",
                    "reached_at": m.reached_at,
                    "candidates": len(candidates),
                    "left_before_milestone": len(members) - len(candidates),
                    "keep": keep,
                    "time": now,
                }
            )
        self._mark_decided(cohort)
        self.decisions.extend(records)
        self.cohorts[cohort].decisions = records
        self._maybe_freeze(cohort)
        return records

    def _mark_decided(self, cohort: int) -> None:
        self.decided.append(cohort)
        self._decided_set.add(cohort)
        self.settled.discard(cohort)
        while self._first_undecided in self._decided_set:
            self._first_undecided += 1

    def _maybe_freeze(self, cohort: int) -> None:
        c = self.cohorts[cohort]
        if cohort in self._decided_set and c.n_ended == len(c.members):
            self.frozen[cohort] = json.dumps(
                {"members": [_row(m) for m in c.members], "decisions": c.decisions}
            )

    # ----- state ------------------------------------------------------------------------
    # Tune snapshots the experiment (and so this state) repeatedly while it runs. Closed
    # cohorts travel as one frozen JSON string each; only the others are written out
    # again, as compact rows. Restoring expands both: decisions come back exactly.

    def get_state(self) -> dict[str, Any]:
        live = [c for n, c in self.cohorts.items() if n not in self.frozen]
        return {
            "fields": list(MEMBER_FIELDS),
            "members": [_row(m) for c in live for m in c.members],
            "frozen": dict(self.frozen),
            "decided": list(self.decided),
            "decisions": [d for c in live for d in c.decisions],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`get_state` (or the scheduler's older formats, whose
        extra per-member flags are dropped: the restored trials say which ended).

        Every CUT member is queued to be stopped and every kept member to run, until
        the scheduler reports which trials Tune restored as ended (:meth:`end`)."""
        if "fields" not in state:  # written before the state was compacted
            state = {**state, "fields": None, "frozen": {}}
        names = state["fields"]
        rows = list(state["members"])
        decisions = list(state["decisions"])
        for blob in state["frozen"].values():
            closed = json.loads(blob)
            rows.extend(closed["members"])
            decisions.extend(closed["decisions"])

        def member(row: Any) -> Member:
            values = row if names is None else dict(zip(names, row, strict=True))
            kept = {k: v for k, v in values.items() if k in MEMBER_FIELDS}
            kept["state"] = MemberState(kept.get("state", TRAINING))
            return Member(**kept)

        # Start from empty indices, keeping the settings (mode may come from Tune).
        empty = CohortBook(cohort_size=self.cohort_size, keep=self.keep, mode=self.mode)
        self.__dict__.update(empty.__dict__)
        for m in sorted((member(r) for r in rows), key=lambda m: m.index):
            self._index(m)
        # Decision order: cohorts in the order they were decided, best rank first.
        position = {c: k for k, c in enumerate(state["decided"])}
        self.decisions = sorted(decisions, key=lambda d: (position[d["cohort"]], d["rank"]))
        for d in self.decisions:
            self.cohorts[d["cohort"]].decisions.append(d)
        for cohort in state["decided"]:
            self._mark_decided(cohort)
        for d in self.decisions:
            m = self.members[d["trial_id"]]
            if m.state in KEPT_STATES:
                self.kept[m.trial_id] = None
            elif m.state == CUT:
                self.to_stop[m.trial_id] = None
        self.frozen = {int(k): v for k, v in state["frozen"].items()}
