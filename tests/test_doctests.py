"""Every ``>>>`` example in the package's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import tune_seeds

MODULES = sorted(
    ["schedulers", *(m.name for m in pkgutil.walk_packages(tune_seeds.__path__, "tune_seeds."))]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_the_examples_are_many():
    counts = [doctest.testmod(importlib.import_module(n)).attempted for n in MODULES]
    assert sum(counts) >= 40
