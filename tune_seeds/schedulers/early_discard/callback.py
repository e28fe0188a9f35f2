"""Persistence of the early-discard bookkeeping with the experiment, and its decisions file."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ray.tune.callback import Callback
from ray.tune.experiment import Trial

if TYPE_CHECKING:
    from tune_seeds.schedulers.early_discard.scheduler import EarlyDiscardScheduler

DECISIONS_FILE = "early_discard_decisions.jsonl"


class EarlyDiscardStateCallback(Callback):
    """Persists an :class:`EarlyDiscardScheduler`'s bookkeeping with the experiment.

    Tune (2.60) never calls a scheduler's ``save``/``restore``: it pickles the
    scheduler once, into ``tuner.pkl``, before the run. A callback's ``get_state`` is
    saved in the same snapshot as the trials and the searcher, and ``set_state`` runs on
    ``Tuner.restore`` before the trials are re-added, so the restored scheduler knows
    which trials wait at the milestone, which were kept and which were cut. It also
    rewrites ``early_discard_decisions.jsonl`` (one JSON line per decision) in the
    experiment directory whenever a decision is made.

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

    def mark_dirty(self) -> None:
        """A decision was made: rewrite the decisions file at the end of the step."""
        self._dirty = True

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
