"""Static shapes and ``torch.compile`` for a trial's forward passes.

Batches are padded to the longest example (dynamic padding), so a trial meets dozens
of shapes, and ``torch.compile`` either recompiles for each or, with dynamic shapes,
gives up most of its gain. Padding every batch to a multiple of a few tokens
(``pad_to_multiple_of``, Hugging Face's collator option of the same name) leaves a
handful of shapes: MRPC at 16 has four training widths and four for validation. Each
is compiled once per process and then read from Inductor's on-disk cache by the
other trials of a sweep on the machine.

Which passes are compiled (``torch_compile``):

- ``"off"`` (default): eager, as every recorded sweep ran;
- ``"eval"``: validation only, the larger share of a trial on a CPU (31 forward
  passes over the dev set against three epochs of training);
- ``"all"``: training's forward and backward too.

Padding and compiled kernels change the last bits of the logits (bf16 sums in
another order and over other widths), so a sweep keeps the settings it started with;
a trial stays deterministic with either. Dropout masks are drawn from the global
generator, as in eager mode (Inductor's ``fallback_random``), so that the trial's
dropout stream (:class:`~tune_seeds.trial.seeds.DropoutRNG`) keeps its meaning.

>>> import torch
>>> net = torch.nn.Linear(4, 2)
>>> train, evaluate = compile_model(net, "off")
>>> train is net and evaluate is net
True
"""

from __future__ import annotations

import argparse

import torch

from tune_seeds.cli import number
from tune_seeds.trial.config import COMPILE_MODES

RECOMPILE_LIMIT = 64
"""Graphs one model may compile (shapes x train/eval); past Dynamo's default of 8 it
would fall back to eager without saying so."""


def _configure_inductor() -> None:
    import torch._dynamo.config as dynamo_config
    import torch._inductor.config as inductor_config

    inductor_config.fallback_random = True
    for name in ("recompile_limit", "cache_size_limit"):  # renamed across torch versions
        if hasattr(dynamo_config, name):
            setattr(dynamo_config, name, max(getattr(dynamo_config, name), RECOMPILE_LIMIT))


def compile_model(
    model: torch.nn.Module, mode: str
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The module to call for training and the one to call for validation.

    Both share ``model``'s parameters; checkpoints save ``model`` itself, so a
    compiled trial's checkpoint loads into an eager one and back.
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"torch_compile must be one of {COMPILE_MODES}, got {mode!r}")
    if mode == "off":
        return model, model
    _configure_inductor()
    compiled = torch.compile(model, dynamic=False)
    return (compiled if mode == "all" else model), compiled


def add_compile_arguments(parser: argparse._ActionsContainer) -> None:
    """``--torch-compile`` and ``--pad-to-multiple-of``, the same in every tool."""
    parser.add_argument(
        "--torch-compile", choices=COMPILE_MODES,
        help="compile the model's forward passes with static shapes: off (default, "
        "eager), eval (validation only) or all (training too); use with "
        "--pad-to-multiple-of so that there are few shapes",
    )
    parser.add_argument(
        "--pad-to-multiple-of", type=number(int, 1), metavar="N",
        help="pad every batch to a multiple of N tokens (default: to its longest "
        "example); 16 leaves MRPC four widths",
    )
