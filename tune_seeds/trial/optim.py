"""Optimizers and the learning-rate schedule of the paper's recipe."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

# BERT's epsilon; the paper's code and the original BERT use 1e-6.
ADAM_EPS = 1e-6


class BertAdam(torch.optim.Optimizer):
    """BERT's Adam: decoupled weight decay and **no bias correction**.

    Without bias correction the first updates are about ``sqrt(1 - beta2)/(1 - beta1)``
    = 0.32 times Adam's, and unstable later on; Mosbach et al. (2021) trace many
    of the paper's failed runs to it. Kept for reproducing the paper.
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter] | Iterable[dict],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = ADAM_EPS,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                update = m / (v.sqrt() + group["eps"])
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                p.add_(update, alpha=-group["lr"])
        return loss


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices only: never on biases and LayerNorm, as in BERT."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim < 2 or "norm" in name.lower()
        (no_decay if skip else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(
    model: torch.nn.Module, name: str, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    groups = parameter_groups(model, weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, eps=ADAM_EPS)
    if name == "bert-adam":
        return BertAdam(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def linear_warmup_decay(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
) -> LambdaLR:
    """Linear warm-up over ``warmup_fraction`` of the steps, then linear decay to 0.

    Deliberately not transformers' ``get_linear_schedule_with_warmup``: that one gives
    step k the factor ``k / warmup``, so the first optimizer step runs at learning rate
    0 and is wasted. Ours gives it ``(k + 1) / warmup``, as the paper's code did (BERT's
    Adam scheduled on the step count after incrementing it), and every recorded sweep
    was trained with it. After the warm-up both decay linearly to 0 at the last step.
    """
    warmup = math.ceil(total_steps * warmup_fraction)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return LambdaLR(optimizer, factor)
