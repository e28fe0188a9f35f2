"""Ctrl+C or SIGTERM while the runner still checks its input: one line, exit 130."""

from __future__ import annotations

import os
import signal

import pytest

try:
    from tests.test_sweep import tiny_cli_args
except ImportError:  # the test runner imported this module as top level
    from test_sweep import tiny_cli_args


@pytest.mark.parametrize("how", ["sigint", "sigterm"])
def test_an_interruption_before_ray_starts_is_one_line(glue_fixture_dir, tmp_path,
                                                      monkeypatch, capsys, how):
    from experiments import run_sweep

    def interrupted(*args, **kwargs):
        if how == "sigint":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(run_sweep, "check_data", interrupted)
    before = signal.getsignal(signal.SIGTERM)
    assert run_sweep.main(tiny_cli_args(glue_fixture_dir, tmp_path, "early")) == 130
    err = capsys.readouterr().err
    assert err.strip() == ("run_sweep.py: interrupted before the sweep started: nothing ran, "
                           "nothing to resume")
    assert not (tmp_path / "early").exists()
    assert signal.getsignal(signal.SIGTERM) == before
