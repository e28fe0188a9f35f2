"""Test-only fault injection: the real trainable, made to fail once where a test says.

:func:`failing_seed_trial` runs :func:`tune_seeds.tuning.trainable.seed_trial` and
raises :class:`InjectedFault` right after the trial of one seed pair reports one
evaluation; a marker file records that it failed, so the retry runs through. Build it
into a sweep with ``build_trainable(spec, failing_seed_trial, fail_once=...)``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from unittest import mock

from ray import cloudpickle

# Ship this module to Ray's workers by value (tests/ is not an installed package).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class InjectedFault(RuntimeError):
    """The failure a test asked for."""


def failing_seed_trial(config: dict[str, Any], *, fail_once: dict[str, Any], **params: Any):
    """``seed_trial`` failing once after evaluation ``fail_once["eval_index"]`` of the pair
    ``(fail_once["wi_seed"], fail_once["do_seed"])``; ``fail_once["marker"]`` is the file
    that remembers the failure."""
    from ray import tune

    from tune_seeds.tuning.trainable import seed_trial

    report = tune.report
    pair = (int(config["wi_seed"]), int(config["do_seed"]))
    marker = Path(fail_once["marker"])

    def report_then_fail(metrics: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        report(metrics, *args, **kwargs)
        due = (
            pair == (fail_once["wi_seed"], fail_once["do_seed"])
            and int(metrics["eval_index"]) == int(fail_once["eval_index"])
            and not marker.exists()
        )
        if due:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("failed once\n")
            raise InjectedFault(f"injected after evaluation {metrics['eval_index']}")

    with mock.patch.object(tune, "report", report_then_fail):
        seed_trial(config, **params)


def failing_pair(wi_seed: int, do_seed: int, error: Exception,
                 after_eval: int | None = None) -> Any:
    """A ``seed_trial`` whose trial of the pair ``(wi_seed, do_seed)`` always raises
    ``error``: at its start, or right after it reports evaluation ``after_eval`` (0: an
    out-of-memory at the first training step, say). Other pairs train as usual."""

    def seed_trial(config: dict[str, Any], **params: Any) -> None:
        from ray import tune

        from tune_seeds.tuning import trainable

        if (int(config["wi_seed"]), int(config["do_seed"])) != (wi_seed, do_seed):
            return trainable.seed_trial(config, **params)
        if after_eval is None:
            raise error
        report = tune.report

        def report_then_fail(metrics: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            report(metrics, *args, **kwargs)
            if int(metrics["eval_index"]) == after_eval:
                raise error

        with mock.patch.object(tune, "report", report_then_fail):
            trainable.seed_trial(config, **params)

    return seed_trial
