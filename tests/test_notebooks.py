"""Both notebooks run top to bottom on the committed real sweep by default (nbclient)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ROOT = NOTEBOOKS.parent


def kernel_name() -> str:
    """The Python kernel of this environment; skip when none is installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no 'python3' Jupyter kernel: run `python -m ipykernel install --sys-prefix`")
    return "python3"


def run_notebook(name: str, overrides: str = "") -> nbformat.NotebookNode:
    """Execute a notebook in its folder; ``overrides`` goes in a cell after the parameters."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    if overrides:
        nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(overrides))
    # The kernel inherits this environment; make the checkout importable even when the
    # package is not installed.
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env_path) if p)
    try:
        client = nbclient.NotebookClient(
            nb, kernel_name=kernel_name(), timeout=120,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        client.execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    return nb


def outputs_text(nb) -> str:
    return "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def images(nb) -> int:
    return sum("image/png" in o.get("data", {})
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_seed_variance_notebook_runs():
    start = time.perf_counter()
    nb = run_notebook("seed_variance.ipynb", "BUDGETS = [2, 5, 10]\nRESAMPLES = 300")
    assert time.perf_counter() - start < 60
    text = outputs_text(nb)
    # The default is the recorded real sweep, not synthetic curves.
    assert "SYNTHETIC" not in text and "Expected best score of n trials" in text
    assert "Sweep of 100 trials (10 WI x 10 DO seeds), task sst2" in text
    assert "Failed runs (best score <= 0.5092)" in text
    assert images(nb) >= 5


@pytest.mark.ray
def test_compare_schedulers_notebook_runs():
    start = time.perf_counter()
    nb = run_notebook(
        "compare_schedulers.ipynb",
        'BUDGET = 3\nREPEATS = 1\nSCHEDULERS = ["early_discard", "adaptive"]\n'
        'import os\nos.environ.setdefault("RAY_AUTH_MODE", "disabled")',
    )
    # About 25 s on an idle 2-core machine (Ray's start is a third of it); the bound
    # leaves room for cores shared with other jobs.
    assert time.perf_counter() - start < 90
    text = outputs_text(nb)
    assert "rule of thumb: start" in text and "SYNTHETIC" not in text
    assert "100 curves of 30 intervals" in text
    assert "early_discard" in text and "adaptive" in text
    assert images(nb) >= 1
