"""The two seeds and the random streams they drive.

Every stream has its own ``torch.Generator`` seeded from one of the two seeds and
a purpose string, so that no other code drawing random numbers (tokenizers,
libraries, another trial in the same process) can shift it, and so that the
streams of one seed are independent of each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one purpose (``"order"``, ``"dropout"``, ``"head"``) of a seed."""
    digest = hashlib.sha256(f"tune-seeds/{purpose}/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(seed: int, purpose: str) -> torch.Generator:
    """A CPU generator dedicated to ``purpose`` of ``seed``."""
    return torch.Generator().manual_seed(derive_seed(seed, purpose))


def epoch_orders(do_seed: int, num_examples: int, epochs: int) -> list[torch.Tensor]:
    """One permutation of the training set per epoch, from the data-order seed alone."""
    gen = generator(do_seed, "order")
    return [torch.randperm(num_examples, generator=gen) for _ in range(epochs)]


class DropoutRNG:
    """The random stream of dropout masks, kept apart from the global RNG.

    ``torch.nn.Dropout`` draws from the global generator and takes no generator
    argument, so the stream's state is swapped into the global generator for the
    duration of a forward/backward pass and swapped back out afterwards. Anything
    else that uses the global RNG in between cannot shift the masks.
    """

    def __init__(self, seed: int, device: torch.device) -> None:
        self.device = device
        self.cpu_state = generator(seed, "dropout").get_state()
        self.cuda_state: torch.Tensor | None = None
        if device.type == "cuda":
            with torch.random.fork_rng(devices=[device]):
                torch.cuda.manual_seed(derive_seed(seed, "dropout"))
                self.cuda_state = torch.cuda.get_rng_state(device)

    @contextmanager
    def active(self) -> Iterator[None]:
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu_state)
            if self.cuda_state is not None:
                torch.cuda.set_rng_state(self.cuda_state, self.device)
            yield
            self.cpu_state = torch.get_rng_state()
            if self.cuda_state is not None:
                self.cuda_state = torch.cuda.get_rng_state(self.device)

    def state_dict(self) -> dict[str, torch.Tensor | None]:
        return {"cpu": self.cpu_state.clone(), "cuda": self.cuda_state}

    def load_state_dict(self, state: dict[str, torch.Tensor | None]) -> None:
        cpu = state["cpu"]
        assert cpu is not None
        self.cpu_state = cpu.clone()
        # A checkpoint from a GPU resumed on CPU (or the reverse) keeps the CPU
        # stream; the CUDA stream can only continue on the same kind of device.
        if self.device.type == "cuda" and state.get("cuda") is not None:
            self.cuda_state = state["cuda"]
