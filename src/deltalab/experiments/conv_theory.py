"""Chapter C, the arithmetic and calculus of convolution: conv-arithmetic and conv-gradients."""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.theory.conv_arithmetic import LayerSpec, stack_geometry, stride1_receptive_field
from deltalab.theory.conv_gradients import (
    avgpool2d_grad,
    conv2d_input_grad,
    conv2d_weight_grad,
    maxpool2d_grad,
    weight_grad_variance,
)


def _random_stack(rng: random.Random) -> tuple[list[LayerSpec], int]:
    """1–4 random conv/pool layers that fit an input of a random size."""
    while True:
        size = rng.randint(8, 48)
        layers, c = [], rng.randint(1, 4)
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(["conv", "conv", "maxpool", "avgpool"])
            k = rng.randint(1, 5)
            pad = rng.randint(0, k // 2)
            dil = rng.randint(1, 3) if kind != "avgpool" else 1
            if kind == "conv":
                groups = rng.choice([1, 1, c]) if c > 1 else 1
                c_out = groups * rng.randint(1, 3)
                layers.append(
                    LayerSpec("conv", k, rng.randint(1, 3), pad, dil, c, c_out, rng.random() < 0.7, groups)
                )
                c = c_out
            else:
                layers.append(
                    LayerSpec(kind, k, rng.randint(1, 3), pad, dil, c, c, ceil_mode=rng.random() < 0.3)
                )
        try:
            stack_geometry(layers, size)
            return layers, size
        except ValueError:
            continue


def _torch_layer(spec: LayerSpec, ndim: int) -> nn.Module:
    conv = nn.Conv2d if ndim == 2 else nn.Conv1d
    mp = nn.MaxPool2d if ndim == 2 else nn.MaxPool1d
    ap = nn.AvgPool2d if ndim == 2 else nn.AvgPool1d
    if spec.kind == "conv":
        return conv(
            spec.in_channels,
            spec.out_channels,
            spec.kernel_size,
            spec.stride,
            spec.padding,
            spec.dilation,
            spec.groups,
            spec.bias,
        )
    if spec.kind == "maxpool":
        return mp(spec.kernel_size, spec.stride, spec.padding, spec.dilation, ceil_mode=spec.ceil_mode)
    return ap(spec.kernel_size, spec.stride, spec.padding, ceil_mode=spec.ceil_mode, count_include_pad=True)


def _measured_rf(layers: list[LayerSpec]) -> tuple[int, int]:
    """Receptive field and jump of a 1-D twin of the stack, read off autograd: the span of input
    positions that reach one interior output, and the shift between two neighbouring outputs.

    Pools become all-ones depthwise convs of the same geometry (a max-pool's gradient would pick one
    arg-max of a constant input); weights are 1, so no contribution cancels.
    """
    convs = []
    for s in layers:
        c_in = s.in_channels
        groups, c_out = (s.groups, s.out_channels) if s.kind == "conv" else (c_in, c_in)
        conv = nn.Conv1d(c_in, c_out, s.kernel_size, s.stride, s.padding, s.dilation, groups, bias=False)
        nn.init.constant_(conv.weight, 1.0)
        convs.append(conv)
    net = nn.Sequential(*convs).double()
    geo = stack_geometry(layers, 1 << 12, ndim=1)
    length = 2 * geo.receptive_field + 4 * geo.jump + 64
    x = torch.ones(1, layers[0].in_channels, length, dtype=torch.float64, requires_grad=True)
    y = net(x)
    mid = y.shape[-1] // 2
    spans = []
    for i in (mid, mid + 1):
        (g,) = torch.autograd.grad(y[0, :, i].sum(), x, retain_graph=True)
        nz = (g[0].abs().sum(0) > 0).nonzero().squeeze(1)
        spans.append((int(nz.min()), int(nz.max())))
    return spans[0][1] - spans[0][0] + 1, spans[1][0] - spans[0][0]


@experiment(
    chapter="C",
    title="Convolution arithmetic: output size, parameters, receptive field",
    claim="out = ⌊(W−K+2P)/S⌋+1; params K²·C_in·C_out+C_out; receptive field 1+L(K−1) for a "
    "stride-1 stack; pooling alike",
)
def conv_arithmetic(ctx: Context):
    """`deltalab run conv-arithmetic` — claim conv-arithmetic. Expected: the calculator agrees with torch
    (output shapes, parameter counts, receptive fields and jumps read off autograd) on all 1,000 random
    stacks of conv / max-pool / avg-pool layers (kernel, stride, padding, dilation, groups, ceil mode).
    Quick profile: ~3 s."""
    n = ctx.pick(quick=1000, full=5000)
    rng = random.Random(ctx.seed)
    bad_size = bad_params = bad_rf = rf_checked = 0
    for _ in range(n):
        layers, size = _random_stack(rng)
        geo = stack_geometry(layers, size)
        h = size + rng.randint(0, 5)
        net = nn.Sequential(*[_torch_layer(s, 2) for s in layers])
        with torch.no_grad():
            y = net(torch.zeros(1, layers[0].in_channels, size, h))
        geo_h = stack_geometry(layers, h)
        bad_size += tuple(y.shape[-2:]) != (geo.sizes[-1], geo_h.sizes[-1])
        bad_params += sum(p.numel() for p in net.parameters()) != geo.params
        rf_checked += 1
        bad_rf += _measured_rf(layers) != (geo.receptive_field, geo.jump)
    depths = list(range(1, 11))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for k in (3, 5):
        ax.plot(
            depths, [stride1_receptive_field(d, k) for d in depths], "o-", label=f"stride 1, K={k}: 1+L(K−1)"
        )
    strided = [LayerSpec("conv", 3, 2 if i % 2 else 1, 1) for i in range(max(depths))]
    rf2 = stack_geometry(strided, 4096).receptive_fields
    ax.plot(depths, rf2, "s-", label="K=3, stride 2 every other layer")
    ax.set(
        xlabel="layers L", ylabel="receptive field (pixels)", yscale="log", title="Receptive field vs depth"
    )
    ax.legend(fontsize=8)
    ctx.savefig(fig)
    metrics = {
        "configs": n,
        "size_mismatches": bad_size,
        "param_mismatches": bad_params,
        "rf_checked": rf_checked,
        "rf_mismatches": bad_rf,
    }
    return ctx.result(
        metrics,
        [
            Bar("size_mismatches", "==", 0),
            Bar("param_mismatches", "==", 0),
            Bar("rf_mismatches", "==", 0),
            Bar("rf_checked", "==", n),
        ],
        bar=f"the calculator agrees with torch on {n} random configurations (shape, parameters, receptive field)",
        config={"configs": n, "layers_per_stack": [1, 4], "input_sizes": [8, 48]},
    )


@experiment(
    chapter="C",
    title="Backpropagation through convolution and pooling",
    claim="dW is the cross-correlation of the input with dY; max-pool routes the gradient to the "
    "arg-max only, average-pool spreads it; Var(dW)=m·σ_x²·σ_g²",
)
def conv_gradients(ctx: Context):
    """`deltalab run conv-gradients` — claim conv-gradients. Expected: the hand-written gradients (dW as
    input ⋆ dY, dX as dY ∗ flipped W, max-pool routing, avg-pool spreading) equal autograd in float64
    (max error < 1e-10), and the variance of dW over random x, g is m·σ_x²·σ_g² within 5% (measured
    ~1%). Quick profile: ~2 s."""
    g = torch.Generator().manual_seed(ctx.seed)
    x = torch.randn(4, 3, 12, 12, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, w)
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    gx, gw = torch.autograd.grad(y, (x, w), dy)
    err_w = (conv2d_weight_grad(x.detach(), dy) - gw).abs().max().item()
    err_x = (conv2d_input_grad(dy, w.detach()) - gx).abs().max().item()

    xp = torch.randn(4, 3, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    dp = torch.randn(4, 3, 4, 4, generator=g, dtype=torch.float64)
    (g_max,) = torch.autograd.grad(F.max_pool2d(xp, 2), xp, dp)
    (g_avg,) = torch.autograd.grad(F.avg_pool2d(xp, 2), xp, dp)
    err_max = (maxpool2d_grad(xp.detach(), dp, 2) - g_max).abs().max().item()
    err_avg = (avgpool2d_grad(dp, 2) - g_avg).abs().max().item()
    nonzero_per_window = (g_max != 0).view(4, 3, 4, 2, 4, 2).sum((3, 5)).float().mean().item()

    sx, sg = 0.7, 1.3
    reps = ctx.pick(quick=200, full=1000)
    b, c_in, c_out, k, size = 8, 4, 4, 3, 10
    samples = []
    for _ in range(reps):
        xs = sx * torch.randn(b, c_in, size, size, generator=g)
        gs = sg * torch.randn(b, c_out, size - k + 1, size - k + 1, generator=g)
        samples.append(conv2d_weight_grad(xs, gs).flatten())
    dw = torch.cat(samples)
    var_pred = weight_grad_variance(b, size - k + 1, size - k + 1, sx**2, sg**2)
    var_meas = dw.var().item()
    rel = abs(var_meas / var_pred - 1)

    fig, axes = plt.subplots(1, 3, figsize=(10, 3))
    axes[0].imshow(xp.detach()[0, 0].numpy(), cmap="gray")
    axes[0].set_title("input (4 pools of 2×2 per row)")
    axes[1].imshow(g_max[0, 0].numpy(), cmap="bwr")
    axes[1].set_title("max-pool grad: arg-max only")
    axes[2].imshow(g_avg[0, 0].numpy(), cmap="bwr")
    axes[2].set_title("avg-pool grad: spread /4")
    for a in axes:
        a.set_xticks([])
        a.set_yticks([])
    ctx.savefig(fig)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.hist(dw.numpy(), bins=80, density=True, alpha=0.7, label="dW entries")
    t = torch.linspace(float(dw.min()), float(dw.max()), 200)
    ax.plot(
        t,
        torch.exp(-(t**2) / (2 * var_pred)) / (2 * torch.pi * var_pred) ** 0.5,
        "k",
        label="N(0, m·σx²·σg²)",
    )
    ax.set(title=f"Var(dW): measured {var_meas:.2f}, predicted {var_pred:.2f}", xlabel="dW")
    ax.legend(fontsize=8)
    ctx.savefig(fig, suffix="variance")
    metrics = {
        "err_weight_grad": err_w,
        "err_input_grad": err_x,
        "err_maxpool_grad": err_max,
        "err_avgpool_grad": err_avg,
        "maxpool_nonzero_per_window": nonzero_per_window,
        "var_dw_measured": var_meas,
        "var_dw_predicted": var_pred,
        "var_rel_error": rel,
    }
    tol = 1e-10
    return ctx.result(
        metrics,
        [
            Bar("err_weight_grad", "<", tol),
            Bar("err_input_grad", "<", tol),
            Bar("err_maxpool_grad", "<", tol),
            Bar("err_avgpool_grad", "<", tol),
            Bar("maxpool_nonzero_per_window", "==", 1.0),
            Bar("var_rel_error", "<", 0.05),
        ],
        bar="hand-written gradients equal autograd (float64, < 1e-10); Var(dW) within 5% of m·σx²·σg²",
        config={
            "dtype": "float64",
            "var_reps": reps,
            "sigma_x": sx,
            "sigma_g": sg,
            "m": b * (size - k + 1) ** 2,
        },
    )
