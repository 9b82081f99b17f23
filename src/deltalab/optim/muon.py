"""Muon: momentum orthogonalized by Newton–Schulz for hidden matrices, AdamW for the rest.

Keller Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (2024,
kellerjordan.github.io/posts/muon); Liu et al., "Muon is Scalable for LLM Training"
(arXiv:2502.16982); Bernstein & Newhouse, "Old Optimizer, New Norm" (arXiv:2409.20325) for why the
orthogonalized update is steepest descent under the spectral norm.

For a weight W (rows × cols) with gradient G, learning rate γ, momentum μ, weight decay λ:

    B ← μ B + (1 − μ) G                      (torch's form: B.lerp_(G, 1 − μ))
    M ← (1 − μ) G + μ B  if nesterov else B
    O ← NS₅(M) ≈ U Vᵀ                        (quintic Newton–Schulz, see newton_schulz.py)
    W ← (1 − γλ) W − γ √max(1, rows/cols) O

Written here rather than only imported because torch.optim.Muon accepts 2-D parameters only and
has no AdamW split; on 2-D parameters :class:`Muon` matches it step for step (tests check it).

Departures from torch.optim.Muon (2.13):
1. Parameters with more than two dimensions are accepted: a conv weight (C_out, C_in, kH, kW) is
   flattened to (C_out, C_in·kH·kW) for the orthogonalization and the √max(1, rows/cols) scale.
   Fewer than two dimensions is a ValueError (route those to AdamW: :class:`MuonWithAdamW`).
2. ``ns_dtype`` chooses the Newton–Schulz matmul dtype (torch: always bf16). The default "auto" is
   bf16 where the parameter's device multiplies bf16 natively (CUDA with bf16; a CPU with the
   avx512_bf16 or amx_bf16 flag) and float32 elsewhere (``newton_schulz.auto_dtype``): on a CPU
   without those flags bf16 matmuls are emulated ~100× slower than fp32 (`deltalab train --optimizer
   muon` crawled on such a machine). Pass ``torch.bfloat16`` to match torch.optim.Muon exactly.
3. ``adjust_lr_fn`` defaults to "original" (Keller's √max(1, rows/cols)); "match_rms_adamw"
   (0.2·√max(rows, cols)) as in torch. As in torch, the weight decay uses the *unadjusted* rate
   (W ← (1 − γλ) W), not the adjusted one.
4. :class:`MuonWithAdamW` is one optimizer over both kinds of group (``use_muon`` per group), so
   that one ``step()``, one ``state_dict()`` and one LR scheduler cover the whole model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from deltalab.optim.base import step_each
from deltalab.optim.newton_schulz import NS_COEFFICIENTS, auto_dtype
from deltalab.optim.registry import OPTIMIZERS

ADJUST_LR_FNS = ("original", "match_rms_adamw")


def adjusted_lr(lr: float, adjust_lr_fn: str | None, rows: int, cols: int) -> float:
    """The per-matrix rate: γ√max(1, rows/cols) ("original") or 0.2γ√max(rows, cols)."""
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1.0, rows / cols))
    return lr * 0.2 * math.sqrt(max(rows, cols))


def _newton_schulz_2d(
    M: Tensor, steps: int, coefficients: tuple[float, float, float], eps: float, dtype: torch.dtype | None
) -> Tensor:
    """:func:`newton_schulz` on one matrix, for the step's hot path: the same operations as
    torch.optim._muon's (one cast, an in-place normalisation, ``addmm`` rather than the batched
    ``baddbmm``), without the general function's checks and reshapes; equal to it bit for bit
    (tests check it). The caller checked the arguments when the optimizer was built."""
    a, b, c = coefficients
    X = M.to(dtype, copy=True) if dtype is not None else M.clone()  # copy: normalised in place below
    if M.size(0) > M.size(1):
        X = X.T
    X.div_(X.norm().clamp(min=eps))
    for _ in range(steps):
        A = X @ X.T
        X = torch.addmm(X, torch.addmm(A, A, A, beta=b, alpha=c), X, beta=a)
    return X.T if M.size(0) > M.size(1) else X


def muon_update_(p: Tensor, grad: Tensor, buf: Tensor, group: dict[str, Any]) -> None:
    """One Muon step on ``p`` (rows, ...) in place; ``buf`` is its momentum buffer."""
    momentum = group["momentum"]
    buf.lerp_(grad, 1 - momentum)
    update = grad.lerp(buf, momentum) if group["nesterov"] else buf
    if update.ndim > 2:
        update = update.reshape(update.size(0), -1)  # (rows, cols): conv weights flattened
    dtype = group["ns_dtype"]
    if dtype == "auto":
        dtype = auto_dtype(update.device)
    ortho = _newton_schulz_2d(update, group["ns_steps"], group["ns_coefficients"], group["eps"], dtype)
    rows, cols = update.shape
    if group["weight_decay"]:  # W·1 is W: skip the pass over W (same numbers as torch's unconditional mul_)
        p.mul_(1 - group["lr"] * group["weight_decay"])
    p.add_(ortho.view_as(p), alpha=-adjusted_lr(group["lr"], group["adjust_lr_fn"], rows, cols))


def adamw_update_(p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
    """One AdamW step on ``p`` in place (torch.optim.AdamW's single-tensor formula)."""
    if not state:
        state["step"] = torch.tensor(0.0)
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    beta1, beta2 = group["betas"]
    state["step"] += 1
    step = state["step"].item()
    p.mul_(1 - group["lr"] * group["weight_decay"])
    state["exp_avg"].lerp_(grad, 1 - beta1)
    state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**step)).add_(group["adam_eps"])
    p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1**step))


def _check(name: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def _muon_defaults(
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_coefficients: tuple[float, float, float],
    eps: float,
    ns_steps: int,
    adjust_lr_fn: str | None,
    ns_dtype: torch.dtype | str | None,
) -> dict[str, Any]:
    """Muon's hyperparameters, checked, as a param-group defaults dict (shared by both optimizers)."""
    _check("lr", lr, lr >= 0, ">= 0")
    _check("momentum", momentum, 0 <= momentum < 1, "in [0, 1)")
    _check("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
    _check("ns_steps", ns_steps, isinstance(ns_steps, int) and 0 <= ns_steps < 100, "an int in [0, 100)")
    _check("eps", eps, eps > 0, "> 0")
    _check(
        "ns_dtype",
        ns_dtype,
        ns_dtype is None or ns_dtype == "auto" or isinstance(ns_dtype, torch.dtype),
        '"auto", None or a torch.dtype',
    )
    _check(
        "adjust_lr_fn",
        adjust_lr_fn,
        adjust_lr_fn is None or adjust_lr_fn in ADJUST_LR_FNS,
        f"None or one of {ADJUST_LR_FNS}",
    )
    return dict(
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        nesterov=nesterov,
        ns_coefficients=tuple(ns_coefficients),
        eps=eps,
        ns_steps=ns_steps,
        adjust_lr_fn=adjust_lr_fn,
        ns_dtype=ns_dtype,
    )


def _step(opt: torch.optim.Optimizer, closure: Callable[[], Tensor] | None) -> Tensor | None:
    """The step of :class:`Muon` and :class:`MuonWithAdamW` (a group without ``use_muon`` is Muon's)."""
    return step_each(opt, closure, _update)


def _update(p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
    if group.get("use_muon", True):
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        muon_update_(p, grad, state["momentum_buffer"], group)
    else:
        adamw_update_(p, grad, state, group)


class Muon(torch.optim.Optimizer):
    """Muon for parameters with ≥ 2 dimensions (arguments as torch.optim.Muon, plus ``ns_dtype``).

    lr: γ; weight_decay: λ (decoupled, uses the unadjusted γ); momentum: μ; nesterov: use the
    look-ahead (1 − μ) G + μ B; ns_coefficients, ns_steps, eps: the Newton–Schulz iteration;
    adjust_lr_fn: "original" (√max(1, rows/cols)) or "match_rms_adamw"; ns_dtype: matmul dtype
    ("auto": bf16 where the device has native bf16 matmuls, else float32; None keeps the gradient's).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = "original",
        ns_dtype: torch.dtype | str | None = "auto",
    ) -> None:
        defaults = _muon_defaults(
            lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn, ns_dtype
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim < 2:
                    raise ValueError(
                        f"Muon needs parameters with >= 2 dimensions, got shape {tuple(p.shape)}; "
                        "optimize biases and gains with AdamW (see MuonWithAdamW)"
                    )

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One Muon step for every parameter that has a gradient."""
        return _step(self, closure)


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon for groups with ``use_muon=True``, AdamW for the others, in one optimizer.

    params: parameter groups, each a dict with ``params`` and ``use_muon`` (see
    :func:`muon_param_groups`), or plain tensors (then ≥ 2-D ones go to Muon, the rest to AdamW).
    lr, weight_decay, momentum, nesterov, ns_*, eps, adjust_lr_fn: Muon's, as in :class:`Muon`.
    adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay: the AdamW groups' defaults.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.02,
        weight_decay: float = 0.0,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = "original",
        ns_dtype: torch.dtype | str | None = "auto",
        adamw_lr: float = 1e-3,
        adamw_betas: tuple[float, float] = (0.9, 0.999),
        adamw_eps: float = 1e-8,
        adamw_weight_decay: float = 0.01,
    ) -> None:
        defaults = _muon_defaults(
            lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn, ns_dtype
        )
        defaults.update(betas=tuple(adamw_betas), adam_eps=adamw_eps)
        _check("adamw_lr", adamw_lr, adamw_lr >= 0, ">= 0")
        _check("adamw_betas", adamw_betas, all(0 <= b < 1 for b in adamw_betas), "two numbers in [0, 1)")
        _check("adamw_eps", adamw_eps, adamw_eps >= 0, ">= 0")
        _check("adamw_weight_decay", adamw_weight_decay, adamw_weight_decay >= 0, ">= 0")
        params = list(params)
        if params and not isinstance(params[0], dict):
            params = [
                {"params": [p for p in params if p.ndim >= 2], "use_muon": True},
                {"params": [p for p in params if p.ndim < 2], "use_muon": False},
            ]
            params = [g for g in params if g["params"]]
        groups = []
        for g in params:
            if "use_muon" not in g:
                raise ValueError(f"each parameter group needs a 'use_muon' flag, got keys {sorted(g)}")
            g = dict(g)
            if not g["use_muon"]:
                g.setdefault("lr", adamw_lr)
                g.setdefault("weight_decay", adamw_weight_decay)
            groups.append(g)
        super().__init__(groups, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if group["use_muon"] and p.ndim < 2:
                    raise ValueError(
                        f"a use_muon group holds a parameter of shape {tuple(p.shape)}; "
                        "Muon needs >= 2 dimensions"
                    )

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One step: Muon on the ``use_muon`` groups, AdamW on the others."""
        return _step(self, closure)


def muon_param_groups(
    model: nn.Module,
    head: Iterable[nn.Module] | None = None,
    inputs: Iterable[nn.Module] | None = None,
) -> list[dict[str, Any]]:
    """Split ``model``'s parameters: hidden ≥ 2-D matrices → Muon, everything else → AdamW.

    AdamW gets the biases and gains (< 2-D), every ``nn.Embedding``, the output head (``head``;
    default: the last ``nn.Linear`` of ``model.modules()``) and the input layer (``inputs``;
    default: none if the model has an embedding, else the first ``nn.Linear`` / conv module).
    Pass ``inputs=()`` to orthogonalize the input layer too.
    Returns ``[{"params": [...], "use_muon": True}, {"params": [...], "use_muon": False}]``.
    """
    modules = list(model.modules())
    if head is None:
        head = [m for m in modules if isinstance(m, nn.Linear)][-1:]
    if inputs is None:
        has_embedding = any(isinstance(m, nn.Embedding) for m in modules)
        layers = [m for m in modules if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
        inputs = [] if has_embedding else layers[:1]
    not_muon = {id(p) for m in [*head, *inputs] for p in m.parameters()}
    not_muon |= {id(p) for m in modules if isinstance(m, nn.Embedding) for p in m.parameters()}
    muon, other = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (muon if p.ndim >= 2 and id(p) not in not_muon else other).append(p)
    return [{"params": muon, "use_muon": True}, {"params": other, "use_muon": False}]


@OPTIMIZERS.register(name="muon")
def muon_factory(params: Iterable[Any], lr: float, **kw: Any) -> torch.optim.Optimizer:
    """:class:`MuonWithAdamW`: Muon (rate ``lr``) on ≥ 2-D tensors or ``use_muon`` groups, AdamW on the rest.

    ``weight_decay`` applies to both kinds unless ``adamw_weight_decay`` is given.
    """
    if "weight_decay" in kw:
        kw.setdefault("adamw_weight_decay", kw["weight_decay"])
    return MuonWithAdamW(params, lr=lr, **kw)
