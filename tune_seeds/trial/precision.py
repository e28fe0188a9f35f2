"""Numeric precision of a trial: which one ``auto`` picks, and the autocast around it.

Four choices (``TrainConfig.precision``):

- ``fp32``: everything in float32;
- ``bf16``: :func:`torch.autocast` to bfloat16 around the forward passes (training and
  validation). Weights, optimizer state, gradients and the loss reduction stay float32,
  so the optimizer sees the same kind of numbers as in fp32;
- ``fp16``: autocast to float16 plus a gradient scaler (for GPUs without bf16). A step
  whose gradients overflow is skipped by the scaler and is *not* a diverged trial;
- ``auto`` (default): bf16 where the device runs it natively, otherwise fp32. Native
  means a CUDA device that reports bf16 support, or a CPU with AVX512-BF16 or AMX
  instructions as torch detects them (not a guess from the CPU's name). On a CPU
  without them, bf16 is emulated and slower than fp32.

Measured on a 2-core AVX512-BF16 CPU with the default model (MiniLM-L6), bf16 trains
1.9x and validates 2.6x faster than fp32.

On CUDA, ``auto`` also lets float32 matrix products use TF32. :func:`set_deterministic`
applies the settings PyTorch documents for reproducible CUDA runs
(``torch.use_deterministic_algorithms``, a fixed cuBLAS workspace, no cuDNN
benchmarking); they cost speed on a GPU, hence off there by default, and nothing on
a CPU, hence on there by default.

>>> resolve_precision("auto", torch.device("cpu"), cpu_bf16=True)
('bf16', 'auto: this CPU has native bf16 instructions (AVX512-BF16/AMX)')
>>> resolve_precision("auto", torch.device("cpu"), cpu_bf16=False)[0]
'fp32'
"""

from __future__ import annotations

import argparse
import os
from contextlib import AbstractContextManager, nullcontext

import torch

from tune_seeds.trial.config import PRECISIONS

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """Whether torch found bf16 dot-product instructions on this CPU (AVX512-BF16 or AMX)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        probe = getattr(torch.cpu, name, None)
        if probe is not None and probe():
            return True
    return False


def resolve_precision(
    requested: str, device: torch.device, cpu_bf16: bool | None = None
) -> tuple[str, str]:
    """The precision a trial runs in on ``device`` and, in words, why.

    Args:
        requested: one of :data:`PRECISIONS`.
        device: where the trial runs.
        cpu_bf16: whether the CPU has native bf16 (None: ask torch).
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested != "auto":
        if requested == "fp16" and device.type == "cpu":
            # CPU autocast supports float16 only slowly and without a need for it;
            # allowed for tests of the scaler path, but say what it is.
            return "fp16", "fp16 as asked (on a CPU: emulated, for tests of the scaler path)"
        return requested, f"{requested} as asked"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"auto: {torch.cuda.get_device_name(device)} supports bf16"
        return "fp16", f"auto: {torch.cuda.get_device_name(device)} has no bf16, fp16 with a scaler"
    if device.type == "cpu":
        native = cpu_has_native_bf16() if cpu_bf16 is None else cpu_bf16
        if native:
            return "bf16", "auto: this CPU has native bf16 instructions (AVX512-BF16/AMX)"
        return "fp32", "auto: this CPU has no native bf16 (it would be emulated, slower)"
    return "fp32", f"auto: fp32 on {device.type}"


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The autocast context of ``precision`` on ``device`` (a no-op for fp32)."""
    dtype = _DTYPES.get(precision)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16, None otherwise (bf16 has fp32's range)."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def allow_tf32(device: torch.device, requested: str) -> None:
    """Let float32 matmuls use TF32 on CUDA under ``auto`` (Ampere and newer)."""
    if device.type == "cuda" and requested == "auto":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def default_deterministic(device: torch.device) -> bool:
    """``--deterministic``'s default: on for a CPU (free), off for a GPU (slower there)."""
    return device.type != "cuda"


def set_deterministic(on: bool) -> None:
    """Apply (or lift) PyTorch's documented settings for reproducible runs."""
    if on:
        # cuBLAS needs a fixed workspace to be deterministic; set before first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on, warn_only=False)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on and torch.cuda.is_available()


def describe_choice(requested: str, gpus_per_trial: float) -> str:
    """One line for a sweep's opening: which precision its trials will use, and why."""
    if gpus_per_trial > 0:
        if not torch.cuda.is_available():
            return f"precision {requested}: decided on each GPU worker (no GPU on the driver)"
        device = torch.device("cuda")
    else:
        device = torch.device("cpu")
    chosen, why = resolve_precision(requested, device)
    return f"precision {chosen} ({why})"


def add_precision_arguments(parser: argparse._ActionsContainer) -> None:
    """``--precision`` and ``--deterministic``, the same in every command-line tool."""
    parser.add_argument(
        "--precision", choices=PRECISIONS,
        help="numeric precision: auto (default: bf16 where the device runs it natively, "
        "else fp32), fp32, bf16 (autocast, fp32 weights), fp16 (autocast + gradient scaler)",
    )
    parser.add_argument(
        "--deterministic", action=argparse.BooleanOptionalAction, default=None,
        help="PyTorch's settings for reproducible runs (default: on for a CPU, where they "
        "cost nothing; off for a GPU, where they cost speed)",
    )
