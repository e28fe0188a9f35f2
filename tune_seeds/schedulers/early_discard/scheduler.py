"""The early-discard scheduler: Tune's hooks, thin over the bookkeeping.

Every hook translates what Tune reports into :class:`~tune_seeds.schedulers.early_discard.book.
CohortBook` operations and the book's answers into Tune actions; the policy is in
:mod:`~tune_seeds.schedulers.early_discard.policy` and every reliance on Tune internals in
:mod:`~tune_seeds.schedulers.early_discard.ray_compat`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ray.tune.experiment import Trial
from ray.tune.schedulers.trial_scheduler import FIFOScheduler, TrialScheduler

from tune_seeds.schedulers.early_discard.book import (
    CONTINUING,
    CUT,
    KEPT_WAITING,
    LEFT,
    TRAINING,
    WAITING,
    CohortBook,
    Member,
    MemberState,
)
from tune_seeds.schedulers.early_discard.callback import DECISIONS_FILE, EarlyDiscardStateCallback
from tune_seeds.schedulers.early_discard.policy import config_key, validate
from tune_seeds.schedulers.early_discard.ray_compat import (
    CohortStallCheck,
    SearcherSlots,
    has_ended,
    hold,
    is_function_trainable,
    is_paused,
    is_waiting,
    reported_checkpoint,
)

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

logger = logging.getLogger("tune_seeds.schedulers.early_discard")


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
    :func:`tune_seeds.schedulers.compute.early_discard_compute`).

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
            from tune_seeds.schedulers import EarlyDiscardScheduler

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
    #: Version of the pickled layout (``tuner.pkl``); see :meth:`__setstate__`.
    _LAYOUT = 3

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
        milestone, keep, cohort_size = validate(
            milestone, keep, cohort_size, time_attr, mode, rank_by
        )
        super().__init__()
        self._layout = self._LAYOUT
        self._milestone = milestone
        self._keep = keep
        self._cohort_size = cohort_size
        self._time_attr = time_attr
        self._metric = metric
        self._mode = mode
        self._rank_by = rank_by
        self._rank_from = rank_from
        self._book = CohortBook(cohort_size=cohort_size, keep=keep, mode=mode or "max")
        self._callback: EarlyDiscardStateCallback | None = None
        self._callback_attached = False
        self._warned_no_callback = False
        self._stall = CohortStallCheck()
        self._trials: dict[str, Trial] = {}
        # Trials added PENDING (not held), in add order: the FIFO fallback of
        # choose_trial_to_run, without scanning every trial of the experiment.
        self._pending: dict[str, None] = {}
        # Trainable name -> whether it is a function trainable.
        self._function_trainables: dict[str, bool] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle (``tuner.pkl`` on a restore). Tune pickles the scheduler once, before
        the run, so only its settings and its callback matter: one pickled by an older
        layout of this class is rebuilt from them (its bookkeeping comes back through
        the callback's state, as always)."""
        if state.get("_layout") == self._LAYOUT:
            self.__dict__.update(state)
            return
        self.__init__(
            milestone=state["_milestone"], keep=state["_keep"],
            cohort_size=state["_cohort_size"], time_attr=state["_time_attr"],
            metric=state["_metric"], mode=state["_mode"], rank_by=state["_rank_by"],
            rank_from=state.get("_rank_from", 0),
        )
        self._callback = state.get("_callback")

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
        elif has_ended(trial):
            self._book.end(member)  # restored, finished
        else:
            # Restored unfinished: the status Tune restored wins over the saved
            # bookkeeping. A CUT member is queued to be stopped (below, held until
            # then), a kept one to run; one that left before the milestone rejoins.
            self._book.rejoin(member)
        if trial.status == Trial.PENDING and self._must_wait(member):
            hold(trial)  # after a restore, or while an earlier cohort is undecided
            if member.state == TRAINING:
                self._book.held[trial.trial_id] = None
        elif trial.status == Trial.PENDING:
            self._pending[trial.trial_id] = None

    def on_trial_result(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> str:
        member = self._book.members[trial.trial_id]
        now = self._required(result, self._time_attr, "time_attr")
        value = float(self._required(result, self._metric, "metric"))
        if member.state in (TRAINING, WAITING) and now >= self._rank_from:
            self._book.update_best(member, value)

        if member.state in (CONTINUING, LEFT):
            return TrialScheduler.CONTINUE
        if member.state == CUT:
            return TrialScheduler.STOP
        if member.state == KEPT_WAITING:  # Tune ran it before we resumed it
            self._slots(tune_controller).claim(trial.trial_id, force=True)
            self._book.move(member, CONTINUING)
            return TrialScheduler.CONTINUE
        if member.state == WAITING:  # Tune ran it while it had to wait
            self._release_slot(tune_controller, member)
            return TrialScheduler.PAUSE
        if now < self._milestone:
            return TrialScheduler.CONTINUE

        if is_function_trainable(trial, self._function_trainables) and not reported_checkpoint(
            result
        ):
            # Without a checkpoint a paused trial would silently restart from an older
            # one (or step 1).
            raise ValueError(
                f"EarlyDiscardScheduler: trial {trial.trial_id} reached the milestone "
                f"({self._time_attr}={now}) with a report that carries no checkpoint. "
                "A paused trial resumes from the checkpoint of its last report: call "
                "tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(...)) "
                "at least at the milestone."
            )
        self._book.reach(member, now, member.best if self._rank_by == "best" else value)
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
        for trial_id in self._book.kept:
            member = self._book.members[trial_id]
            trial = self._trials.get(trial_id)
            if trial is None or not is_paused(trial):
                continue
            if not slots.claim(trial_id):
                break
            self._book.move(member, CONTINUING)
            return trial

        trial = self._next_held(slots)
        if trial is not None:
            return trial  # an unstarted trial of a cohort that may start now

        self._stall.check(tune_controller, self._book.totals[WAITING], self.stall_timeout_s)
        return _first_in(self._pending, self._trials, lambda t: t.status == Trial.PENDING)

    def debug_string(self) -> str:
        parts = [
            f"EarlyDiscard: milestone {self._time_attr}={self._milestone}, keep {self._keep}"
            f" per cohort of {self._cohort_size or 'all'} (rank by {self._rank_by})."
        ]
        for c, cohort in sorted(self._book.cohorts.items()):
            detail = ", ".join(
                f"{cohort.counts[s]} {s.value}" for s in MemberState if cohort.counts[s]
            )
            status = "decided" if self._book.is_decided(c) else "open"
            if not self._book.is_open(c):
                status = "queued"
            parts.append(f"Cohort {c} ({status}, {len(cohort.members)} trials): {detail}.")
        return " ".join(parts)

    # ----- state (used by the callback) -------------------------------------------------

    def _get_state(self) -> dict[str, Any]:
        return {"version": 3, "book": self._book.get_state()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._book.set_state(state["book"])  # versions 2 and 3
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

    def _must_wait(self, member: Member) -> bool:
        if member.state in (WAITING, KEPT_WAITING, CUT):
            return True
        return member.state == TRAINING and not self._book.is_open(member.cohort)

    def _required(self, result: dict[str, Any], key: str, name: str) -> Any:
        if key not in result:
            raise ValueError(
                f"EarlyDiscardScheduler: the result has no {name} key {key!r}; "
                f"reported keys: {sorted(result)}"
            )
        return result[key]

    def _next_held(self, slots: SearcherSlots) -> Trial | None:
        """The first held (unstarted, PAUSED) trial of an open cohort that gets a slot.

        Held trials are in add order, so cohorts only grow along the queue: the scan
        stops at the first cohort that may not start yet instead of visiting every
        queued trial. Entries Tune has started or ended since are dropped here."""
        gone, chosen = [], None
        for trial_id in self._book.held:
            member = self._book.members[trial_id]
            trial = self._trials.get(trial_id)
            if trial is None or member.state != TRAINING or not is_paused(trial):
                gone.append(trial_id)
                continue
            if not self._book.is_open(member.cohort):
                break
            if slots.claim(trial_id):
                chosen = trial
                break
        for trial_id in gone:
            del self._book.held[trial_id]
        return chosen

    def _slots(self, tune_controller: TuneController) -> SearcherSlots:
        return SearcherSlots(tune_controller.search_alg)

    def _release_slot(self, tune_controller: TuneController, member: Member) -> None:
        """A pausing trial gives its slot to a kept trial if one waits, else back to
        the searcher, so that the cohort can fill under ``max_concurrent_trials``."""
        slots = self._slots(tune_controller)
        self._hand_over_slot(slots)
        slots.release(member.trial_id)

    def _hand_over_slot(self, slots: SearcherSlots) -> None:
        # Called just before a slot frees (the searcher drops a finished trial after
        # the scheduler's hook): reserving it for a kept trial stops the searcher from
        # starting a new trial first, which would let paused checkpoints pile up.
        if slots.limit is None:
            return
        for trial_id in self._book.kept:
            member = self._book.members[trial_id]
            if member.state == KEPT_WAITING and not slots.holds(trial_id):
                slots.claim(trial_id, force=True)
                return

    def _on_trial_end(self, tune_controller: TuneController, trial: Trial) -> None:
        member = self._book.members.get(trial.trial_id)
        if member is None:
            return
        self._book.end(member)
        slots = self._slots(tune_controller)
        if slots.holds(trial.trial_id):
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
                self._callback.mark_dirty()

    def _stop_cut_trials(self, tune_controller: TuneController, slots: SearcherSlots) -> None:
        # A copy: stopping a trial calls back into the scheduler, which may decide a
        # cohort and queue new cuts. A CUT trial still running stops at its next report.
        for trial_id in list(self._book.to_stop):
            member = self._book.members[trial_id]
            trial = self._trials.get(trial_id)
            if has_ended(trial):
                self._book.end(member)
            elif is_waiting(trial):
                # The searcher only hears of trials it counts as live. The slot taken
                # here goes away with the trial: it is not handed over.
                slots.claim(trial_id, force=True)
                self._book.to_stop.pop(trial_id, None)
                tune_controller.stop_trial(trial)

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
