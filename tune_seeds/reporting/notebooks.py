"""Execute the project's notebooks, and compare their text outputs.

The notebooks under ``notebooks/`` are committed with their outputs, executed by
:func:`execute` (``experiments/run_notebooks.py`` writes them back); the tests run the
same function and check with :func:`text_outputs` that re-executing gives the same
text, so the committed numbers are those of the code and the recorded sweeps as they
are. Images and timings are left out of the comparison: PNG bytes depend on the
matplotlib build, and the notebooks print no timing.

Needs the test extras (``nbclient``, ``nbformat``, ``ipykernel``), imported on use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("seed_variance.ipynb", "compare_schedulers.ipynb")
PARAMETERS_TAG = "parameters"
KERNEL = "python3"
TIMEOUT_S = 300
"""Per cell; far above the ~1 minute a whole notebook takes, for busy machines."""


def parameters_cell(nb: Any) -> int:
    """Index of the one cell tagged ``parameters`` (papermill's convention)."""
    tagged = [i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"exactly one cell must be tagged {PARAMETERS_TAG!r}, found {tagged}")
    return tagged[0]


def parameter(nb: Any, name: str) -> Any:
    """The value a notebook's parameters cell gives ``name`` (e.g. ``CURVES_PATH``)."""
    scope: dict[str, Any] = {}
    exec(nb.cells[parameters_cell(nb)].source, scope)
    return scope[name]


def set_parameter(nb: Any, name: str, value: Any) -> None:
    """Give ``name`` the literal ``value`` in the parameters cell (its ``NAME = ...`` line).

    How the notebooks are switched to another default sweep: ``CURVES_PATH``.
    """
    cell = nb.cells[parameters_cell(nb)]
    lines = cell.source.splitlines()
    found = [i for i, line in enumerate(lines) if line.split("=")[0].strip() == name]
    if len(found) != 1:
        raise ValueError(f"the parameters cell assigns {name} {len(found)} times, not once")
    # Keep the line's comment, which says what the parameter means.
    comment = lines[found[0]].partition("#")[2]
    literal = json.dumps(value) if isinstance(value, str) else repr(value)  # "..." as written
    lines[found[0]] = f"{name} = {literal}" + (f"  #{comment}" if comment else "")
    cell.source = "\n".join(lines)


@contextmanager
def _checkout_importable() -> Iterator[None]:
    """The kernel inherits this environment: make the checkout importable in it, even
    where the package is not installed."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), before) if p)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def execute(path: str | Path, overrides: str = "") -> Any:
    """Run a notebook top to bottom in its folder and return it with its outputs.

    ``overrides`` (code) goes in a cell right after the parameters cell; the committed
    notebooks are executed without any.
    """
    import nbclient
    import nbformat

    path = Path(path)
    nb = read(path)
    if overrides:
        nb.cells.insert(parameters_cell(nb) + 1, nbformat.v4.new_code_cell(overrides))
    with _checkout_importable():
        nbclient.NotebookClient(
            nb, kernel_name=KERNEL, timeout=TIMEOUT_S,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    # Execution times and kernel ids would change every run: keep the files stable.
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def text_outputs(nb: Any) -> list[str]:
    """Every code cell's printed and displayed text (``text/plain``), in order.

    Standard error is left out (Ray's and library warnings, with their timestamps), and
    so are images.
    """
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                if out.get("name") == "stdout":
                    texts.append(out.get("text", ""))
            elif "text/plain" in out.get("data", {}):
                texts.append(str(out["data"]["text/plain"]))
            elif out.get("output_type") == "error":
                texts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return texts


def images(nb: Any) -> int:
    """How many PNG images the notebook's outputs hold."""
    return sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )


def read(path: str | Path) -> Any:
    """A notebook as nbformat version 4."""
    import nbformat

    return nbformat.read(Path(path), as_version=4)


def write(nb: Any, path: str | Path) -> None:
    """Save an executed notebook, without its stderr streams (library warnings that name
    the machine's paths; :func:`text_outputs` ignores them too)."""
    import nbformat

    for cell in nb.cells:
        if cell.get("outputs"):
            cell.outputs = [o for o in cell.outputs
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nbformat.write(nb, Path(path))
