"""Low-rank adaptation (LoRA) of a frozen linear layer.

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685; the SVD start
after Meng, Wang, Zhang, "PiSSA: Principal Singular Values and Singular Vectors Adaptation",
arXiv:2404.02948.

Legend: B batch, I in_features, O out_features, r rank.

    h = W₀ x + b + (α/r) · B A dropout(x),    W₀ (O, I) frozen,  A (r, I),  B (O, r)

Init ``"lora"``: A ~ Kaiming-uniform, B = 0, so the adapted layer equals the base at step 0 and
the gradient reaches B at once. ``"zero"``: A = B = 0 — both gradients are zero forever (a
saddle), so the adapter never moves. ``"random"``: both random (perturbs the base at step 0).
``"svd"``: W₀ = U S Vᵀ; A = √S_r V_rᵀ·√(r/α), B = U_r √S_r·√(r/α) (the top-r part) and W₀ is
replaced by its residual W₀ − (α/r) B A, so the output is unchanged at step 0 and the adapter
starts on W₀'s principal directions.

``merge()`` folds (α/r)·BA into the weight, ``unmerge()`` takes it out again (exact up to float
rounding; float64 round trip ≤ 1e-12). The merge state is a buffer (``merged_flag``), so it is
saved in the state dict with the (merged) weight: a state dict saved after ``merge()`` loads into
a fresh layer as merged and gives the same outputs (a plain attribute applied the adapter twice).
A state dict without the entry (written before it existed) loads as unmerged.

Ownership: the layer wraps the caller's ``base`` (its parameters are frozen in place, and
``merge()`` edits its weight in place, as peft does), except with ``init="svd"``, which must
replace W₀ by a residual: it wraps a *copy* of ``base``, so the caller's layer and weight are
never changed by the svd start.

Departures:
1. The ``svd`` init is PiSSA's, not part of the LoRA paper.
2. ``inject_lora`` matches module names by suffix (like peft's ``target_modules``).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

INITS = ("lora", "zero", "random", "svd")


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable rank-r update: (B, *, I) → (B, *, O).

    base: the layer to adapt (its weight and bias are frozen); r: rank ≥ 1; alpha: α (scaling α/r);
    dropout: on the adapter's input; init: 'lora' (B=0), 'zero' (A=B=0), 'random', or 'svd'.
    """

    def __init__(
        self, base: nn.Linear, r: int = 4, alpha: float = 8.0, dropout: float = 0.0, init: str = "lora"
    ) -> None:
        super().__init__()
        if r < 1 or r > min(base.in_features, base.out_features):
            raise ValueError(
                f"r must be in [1, min(in, out) = {min(base.in_features, base.out_features)}], got {r}"
            )
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        # the svd start rewrites W₀: work on a copy so that the caller's layer is left untouched
        self.base = copy.deepcopy(base) if init == "svd" else base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        w = base.weight
        self.lora_A = nn.Parameter(torch.zeros(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        self.drop = nn.Dropout(dropout)
        # a buffer, not an attribute: the merge state travels with the (merged) weight in state dicts
        self.register_buffer("merged_flag", torch.zeros((), dtype=torch.bool, device=w.device))
        self._init(init)

    @property
    def merged(self) -> bool:
        """Whether (α/r)·BA is currently folded into the base weight."""
        return bool(self.merged_flag)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        # state dicts saved before the flag existed were always unmerged (merge() was not saved)
        state_dict.setdefault(prefix + "merged_flag", torch.zeros((), dtype=torch.bool))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def _init(self, init: str) -> None:
        if init in ("lora", "random"):
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        if init == "random":
            nn.init.kaiming_uniform_(self.lora_B, a=math.sqrt(5))
        if init == "svd":
            u, s, vh = torch.linalg.svd(self.base.weight.double(), full_matrices=False)
            root = (s[: self.r] / self.scaling).sqrt()  # so that scaling · B A = U_r S_r V_rᵀ
            self.lora_B.copy_(u[:, : self.r] * root)
            self.lora_A.copy_(root.unsqueeze(1) * vh[: self.r])
            self.base.weight.sub_(self.delta_weight())

    def delta_weight(self) -> torch.Tensor:
        """(α/r)·B A, (O, I)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        return out + self.scaling * F.linear(F.linear(self.drop(x), self.lora_A), self.lora_B)

    @torch.no_grad()
    def merge(self) -> None:
        """W ← W + (α/r) B A; the adapter is then skipped in forward."""
        if not self.merged:
            self.base.weight.add_(self.delta_weight())
            self.merged_flag.fill_(True)

    @torch.no_grad()
    def unmerge(self) -> None:
        """W ← W − (α/r) B A (undo :meth:`merge`)."""
        if self.merged:
            self.base.weight.sub_(self.delta_weight())
            self.merged_flag.fill_(False)

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, merged={self.merged}"


def inject_lora(
    model: nn.Module, target_names: list[str] | tuple[str, ...], r: int = 4, alpha: float = 8.0, **kw: object
) -> list[str]:
    """Replace every ``nn.Linear`` whose qualified name ends with one of ``target_names`` by a
    :class:`LoRALinear`, freeze every other parameter, and return the replaced names."""
    for p in model.parameters():
        p.requires_grad_(False)
    hits = [
        name
        for name, mod in model.named_modules()
        if isinstance(mod, nn.Linear) and any(name == t or name.endswith("." + t) for t in target_names)
    ]
    if not hits:
        linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        raise ValueError(f"no nn.Linear matches target_names {list(target_names)}; linear layers: {linears}")
    for name in hits:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, **kw))  # type: ignore[arg-type]
    return hits


def count_trainable(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lora_modules(model: nn.Module) -> list[LoRALinear]:
    """All :class:`LoRALinear` layers of ``model``."""
    return [m for m in model.modules() if isinstance(m, LoRALinear)]
