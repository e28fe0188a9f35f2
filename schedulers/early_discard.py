"""Early discarding ("start many, stop early, continue some") as a Ray Tune scheduler.

Dodge et al. (2020) advise starting many fine-tuning trials, training each for a
fraction of the schedule, ranking them by their best validation score so far and
continuing only the best few. :class:`EarlyDiscardScheduler` does exactly that,
synchronously and deterministically, and survives ``Tuner.restore``.

Why the design looks the way it does (Ray Tune 2.60, checked in its source):

* Tune never calls a scheduler's ``save``/``restore``; it pickles the scheduler once,
  into ``tuner.pkl``, before the run. The cohort bookkeeping therefore travels in a
  Tune :class:`~ray.tune.Callback` (:meth:`EarlyDiscardScheduler.state_callback`),
  whose ``get_state`` is saved in the same snapshot as the trials and the searcher.
* Tune starts every PENDING trial whatever ``choose_trial_to_run`` says, and a
  restored experiment brings PAUSED trials back as PENDING. A trial that must wait is
  therefore kept PAUSED: ``on_trial_add`` runs before the controller files the new
  trial by its status, so setting PAUSED there holds it.
* ``max_concurrent_trials=N`` is enforced by the search algorithm
  (``BasicVariantGenerator`` or a ``ConcurrencyLimiter``), which counts a trial as
  live from its creation until it terminates: paused trials keep their slot. With
  fewer slots than the cohort holds, the cohort can never fill and Tune spins
  forever. The scheduler hands the slot of a trial it pauses back to the searcher
  (:class:`_SearcherSlots`) and takes one again before resuming or stopping it.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ray.tune.callback import Callback
from ray.tune.experiment import Trial
from ray.tune.result import SHOULD_CHECKPOINT
from ray.tune.schedulers.trial_scheduler import FIFOScheduler, TrialScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.concurrency_limiter import ConcurrencyLimiter
from ray.tune.trainable import FunctionTrainable

from schedulers.comparators import early_discard_compute

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

logger = logging.getLogger(__name__)

DECISIONS_FILE = "early_discard_decisions.jsonl"

# Member states. Strings, so that the bookkeeping state is plain JSON.
TRAINING = "training"  # before the milestone (or not started yet)
WAITING = "waiting"  # reached the milestone, paused until its cohort is decided
KEPT_WAITING = "kept_waiting"  # kept, paused until it gets a slot to resume
CONTINUING = "continuing"  # kept and running (or finished) past the milestone
CUT = "cut"  # not kept: stopped (or to be stopped once its pause has landed)
LEFT = "left"  # ended (finished, errored, removed) before the milestone


def config_key(config: dict[str, Any]) -> str:
    """The deterministic tie-breaking key of a trial: its config as sorted JSON."""
    return json.dumps(config, sort_keys=True, default=repr)


@dataclass
class _Member:
    trial_id: str
    index: int  # order of addition to the experiment: fixes cohort membership
    cohort: int
    config_key: str
    state: str = TRAINING  # changed only through _CohortBook.move, which keeps the counts
    best: float | None = None  # best metric value seen so far (mode-aware)
    score: float | None = None  # the value ranked: best or last at the milestone
    reached_at: float | None = None  # time_attr of the milestone report
    started: bool = False  # has reported at least once
    slot_released: bool = False  # its concurrency slot was handed back while paused
    stopped: bool = False  # a CUT member that Tune has actually stopped
    ended: bool = False  # its trial terminated, errored or was removed


_MEMBER_FIELDS = tuple(f.name for f in fields(_Member))


def _n_keep(keep: int | float, n_candidates: int) -> int:
    if n_candidates == 0:
        return 0
    if isinstance(keep, int):
        return min(keep, n_candidates)
    # The tolerance keeps 0.3 * 10 = 3.0000000000000004 from becoming 4.
    return max(1, min(n_candidates, math.ceil(keep * n_candidates - 1e-9)))


def planned_compute(
    num_trials: int, milestone: int, keep: int | float, max_t: int, cohort_size: int | None = None
) -> int:
    """Compute this scheduler will spend on ``num_trials`` if none fails, in ``time_attr`` units.

    Each cohort (the last one may be smaller) keeps its share by the scheduler's own
    rule, so a plan quoted before the sweep matches the decisions it will make.

    Example:
        >>> planned_compute(16, milestone=8, keep=0.25, max_t=30)
        216
        >>> planned_compute(10, milestone=8, keep=0.5, max_t=30, cohort_size=4)  # 2 + 2 + 1 kept
        190
    """
    size = cohort_size or max(num_trials, 1)
    cohorts = [min(size, num_trials - first) for first in range(0, num_trials, size)]
    return sum(early_discard_compute(n, milestone, _n_keep(keep, n), max_t) for n in cohorts)


def rank_members(members: list[_Member], mode: str) -> list[_Member]:
    """Best first. NaN or missing scores rank last; ties go to the smaller config key,
    then to the earlier-added trial, so the order never depends on arrival."""
    sign = -1.0 if mode == "max" else 1.0

    def key(m: _Member) -> tuple[bool, float, str, int]:
        missing = m.score is None or math.isnan(m.score)
        return (missing, 0.0 if missing else sign * m.score, m.config_key, m.index)

    return sorted(members, key=key)


@dataclass
class _Cohort:
    """One cohort's members (in add order) and how many are in each state."""

    members: list[_Member] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    n_ended: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _CohortBook:
    """Pure bookkeeping of cohorts, scores and decisions (no Ray in here).

    Trials join cohorts in the order they are added to the experiment, which is the
    searcher's order and independent of concurrency. A cohort is ready when every
    member has reached the milestone or left, and it is full or no trial can join it
    anymore (the searcher is finished).

    Tune asks the scheduler what to do many times per trial (every result, every
    controller step), and a large experiment adds all its trials up front (the later
    cohorts wait PAUSED). So nothing here scans all members: members are indexed by
    cohort with per-state counts updated on every state change (:meth:`move`), and
    the few trials the scheduler must act on are kept in small ordered queues
    (``kept``, ``held``, ``to_stop``) whose size is bounded by a cohort, not by the
    experiment.
    """

    cohort_size: int | None
    keep: int | float
    mode: str
    members: dict[str, _Member] = field(default_factory=dict)
    decided: list[int] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    cohorts: dict[int, _Cohort] = field(default_factory=dict)
    #: Members per state over all cohorts.
    totals: Counter[str] = field(default_factory=Counter)
    #: Kept members (KEPT_WAITING or CONTINUING) whose trial has not ended, oldest
    #: cohort and best rank first: the order in which paused kept trials resume.
    kept: dict[str, None] = field(default_factory=dict)
    #: Unstarted TRAINING members held PAUSED until their cohort opens, in add order.
    held: dict[str, None] = field(default_factory=dict)
    #: CUT members that Tune has not stopped yet.
    to_stop: dict[str, None] = field(default_factory=dict)
    #: Undecided cohorts with no TRAINING member: the only ones that can be ready.
    settled: set[int] = field(default_factory=set)
    #: Serialized state of closed cohorts (decided, every trial ended): they never
    #: change again, so each snapshot of the experiment reuses the same strings.
    frozen: dict[int, str] = field(default_factory=dict)
    _decided_set: set[int] = field(default_factory=set)
    _first_undecided: int = 0

    def add(self, trial_id: str, key: str) -> _Member:
        index = len(self.members)
        cohort = 0 if self.cohort_size is None else index // self.cohort_size
        member = _Member(trial_id=trial_id, index=index, cohort=cohort, config_key=key)
        self._index(member)
        return member

    def _index(self, member: _Member) -> None:
        self.members[member.trial_id] = member
        c = self.cohorts.setdefault(member.cohort, _Cohort())
        c.members.append(member)
        c.counts[member.state] += 1
        c.n_ended += member.ended
        self.totals[member.state] += 1
        self._update_settled(member.cohort)

    def cohort(self, cohort: int) -> list[_Member]:
        c = self.cohorts.get(cohort)
        return list(c.members) if c is not None else []

    def move(self, member: _Member, state: str) -> None:
        """Change a member's state, keeping the counts (and queues) in step."""
        if state == member.state:
            return
        c = self.cohorts[member.cohort]
        c.counts[member.state] -= 1
        c.counts[state] += 1
        self.totals[member.state] -= 1
        self.totals[state] += 1
        member.state = state
        if state == CUT and not member.stopped:
            self.to_stop[member.trial_id] = None
        self._update_settled(member.cohort)

    def end(self, member: _Member) -> None:
        """The member's trial is over: it leaves every queue for good."""
        if member.ended:
            return
        member.ended = True
        self.kept.pop(member.trial_id, None)
        self.held.pop(member.trial_id, None)
        c = self.cohorts[member.cohort]
        c.n_ended += 1
        self._maybe_freeze(member.cohort)

    def revive(self, member: _Member) -> None:
        """A restored trial came back unfinished although the saved bookkeeping had it
        ended or stopped: the trial's status as Tune restored it wins.

        Tune (2.60) saves a trial's status only when it marks the trial for the next
        snapshot, and stopping a PAUSED trial (no actor) does not mark it: a CUT trial
        stopped while paused is saved as PAUSED forever, while the bookkeeping saved in
        the same snapshot says stopped. A CUT member is therefore queued to be stopped
        again, a kept one to resume; nothing is ranked or decided again."""
        if member.ended:
            member.ended = False
            self.cohorts[member.cohort].n_ended -= 1
            self.frozen.pop(member.cohort, None)  # refrozen once every member ends again
        if member.state == CUT:
            member.stopped = False
            self.to_stop[member.trial_id] = None
        elif member.state in (KEPT_WAITING, CONTINUING):
            self.kept[member.trial_id] = None
        elif member.state == LEFT and not self.is_decided(member.cohort):
            # Errored before the milestone and retried (resume_errored): like a retry
            # within the run, it rejoins its undecided cohort.
            self.move(member, TRAINING)

    def is_decided(self, cohort: int) -> bool:
        return cohort in self._decided_set

    def is_open(self, cohort: int) -> bool:
        """Trials of a cohort may start once every earlier cohort is decided."""
        return cohort <= self._first_undecided

    def update_best(self, member: _Member, value: float) -> None:
        if math.isnan(value):
            return
        if member.best is None:
            member.best = value
        elif self.mode == "max":
            member.best = max(member.best, value)
        else:
            member.best = min(member.best, value)

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

    def decide(self, cohort: int) -> list[dict[str, Any]]:
        members = self.cohorts[cohort].members
        candidates = rank_members([m for m in members if m.state == WAITING], self.mode)
        n_keep = _n_keep(self.keep, len(candidates))
        records = []
        for rank, m in enumerate(candidates):
            kept = rank < n_keep
            self.move(m, KEPT_WAITING if kept else CUT)
            if kept and not m.ended:
                self.kept[m.trial_id] = None
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
                    "keep": n_keep,
                    "time": time.time(),
                }
            )
        self.decided.append(cohort)
        self._decided_set.add(cohort)
        self.settled.discard(cohort)
        while self._first_undecided in self._decided_set:
            self._first_undecided += 1
        self.decisions.extend(records)
        self.cohorts[cohort].decisions = records
        self._maybe_freeze(cohort)
        return records

    def _maybe_freeze(self, cohort: int) -> None:
        c = self.cohorts[cohort]
        if cohort in self._decided_set and c.n_ended == len(c.members):
            self.frozen[cohort] = json.dumps(
                {
                    "members": [_member_row(m) for m in c.members],
                    "decisions": c.decisions,
                }
            )

    # ----- state ------------------------------------------------------------------------
    # Tune snapshots the experiment (and so this state) repeatedly while it runs. The
    # members of closed cohorts can never change, so they travel as one frozen JSON
    # string per cohort (pickled as a single blob); only the open members are written
    # out again, as compact rows. Restoring expands both: decisions come back exactly.

    def get_state(self) -> dict[str, Any]:
        live = [c for n, c in self.cohorts.items() if n not in self.frozen]
        return {
            "fields": list(_MEMBER_FIELDS),
            "members": [_member_row(m) for c in live for m in c.members],
            "frozen": dict(self.frozen),
            "decided": list(self.decided),
            "decisions": [d for c in live for d in c.decisions],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if "fields" not in state:  # written before the state was compacted
            state = {**state, "fields": list(_MEMBER_FIELDS), "frozen": {}}
            state["members"] = [[m.get(n, False) for n in _MEMBER_FIELDS] for m in state["members"]]
        names = state["fields"]
        rows = list(state["members"])
        decisions = list(state["decisions"])
        for blob in state["frozen"].values():
            closed = json.loads(blob)
            rows.extend(closed["members"])
            decisions.extend(closed["decisions"])
        # Start from empty indices, keeping the settings (mode may come from Tune).
        empty = _CohortBook(cohort_size=self.cohort_size, keep=self.keep, mode=self.mode)
        self.__dict__.update(empty.__dict__)
        for row in sorted(rows, key=lambda r: r[names.index("index")]):
            self._index(_Member(**dict(zip(names, row, strict=True))))
        # Decision order: cohorts in the order they were decided, best rank first.
        position = {c: k for k, c in enumerate(state["decided"])}
        self.decisions = sorted(decisions, key=lambda d: (position[d["cohort"]], d["rank"]))
        for d in self.decisions:
            self.cohorts[d["cohort"]].decisions.append(d)
        for cohort in state["decided"]:
            self.decided.append(cohort)
            self._decided_set.add(cohort)
            self.settled.discard(cohort)
        while self._first_undecided in self._decided_set:
            self._first_undecided += 1
        for d in self.decisions:
            m = self.members[d["trial_id"]]
            if m.state in (KEPT_WAITING, CONTINUING) and not m.ended:
                self.kept[m.trial_id] = None
            if m.state == CUT and not m.stopped:
                self.to_stop[m.trial_id] = None
        for cohort in self.decided:
            self._maybe_freeze(cohort)


def _member_row(member: _Member) -> list[Any]:
    return [getattr(member, name) for name in _MEMBER_FIELDS]


class _SearcherSlots:
    """The concurrency slots of ``max_concurrent_trials``, as the searcher counts them.

    Tune turns ``max_concurrent_trials=N`` into ``BasicVariantGenerator(max_concurrent=N)``
    or ``ConcurrencyLimiter(searcher, N)``; both refuse new trials while N trial ids
    are in their live set, and only drop an id when the trial terminates. This adapter
    lets the scheduler take a paused trial out of that set and put it back before the
    trial runs again or is stopped (a ``ConcurrencyLimiter`` only forwards
    ``on_trial_complete`` for ids in its set). Without a limit every call is a no-op.
    """

    def __init__(self, search_alg: Any) -> None:
        self._owner: Any = None
        self._attr = ""
        self.limit: int | None = None
        searcher = search_alg
        while searcher is not None:
            if isinstance(searcher, BasicVariantGenerator) and searcher.max_concurrent > 0:
                self._owner, self._attr = searcher, "_live_trials"
                self.limit = searcher.max_concurrent
                break
            if isinstance(searcher, ConcurrencyLimiter) and searcher._limit_concurrency:
                self._owner, self._attr = searcher, "live_trials"
                self.limit = searcher.max_concurrent
                break
            searcher = getattr(searcher, "searcher", None)

    def _live(self) -> set[str]:
        return getattr(self._owner, self._attr)

    def _count(self, delta: int) -> None:
        if isinstance(self._owner, ConcurrencyLimiter):
            self._owner.num_unfinished_live_trials += delta

    def holds(self, trial_id: str) -> bool:
        return self._owner is None or trial_id in self._live()

    def release(self, trial_id: str) -> bool:
        """Stop counting a paused trial. Returns whether a slot was freed."""
        if self._owner is None or trial_id not in self._live():
            return False
        self._live().remove(trial_id)
        self._count(-1)
        return True

    def claim(self, trial_id: str, force: bool = False) -> bool:
        """Count the trial again; without ``force`` only if a slot is free."""
        if self.holds(trial_id):
            return True
        if not force and len(self._live()) >= self.limit:
            return False
        self._live().add(trial_id)
        self._count(+1)
        return True


class EarlyDiscardScheduler(FIFOScheduler):
    """Start many, stop early, continue some: synchronous early discarding.

    Policy, in plain words: every trial trains until its ``time_attr`` reaches
    ``milestone``. There it is PAUSED (with the checkpoint of that report) until every
    trial of its cohort has reached the milestone or ended. Then the cohort's trials
    are ranked by their best ``metric`` so far (``rank_by="best"``, the paper's rule;
    ``"last"`` ranks by the value at the milestone), the best ``keep`` resume from
    their checkpoint and train to the end, and the rest are STOPPED. A stopped trial's
    results stay in the experiment, so its best score still counts as found.

    Decisions do not depend on arrival order or concurrency: cohorts are formed in the
    order trials are added (the searcher's order), ties are broken by the trial's
    config (sorted JSON; the smaller one is kept), then by that order. Trials that
    finish, error or are removed before the milestone leave their cohort without
    blocking it. Compute, in ``time_attr`` units: ``n * milestone + kept * (T -
    milestone)`` for ``n`` trials of ``T`` units (see
    :func:`schedulers.comparators.early_discard_compute`).

    Requirements and limits:

    * The report at the milestone must carry a checkpoint (``tune.report(metrics,
      checkpoint=...)``): a paused function trainable restarts from the checkpoint
      attached to its last report. A milestone report without one raises an error
      instead of silently retraining from scratch.
    * Attach :meth:`state_callback` to ``RunConfig(callbacks=[...])``. It persists the
      cohort bookkeeping with the experiment state (restore-safety) and writes every
      decision to ``early_discard_decisions.jsonl`` in the experiment directory.
      Without it a warning is logged and ``Tuner.restore`` would start from scratch
      bookkeeping (paused trials would be lost from their cohort).
    * ``cohort_size=None`` decides once the searcher is finished, so it needs a
      finite search space (not ``num_samples=-1``).
    * Works with ``max_concurrent_trials`` of any value (paused trials give their slot
      back; kept trials take freed slots before new trials do) and with concurrency
      limited by resources. Later cohorts (``cohort_size``) wait PAUSED, unstarted,
      until every earlier cohort is decided, so at most about one cohort of paused
      checkpoints exists at a time.
    * Result buffering is turned off (``TUNE_RESULT_BUFFER_LENGTH=1``), as for
      ``HyperBandScheduler``: a buffered trial would train past its milestone.

    Args:
        milestone: When trials are compared, in ``time_attr`` units (with 30
            evaluations per run and ``time_attr="eval_index"``, 8 is 27% of training).
        keep: How many trials of each cohort continue: an int >= 1, or a float in
            (0, 1] for a fraction of the trials that reached the milestone (rounded
            up, at least one).
        cohort_size: How many trials are decided together, in the order they are
            added. ``None``: all trials of the experiment. Smaller cohorts run in
            waves; the last cohort may be smaller.
        time_attr: The monotonically increasing result key that measures progress,
            e.g. ``"training_iteration"`` or ``"eval_index"``.
        metric: The result key ranked. If None, taken from ``TuneConfig(metric=...)``.
        mode: ``"max"`` or ``"min"``. If None, taken from ``TuneConfig(mode=...)``.
        rank_by: ``"best"`` (best value up to the milestone, tracked by the scheduler
            itself) or ``"last"`` (the value at the milestone).
        rank_from: Results with ``time_attr`` below this are not ranked. With
            ``time_attr="eval_index"``, 1 leaves out the evaluation of the untrained
            model at step 0, as the paper's analysis does (its curves start after
            training starts).

    Example:
        .. code-block:: python

            from ray import tune
            from schedulers import EarlyDiscardScheduler

            def trainable(config):
                import tempfile, json, pathlib
                start = 0
                if (ckpt := tune.get_checkpoint()) is not None:
                    with ckpt.as_directory() as d:
                        start = json.loads(pathlib.Path(d, "pos").read_text()) + 1
                for i in range(start, 31):
                    with tempfile.TemporaryDirectory() as d:
                        pathlib.Path(d, "pos").write_text(json.dumps(i))
                        score = 1 - 1 / (i + config["seed"] % 5 + 1)
                        tune.report({"eval_index": i, "score": score},
                                    checkpoint=tune.Checkpoint.from_directory(d))

            scheduler = EarlyDiscardScheduler(milestone=8, keep=4, time_attr="eval_index",
                                              metric="score", mode="max")
            tuner = tune.Tuner(
                trainable,
                param_space={"seed": tune.grid_search(list(range(16)))},
                tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=2),
                run_config=tune.RunConfig(callbacks=[scheduler.state_callback()]),
            )
            tuner.fit()  # 16 * 8 + 4 * 22 = 216 evaluation intervals
            print(scheduler.decisions)
    """

    _supports_buffered_results = False
    #: Seconds with only paused trials, nothing runnable and the searcher unfinished
    #: before the scheduler gives up with an explanation instead of hanging.
    stall_timeout_s: float = 120.0

    def __init__(
        self,
        milestone: int | float,
        keep: int | float,
        cohort_size: int | None = None,
        time_attr: str = "training_iteration",
        metric: str | None = None,
        mode: str | None = None,
        rank_by: str = "best",
        rank_from: int | float = 0,
    ) -> None:
        milestone, keep, cohort_size = _validate(
            milestone, keep, cohort_size, time_attr, mode, rank_by
        )
        super().__init__()
        self._milestone = milestone
        self._keep = keep
        self._cohort_size = cohort_size
        self._time_attr = time_attr
        self._metric = metric
        self._mode = mode
        self._rank_by = rank_by
        self._rank_from = rank_from
        self._book = _CohortBook(cohort_size=cohort_size, keep=keep, mode=mode or "max")
        self._trials: dict[str, Trial] = {}
        self._callback: EarlyDiscardStateCallback | None = None
        self._callback_attached = False
        self._warned_no_callback = False
        self._stalled_since: float | None = None
        # Trials added PENDING (not held), in add order: the FIFO fallback of
        # choose_trial_to_run, without scanning every trial of the experiment.
        self._pending: dict[str, None] = {}
        # Trainable name -> whether it is a function trainable (looking the class up
        # fetches it from Ray's key-value store, too slow for every milestone report).
        self._function_trainables: dict[str, bool] = {}

    # ----- public helpers -------------------------------------------------------------

    def state_callback(self) -> EarlyDiscardStateCallback:
        """The Tune Callback that makes this scheduler restore-safe and logs decisions.

        Pass it in ``RunConfig(callbacks=[scheduler.state_callback()])``. Calling this
        again returns the same callback.
        """
        if self._callback is None:
            self._callback = EarlyDiscardStateCallback(self)
        return self._callback

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """Every keep/cut decision so far, one dict per trial, in decision order."""
        return list(self._book.decisions)

    # ----- Tune hooks -------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        if mode and mode not in ("min", "max"):
            raise ValueError(f"EarlyDiscardScheduler: mode must be 'min' or 'max', got {mode!r}")
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        self._book.mode = self._mode or "max"
        return True

    def on_trial_add(self, tune_controller: TuneController, trial: Trial) -> None:
        if not self._metric or not self._mode:
            raise ValueError(
                "EarlyDiscardScheduler needs a metric and a mode: pass them to the "
                "scheduler or to tune.TuneConfig(metric=..., mode=...). "
                f"Got metric={self._metric!r}, mode={self._mode!r}."
            )
        self._trials[trial.trial_id] = trial
        member = self._book.members.get(trial.trial_id)
        if member is None:
            member = self._book.add(trial.trial_id, config_key(trial.config))
        elif trial.status in (Trial.TERMINATED, Trial.ERROR):
            if member.state == TRAINING:
                self._book.move(member, LEFT)
            if member.state == CUT:
                member.stopped = True
            self._book.end(member)
        elif member.ended or member.stopped:
            # Restored unfinished, but the saved bookkeeping had it over: reconcile with
            # the status Tune restored (a CUT trial is stopped, untrained, below).
            self._book.revive(member)
        if trial.status == Trial.PENDING and self._must_wait(member):
            # Filed by the controller after this hook returns: PAUSED keeps Tune from
            # starting it (after a restore, or while an earlier cohort is undecided).
            trial.set_status(Trial.PAUSED)
            if member.state == TRAINING:
                self._book.held[trial.trial_id] = None
        elif trial.status == Trial.PENDING:
            self._pending[trial.trial_id] = None

    def on_trial_result(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> str:
        member = self._book.members[trial.trial_id]
        member.started = True
        now = self._required(result, self._time_attr, "time_attr")
        value = float(self._required(result, self._metric, "metric"))
        if member.state in (TRAINING, WAITING) and now >= self._rank_from:
            self._book.update_best(member, value)

        if member.state in (CONTINUING, LEFT):
            return TrialScheduler.CONTINUE
        if member.state == CUT:
            member.stopped = True
            return TrialScheduler.STOP
        if member.state == KEPT_WAITING:  # Tune ran it before we resumed it
            _claim(self._slots(tune_controller), member, force=True)
            self._book.move(member, CONTINUING)
            return TrialScheduler.CONTINUE
        if member.state == WAITING:  # Tune ran it while it had to wait
            self._release_slot(tune_controller, member)
            return TrialScheduler.PAUSE
        if now < self._milestone:
            return TrialScheduler.CONTINUE

        if self._is_function_trainable(trial) and not result.get(SHOULD_CHECKPOINT):
            # Function trainables flag a report that came with a checkpoint; without
            # one, a paused trial would silently restart from an older one (or step 1).
            raise ValueError(
                f"EarlyDiscardScheduler: trial {trial.trial_id} reached the milestone "
                f"({self._time_attr}={now}) with a report that carries no checkpoint. "
                "A paused trial resumes from the checkpoint of its last report: call "
                "tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(...)) "
                "at least at the milestone."
            )
        self._book.move(member, WAITING)
        member.reached_at = now
        member.score = member.best if self._rank_by == "best" else value
        logger.info(
            "EarlyDiscard: trial %s reached %s=%s with score %s",
            trial.trial_id,
            self._time_attr,
            now,
            member.score,
        )
        self._decide_ready(tune_controller)
        if member.state == KEPT_WAITING:
            self._book.move(member, CONTINUING)
            return TrialScheduler.CONTINUE
        if member.state == CUT:
            member.stopped = True
            return TrialScheduler.STOP
        self._release_slot(tune_controller, member)
        return TrialScheduler.PAUSE

    def on_trial_complete(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> None:
        self._on_trial_end(tune_controller, trial)

    def on_trial_error(self, tune_controller: TuneController, trial: Trial) -> None:
        self._on_trial_end(tune_controller, trial)

    def on_trial_remove(self, tune_controller: TuneController, trial: Trial) -> None:
        self._on_trial_end(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: TuneController) -> Trial | None:
        self._warn_if_no_callback()
        self._decide_ready(tune_controller)
        slots = self._slots(tune_controller)
        self._stop_cut_trials(tune_controller, slots)

        # Kept trials first, oldest cohort and best rank first: they resume from the
        # milestone checkpoint and free their paused checkpoint soonest. A CONTINUING
        # trial can be PAUSED too: a restored controller replays a PAUSE decision it had
        # cached for a save in flight at the interruption, overriding our CONTINUE.
        # (The kept queue holds only kept trials that have not ended.)
        for trial_id in self._book.kept:
            member = self._book.members[trial_id]
            trial = self._trials.get(trial_id)
            if trial is None or not _is_paused(trial):
                continue
            if not _claim(slots, member):
                break
            self._book.move(member, CONTINUING)
            return trial

        trial = self._next_held(slots)
        if trial is not None:
            return trial  # an unstarted trial of a cohort that may start now

        self._check_stall(tune_controller)
        return _first_in(self._pending, self._trials, lambda t: t.status == Trial.PENDING)

    def debug_string(self) -> str:
        parts = [
            f"EarlyDiscard: milestone {self._time_attr}={self._milestone}, keep {self._keep}"
            f" per cohort of {self._cohort_size or 'all'} (rank by {self._rank_by})."
        ]
        for c, cohort in sorted(self._book.cohorts.items()):
            detail = ", ".join(f"{cohort.counts[s]} {s}" for s in _STATE_ORDER if cohort.counts[s])
            status = "decided" if self._book.is_decided(c) else "open"
            if not self._book.is_open(c):
                status = "queued"
            parts.append(f"Cohort {c} ({status}, {len(cohort.members)} trials): {detail}.")
        return " ".join(parts)

    # ----- state (used by the callback) -------------------------------------------------

    def _get_state(self) -> dict[str, Any]:
        return {"version": 2, "book": self._book.get_state()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._book.set_state(state["book"])
        logger.info(
            "EarlyDiscard: restored the bookkeeping of %d trials, %d decisions.",
            len(self._book.members),
            len(self._book.decisions),
        )

    def _attach_callback(self, callback: EarlyDiscardStateCallback) -> None:
        if callback is not self._callback:
            raise ValueError(
                "This EarlyDiscardStateCallback belongs to another EarlyDiscardScheduler; "
                "pass scheduler.state_callback() of the scheduler in TuneConfig."
            )
        self._callback_attached = True

    # ----- internals --------------------------------------------------------------------

    def _must_wait(self, member: _Member) -> bool:
        if member.state in (WAITING, KEPT_WAITING, CUT):
            return True
        return (
            member.state == TRAINING
            and not member.started
            and not self._book.is_open(member.cohort)
        )

    def _is_function_trainable(self, trial: Trial) -> bool:
        name = trial.trainable_name
        if name not in self._function_trainables:
            cls = trial.get_trainable_cls()
            self._function_trainables[name] = isinstance(cls, type) and issubclass(
                cls, FunctionTrainable
            )
        return self._function_trainables[name]

    def _required(self, result: dict[str, Any], key: str, name: str) -> Any:
        if key not in result:
            raise ValueError(
                f"EarlyDiscardScheduler: the result has no {name} key {key!r}; "
                f"reported keys: {sorted(result)}"
            )
        return result[key]

    def _next_held(self, slots: _SearcherSlots) -> Trial | None:
        """The first held (unstarted, PAUSED) trial of an open cohort that gets a slot.

        Held trials are in add order, so cohorts only grow along the queue: the scan
        stops at the first cohort that may not start yet instead of visiting every
        queued trial. Entries Tune has started or ended since are dropped here."""
        gone, chosen = [], None
        for trial_id in self._book.held:
            member = self._book.members[trial_id]
            trial = self._trials.get(trial_id)
            if trial is None or member.state != TRAINING or not _is_paused(trial):
                gone.append(trial_id)
                continue
            if not self._book.is_open(member.cohort):
                break
            if _claim(slots, member):
                chosen = trial
                break
        for trial_id in gone:
            del self._book.held[trial_id]
        return chosen

    def _slots(self, tune_controller: TuneController) -> _SearcherSlots:
        return _SearcherSlots(tune_controller.search_alg)

    def _release_slot(self, tune_controller: TuneController, member: _Member) -> None:
        """A pausing trial gives its slot to a kept trial if one waits, else back to
        the searcher, so that the cohort can fill under ``max_concurrent_trials``."""
        slots = self._slots(tune_controller)
        self._hand_over_slot(slots)
        if slots.release(member.trial_id):
            member.slot_released = True

    def _hand_over_slot(self, slots: _SearcherSlots) -> None:
        # Called just before a slot frees (the searcher drops a finished trial after
        # the scheduler's hook): reserving it for a kept trial stops the searcher from
        # starting a new trial first, which would let paused checkpoints pile up.
        if slots.limit is None:
            return
        for trial_id in self._book.kept:
            member = self._book.members[trial_id]
            if member.state == KEPT_WAITING and not slots.holds(trial_id):
                _claim(slots, member, force=True)
                return

    def _on_trial_end(self, tune_controller: TuneController, trial: Trial) -> None:
        member = self._book.members.get(trial.trial_id)
        if member is None:
            return
        if member.state == TRAINING:
            self._book.move(member, LEFT)
        elif member.state == CUT:
            member.stopped = True
        self._book.end(member)
        slots = self._slots(tune_controller)
        if not member.slot_released and slots.holds(trial.trial_id):
            # Its slot frees once the searcher hears of the end (after this hook).
            self._hand_over_slot(slots)
        self._decide_ready(tune_controller)

    def _decide_ready(self, tune_controller: TuneController) -> None:
        search_finished = tune_controller.search_alg.is_finished()
        for cohort in self._book.ready_cohorts(search_finished):
            records = self._book.decide(cohort)
            for r in records:
                logger.info(
                    "EarlyDiscard cohort %d: trial %s score %s rank %d/%d -> %s",
                    cohort,
                    r["trial_id"],
                    r["score"],
                    r["rank"],
                    r["candidates"],
                    r["decision"],
                )
            if self._callback is not None:
                self._callback._dirty = True

    def _stop_cut_trials(self, tune_controller: TuneController, slots: _SearcherSlots) -> None:
        # A copy: stopping a trial calls back into the scheduler, which may decide a
        # cohort and queue new cuts.
        for trial_id in list(self._book.to_stop):
            member = self._book.members[trial_id]
            trial = self._trials.get(trial_id)
            if member.stopped:
                pass
            elif trial is None or trial.status in (Trial.TERMINATED, Trial.ERROR):
                member.stopped = True
            elif trial.status in (Trial.PAUSED, Trial.PENDING) and not trial.is_saving:
                # The searcher only hears of trials it counts as live. The slot taken
                # here goes away with the trial: it is not handed over.
                slots.claim(member.trial_id, force=True)
                member.stopped = True
                tune_controller.stop_trial(trial)
            if member.stopped:
                self._book.to_stop.pop(trial_id, None)

    def _warn_if_no_callback(self) -> None:
        if not self._callback_attached and not self._warned_no_callback:
            self._warned_no_callback = True
            logger.warning(
                "EarlyDiscardScheduler runs without its state callback: restore-safety "
                "is OFF (after Tuner.restore, paused trials would lose their cohort) and "
                "decisions are not written to %s. Pass "
                "RunConfig(callbacks=[scheduler.state_callback()]).",
                DECISIONS_FILE,
            )

    def _check_stall(self, tune_controller: TuneController) -> None:
        """Fail loudly instead of hanging when the cohort can never fill."""
        # Cheap tests first: the scan of all trials only runs while some trial waits
        # at the milestone and the searcher is not finished.
        if (
            not self._book.totals[WAITING]
            or tune_controller.search_alg.is_finished()
            or any(t.status in (Trial.RUNNING, Trial.PENDING) for t in tune_controller.get_trials())
        ):
            self._stalled_since = None
            return
        if self._stalled_since is None:
            self._stalled_since = time.monotonic()
        elif time.monotonic() - self._stalled_since > self.stall_timeout_s:
            raise RuntimeError(
                "EarlyDiscardScheduler: every live trial is paused at the milestone, "
                "but the search algorithm neither finished nor started another trial for "
                f"{self.stall_timeout_s:.0f} s, so the cohort can never fill. This "
                "happens when the searcher limits concurrency in a way the scheduler "
                "cannot see (a Searcher with its own max_concurrent). Limit concurrency "
                "with max_concurrent_trials or trial resources instead, or use a "
                "cohort_size no larger than that limit."
            )


_STATE_ORDER = (TRAINING, WAITING, KEPT_WAITING, CONTINUING, CUT, LEFT)


def _claim(slots: _SearcherSlots, member: _Member, force: bool = False) -> bool:
    if slots.claim(member.trial_id, force=force):
        member.slot_released = False
        return True
    return False


def _first_in(
    queue: dict[str, None], trials: dict[str, Trial], wanted: Callable[[Trial], bool]
) -> Trial | None:
    """The first trial of ``queue`` that is ``wanted``; entries before it that are not
    (started, ended) are dropped, so repeated calls cost amortized O(1)."""
    gone, chosen = [], None
    for trial_id in queue:
        trial = trials.get(trial_id)
        if trial is not None and wanted(trial):
            chosen = trial
            break
        gone.append(trial_id)
    for trial_id in gone:
        del queue[trial_id]
    return chosen


def _is_paused(trial: Trial) -> bool:
    return trial.status == Trial.PAUSED and not trial.is_saving


def _validate(
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


class EarlyDiscardStateCallback(Callback):
    """Persists an :class:`EarlyDiscardScheduler`'s bookkeeping with the experiment.

    Tune saves ``get_state`` in the same snapshot as the trials and the searcher and
    calls ``set_state`` on ``Tuner.restore`` before the trials are re-added, so the
    restored scheduler knows which trials wait at the milestone, which were kept and
    which were cut. It also rewrites ``early_discard_decisions.jsonl`` (one JSON line
    per decision) in the experiment directory whenever a decision is made.

    Obtain it with ``scheduler.state_callback()``; Tune pickles the scheduler and the
    callback together into ``tuner.pkl``, so the restored callback still points to
    the restored scheduler.
    """

    def __init__(self, scheduler: EarlyDiscardScheduler) -> None:
        self._scheduler = scheduler
        self._dirty = False

    def setup(self, **info: Any) -> None:
        self._scheduler._attach_callback(self)

    def get_state(self) -> dict[str, Any]:
        return {"early_discard": self._scheduler._get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._scheduler._set_state(state["early_discard"])

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        if self._dirty and trials:
            self._write_decisions(trials[0])

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        if trials:
            self._write_decisions(trials[0])

    def _write_decisions(self, trial: Trial) -> None:
        # The whole file is rewritten, so a restored run (whose decisions list came
        # back through set_state) never duplicates lines.
        storage = trial.storage
        path = f"{storage.experiment_fs_path}/{DECISIONS_FILE}"
        text = "".join(json.dumps(d) + "\n" for d in self._scheduler.decisions)
        with storage.storage_filesystem.open_output_stream(path) as f:
            f.write(text.encode())
        self._dirty = False
