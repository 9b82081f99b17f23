"""Every optimizer of chapter O: converges on a quadratic, rejects bad hyperparameters, round-trips its state."""

from __future__ import annotations

import copy

import pytest
import torch

from deltalab.optim import OPTIMIZERS
from deltalab.optim.delta_bar_delta import DeltaBarDelta
from deltalab.optim.muon import Muon, MuonWithAdamW
from deltalab.optim.sign import SignSGD, Signum

OURS = ["delta-bar-delta", "signsgd", "signum", "muon"]
LR = {"delta-bar-delta": 0.05, "signsgd": 0.05, "signum": 0.05, "muon": 0.05}


def quadratic(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A (6, 4) matrix parameter and a diagonal quadratic 0.5·Σ h_ij W_ij² with h in [0.5, 2]."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(6, 4, generator=g), torch.rand(6, 4, generator=g) * 1.5 + 0.5


@pytest.mark.parametrize("name", OURS)
def test_registered(name: str) -> None:
    assert name in OPTIMIZERS.names()


@pytest.mark.parametrize("name", OURS)
def test_converges_on_quadratic(name: str) -> None:
    w0, h = quadratic()
    w = torch.nn.Parameter(w0.clone())
    opt = OPTIMIZERS.create(name, [w], lr=LR[name])
    start = 0.5 * (h * w.detach() ** 2).sum().item()
    for t in range(400):
        if name in ("signsgd", "signum", "muon"):  # fixed-size steps: anneal to settle
            for g in opt.param_groups:
                g["lr"] = LR[name] * (1 - t / 400)
        opt.zero_grad()
        loss = 0.5 * (h * w**2).sum()
        loss.backward()
        opt.step()
    end = 0.5 * (h * w.detach() ** 2).sum().item()
    assert end < 1e-3 * start, (name, start, end)


BAD = [
    (DeltaBarDelta, {"lr": -1.0}, "-1.0"),
    (DeltaBarDelta, {"increase": 0.0}, "0.0"),
    (DeltaBarDelta, {"decrease": 1.5}, "1.5"),
    (DeltaBarDelta, {"max_gain": 0.5}, "0.5"),
    (DeltaBarDelta, {"momentum": 1.0}, "1.0"),
    (SignSGD, {"lr": 0.0}, "0.0"),
    (SignSGD, {"weight_decay": -0.1}, "-0.1"),
    (Signum, {"momentum": -0.2}, "-0.2"),
    (Muon, {"lr": -0.5}, "-0.5"),
    (Muon, {"momentum": 1.5}, "1.5"),
    (Muon, {"ns_steps": 200}, "200"),
    (Muon, {"adjust_lr_fn": "bogus"}, "bogus"),
    (MuonWithAdamW, {"adamw_lr": -3.0}, "-3.0"),
    (MuonWithAdamW, {"adamw_betas": (0.9, 1.2)}, "1.2"),
]


@pytest.mark.parametrize(("cls", "kw", "shown"), BAD)
def test_bad_hyperparameters_show_value(cls: type, kw: dict, shown: str) -> None:
    with pytest.raises(ValueError, match=shown):
        cls([torch.nn.Parameter(torch.zeros(3, 3))], **kw)


def test_muon_rejects_vectors() -> None:
    with pytest.raises(ValueError, match=r"\(5,\)"):
        Muon([torch.nn.Parameter(torch.zeros(5))])


def _train(opt: torch.optim.Optimizer, params: list[torch.Tensor], h: torch.Tensor, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        sum(0.5 * (h[: p.numel()].view_as(p) * p**2).sum() for p in params).backward()
        opt.step()


@pytest.mark.parametrize("name", OURS)
def test_state_dict_round_trip(name: str, tmp_path) -> None:
    w0, h = quadratic(1)
    h = h.flatten().repeat(2)
    params = [torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0[0].clone())]  # muon: vector → AdamW
    opt = OPTIMIZERS.create(name, params, lr=LR[name])
    _train(opt, params, h, 3)
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    twin_params = [torch.nn.Parameter(p.detach().clone()) for p in params]
    twin = OPTIMIZERS.create(name, twin_params, lr=LR[name])
    twin.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    ref_state = copy.deepcopy(opt.state_dict())
    ref_params = [p.detach().clone() for p in params]
    _train(opt, params, h, 3)
    _train(twin, twin_params, h, 3)
    for a, b in zip(params, twin_params):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The state carried something: a twin that starts from the same parameters without it ends
    # elsewhere (signsgd keeps no state, so there the two must agree).
    fresh_params = [torch.nn.Parameter(p.detach().clone()) for p in twin_params]
    for p, q in zip(fresh_params, ref_params):
        p.data.copy_(q)
    fresh = OPTIMIZERS.create(name, fresh_params, lr=LR[name])
    _train(fresh, fresh_params, h, 3)
    same = all(torch.equal(a, b) for a, b in zip(params, fresh_params))
    assert same == (not any(ref_state["state"].values())), name  # signsgd's per-parameter states are empty
