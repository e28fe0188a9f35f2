"""The notebooks run top to bottom on recorded real sweeps by default, and their
committed outputs are current: re-executing them (the same code as
``experiments/run_notebooks.py``) prints the same text."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tune_seeds.reporting import notebooks

pytest.importorskip("nbformat")
pytest.importorskip("nbclient")


@pytest.fixture(autouse=True)
def python_kernel() -> None:
    """Skip where this environment has no Jupyter kernel to run the notebooks in."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(notebooks.KERNEL)
    except NoSuchKernel:
        pytest.skip("no 'python3' Jupyter kernel: run `python -m ipykernel install --sys-prefix`")


def rerun(name: str, limit_s: float,
          sweeps: tuple[str, ...] = ("CURVES_PATH",)) -> tuple[str, object]:
    """Execute a committed notebook; check its text outputs and figures are the committed
    ones, its default sweeps (the parameters ``sweeps``) recorded real ones, and that it
    ran within ``limit_s``."""
    path = notebooks.NOTEBOOKS / name
    committed = notebooks.read(path)
    for parameter in sweeps:
        sweep = (path.parent / notebooks.parameter(committed, parameter)).resolve()
        assert sweep.parent == notebooks.ROOT / "experiments" / "results"
        assert (sweep / "sweep.json").is_file() and (sweep / "README.md").is_file()
    start = time.perf_counter()
    nb = notebooks.execute(path)
    elapsed = time.perf_counter() - start
    assert notebooks.text_outputs(committed), f"{name} is committed without its outputs"
    assert notebooks.text_outputs(nb) == notebooks.text_outputs(committed), (
        f"{name}: the committed outputs are stale; run `python experiments/run_notebooks.py`"
    )
    assert notebooks.images(nb) == notebooks.images(committed)
    assert elapsed < limit_s, f"{name} took {elapsed:.0f} s"
    return "\n".join(notebooks.text_outputs(nb)), nb


def test_seed_variance_notebook_outputs_are_current():
    # About 30 s on 2 cores shared with a sweep.
    text, nb = rerun("seed_variance.ipynb", limit_s=90)
    assert "SYNTHETIC" not in text and "Expected best score of n trials" in text
    assert "Sweep of " in text and "Failed runs (best score <= " in text
    assert notebooks.images(nb) >= 5


def test_compare_sweeps_notebook_outputs_are_current():
    # About 8 s: two seeds-only comparisons with their power analyses, and the benchmark's.
    text, nb = rerun("compare_sweeps.ipynb", limit_s=60, sweeps=("A_PATH", "B_PATH"))
    parity = (notebooks.NOTEBOOKS / notebooks.parameter(nb, "PARITY_PATH")).resolve()
    assert parity == notebooks.ROOT / "benchmarks" / "results" / "precision_parity.json"
    assert "design: paired, seeds only" in text and "SYNTHETIC" not in text
    assert "same numbers as the recorded comparison: True" in text
    assert "from tune_seeds.analysis import" in nb.cells[2].source
    assert notebooks.images(nb) >= 1


@pytest.mark.ray
def test_compare_schedulers_notebook_outputs_are_current():
    # About 80 s on an idle 2-core machine (Ray's start is a tenth of it); the bound
    # leaves room for cores shared with other jobs.
    text, nb = rerun("compare_schedulers.ipynb", limit_s=240)
    assert "rule of thumb: start" in text and "SYNTHETIC" not in text
    # The recorded comparisons' schedulers (Ray's HyperBand stalls in some replays).
    for scheduler in ("fifo", "early-discard", "adaptive", "asha", "median"):
        assert scheduler in text
    assert notebooks.images(nb) >= 1


def test_set_parameter_switches_the_default_sweep(tmp_path: Path):
    nb = notebooks.read(notebooks.NOTEBOOKS / "seed_variance.ipynb")
    notebooks.set_parameter(nb, "CURVES_PATH", "../experiments/results/other")
    notebooks.set_parameter(nb, "RESAMPLES", 10)
    assert notebooks.parameter(nb, "CURVES_PATH") == "../experiments/results/other"
    assert notebooks.parameter(nb, "RESAMPLES") == 10
    assert "# planner Monte-Carlo resamples" in nb.cells[notebooks.parameters_cell(nb)].source
    with pytest.raises(ValueError, match="NOT_A_PARAMETER"):
        notebooks.set_parameter(nb, "NOT_A_PARAMETER", 1)
