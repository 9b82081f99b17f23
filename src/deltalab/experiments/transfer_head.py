"""Chapter C: transfer learning with a frozen feature extractor and a new softmax head — claim
transfer-head (Yosinski et al., "How transferable are features in deep neural networks?",
arXiv:1411.1792)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from deltalab.data import load_mnist1d
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.models.mnist1d_models import Conv1dNet
from deltalab.optim.stacked import adam_step_stacked_
from deltalab.train.steps import fit_steps

PRETRAIN_CLASSES = (0, 1, 2, 3, 4, 5, 6)
NEW_CLASSES = (7, 8, 9)
# One grid for every arm (frozen features + head, the CNN from scratch, the raw-signal head):
# AdamW rate x decoupled weight decay x steps. Wide enough that no arm's pick sits at its edge.
RATES = (1e-4, 1e-3, 1e-2, 1e-1)
DECAYS = (1e-4, 1e-2, 1e-1)
STEPS = (30, 100, 300)
GRID = [(lr, wd, n) for lr in RATES for wd in DECAYS for n in STEPS]
# Pretraining augmentation: a random shift and Gaussian noise, two of the nuisances MNIST-1D's
# generator itself applies (translation, iid/correlated noise), so they only widen the source data.
SHIFT, NOISE = 4, 0.1


def few_labels(
    y: torch.Tensor, classes: tuple[int, ...], per_class: int, seed: int, pool: torch.Tensor | None = None
) -> torch.Tensor:
    """Indices of ``per_class`` random examples of each class in ``classes`` (among ``pool``, a bool
    mask over ``y``, when given)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in classes:
        idx = ((y == c) & (pool if pool is not None else True)).nonzero().squeeze(1)
        out.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(out)


def pretrain(x: torch.Tensor, y: torch.Tensor, num_classes: int, steps: int, seed: int) -> Conv1dNet:
    """The notebook's CNN and recipe (Adam 1e-2, batch 100) with a cosine decay to 0 and a random
    shift (+-SHIFT, circular) and noise (std NOISE) per minibatch; the net ends in eval mode."""
    torch.manual_seed(seed)
    net = Conv1dNet(x.shape[-1], num_classes)
    # foreach: the multi-tensor kernel, bit-identical updates, less per-step overhead
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    g = torch.Generator().manual_seed(seed)

    def loss_fn() -> torch.Tensor:
        i = torch.randint(0, len(x), (100,), generator=g)
        shift = int(torch.randint(-SHIFT, SHIFT + 1, (1,), generator=g))
        xb = torch.roll(x[i], shift, 1) + NOISE * torch.randn(len(i), x.shape[-1], generator=g)
        return F.cross_entropy(net(xb), y[i])

    fit_steps(loss_fn, opt, steps, scheduler=sched)
    return net.eval()


def train_stacked(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: torch.Tensor,
    weight_decay: torch.Tensor,
    score_at: dict[int, Callable[[Callable[[torch.Tensor], torch.Tensor]], torch.Tensor]],
) -> dict[int, torch.Tensor]:
    """Full-batch AdamW on M same-shaped models at once, model m on its own data ``x[m]``, ``y[m]``
    with its own ``lr[m]`` and ``weight_decay[m]`` (torch.func.vmap over stacked parameters and
    :func:`deltalab.optim.stacked.adam_step_stacked_`: one batched step instead of M small ones,
    the same trajectories as M separate torch AdamW runs).
    ``score_at`` {step: f(forward)}: after that many steps f gets ``forward(x)`` (B, ...) ->
    (M, B, out) and returns one score per model; the models are left untouched (their state is
    copied). Models must have no buffers and behave the same in train and eval mode; a model class
    with a ``forward_stacked(params, x)`` (M, B, ...) -> (M, B, out) is run by it instead of vmap."""
    params, buffers = stack_module_state(list(models))
    if buffers:
        raise ValueError("train_stacked supports models without buffers")
    params = {k: v.detach().clone() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    if hasattr(base, "forward_stacked"):
        run = base.forward_stacked
        run_shared = lambda p, xb: run(p, xb.expand(len(x), *xb.shape))  # noqa: E731
    else:
        call = lambda p, xb: functional_call(base, p, (xb,))  # noqa: E731
        run, run_shared = vmap(call), vmap(call, in_dims=(0, None))
    state: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    scores = {}
    for t in range(1, max(score_at) + 1):
        for p in params.values():
            p.requires_grad_(True)
        logits = run(params, x)  # (M, N, out)
        # Summed over models, each its own mean: model m's gradient is that of its own loss.
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum") / y.shape[1]
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))
        for p in params.values():
            p.requires_grad_(False)
        adam_step_stacked_(params, grads, state, lr, t, weight_decay=weight_decay)
        if t in score_at:
            with torch.no_grad():
                scores[t] = score_at[t](lambda xb: run_shared(params, xb))
    return scores


@torch.no_grad()
def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(-1) == y).float().mean().item()


class FrozenFeatures(nn.Module):
    """The pretrained conv stack, frozen, (B, 1, T) -> (B, F): the last conv layer's ReLU output
    flattened (position-specific) and, for every conv layer, its ReLU output's mean and max over
    positions (global pooling: MNIST-1D digits sit at random offsets, and a head fitted on 30
    examples cannot learn that invariance itself)."""

    def __init__(self, net: Conv1dNet) -> None:
        super().__init__()
        self.features = net.features.eval()
        for p in self.features.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, outs = x.reshape(len(x), 1, -1), []
        for mod in self.features:
            h = mod(h)
            if isinstance(mod, nn.ReLU):
                outs.append(h)
        pooled = [o.mean(2) for o in outs] + [o.amax(2) for o in outs]
        return torch.cat([outs[-1].flatten(1), *pooled], 1)


def _fit_grid(
    make: Callable[[int], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    evals: tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    seeds: list[int],
) -> dict[tuple[float, float, int], list[tuple[float, float]]]:
    """Every (rate, decay) of the grid on every draw (x: (D, N, ...)) in one stacked run, scored at
    every step budget on ``evals`` = (validation, test) sets: {(lr, wd, steps): [(val, test) per draw]}."""
    pairs = [(lr, wd) for lr in RATES for wd in DECAYS]
    models = []
    for _ in pairs:
        for s in seeds:
            torch.manual_seed(s)
            models.append(make(s))
    n = len(seeds)
    lr = torch.tensor([p[0] for p in pairs]).repeat_interleave(n)
    wd = torch.tensor([p[1] for p in pairs]).repeat_interleave(n)

    def score(fwd: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:  # (M, 2): val, test
        return torch.stack([(fwd(xe).argmax(-1) == ye).float().mean(1) for xe, ye in evals], 1)

    acc = train_stacked(
        models,
        x.repeat(len(pairs), *[1] * (x.dim() - 1)),
        y.repeat(len(pairs), 1),
        lr,
        wd,
        dict.fromkeys(STEPS, score),
    )
    return {
        (lr_, wd_, st): [tuple(a) for a in acc[st][j * n : (j + 1) * n].tolist()]
        for st in STEPS
        for j, (lr_, wd_) in enumerate(pairs)
    }


@experiment(
    chapter="C",
    title="Frozen pretrained features + a new softmax head learn new classes from few labels",
    claim="a pretrained network's features, frozen, with a new softmax head learn a new task from few labels",
)
def transfer_head(ctx: Context):
    """`deltalab run transfer-head` — claim transfer-head. MNIST-1D (8x8 digits leave no headroom:
    ~93% from scratch with 10 labels per class). The notebook's CNN (three strided Conv1d, 25
    channels) is pretrained on classes 0-6 (cosine-decayed Adam, shift and noise augmentation);
    frozen, its features (last conv layer flattened + every conv layer's mean and max over
    positions) feed a new softmax head trained on 10 labels per class of the held-out classes 7-9;
    the same CNN is trained from scratch on those 30 labels, and a softmax head on the raw signal
    is the no-representation reference. Every arm takes (rate, weight decay, steps) from one grid
    (AdamW, full batch) by mean accuracy over label draws on a validation half of the new classes'
    training examples (the labels are drawn from the other half; the test set only reports). Expected (CLAIMS.md): transfer >= scratch + 10 points. Measured (quick, 10 draws,
    seeds 0-7): transfer 74.0/71.5/71.8/74.5/72.5/74.1/74.7/72.8%, scratch
    54.6/55.7/54.0/53.6/54.7/55.8/54.3/55.3%, gap 19.4/15.8/17.8/20.8/17.8/18.2/20.4/17.5 points
    (raw-signal head 52.7-54.1%). Choosing on the test set instead (the protocol before this one) gave
    gaps 13.6-18.0 with scratch at 56.7-58.3%: test-set selection flattered every arm, the baseline most. Before (conv layers 2-3 flattened only, no pooling, no augmentation,
    rate x steps grid, weight decay fixed): gap 12.1/12.3/12.1/14.5/11.1/8.7/8.9/11.8, failing at
    seeds 5 and 6; the global pooling of the frozen features gave most of the gain (+6-8 points),
    the augmented cosine pretraining +2-3. A 1000-step budget was tried and moved no arm (the
    scratch CNN's accuracy is flat along lr x steps at ~58%). The arms train as stacked models
    (vmap; the CNN through Conv1dNet.forward_stacked, im2col + batched matmuls: ~20% less CPU per
    step than vmap's grouped convolutions, the same picks and gaps at seeds 0-7), so the wider grid
    costs no more than the old one. Quick profile: ~22 s single-thread CPU (user time)."""
    d = load_mnist1d()
    per_class, draws = 10, ctx.pick(quick=10, full=30)
    old_tr = torch.isin(d.y_train, torch.tensor(PRETRAIN_CLASSES))
    new_te = torch.isin(d.y_test, torch.tensor(NEW_CLASSES))
    shift = min(NEW_CLASSES)
    x_te, y_te = d.x_test[new_te], d.y_test[new_te] - shift
    # The new classes' training examples, split once: the label draws come from one half, every
    # arm's (rate, decay, steps) is chosen on the other half; the test set only reports.
    new_tr = torch.isin(d.y_train, torch.tensor(NEW_CLASSES)).nonzero().squeeze(1)
    val_idx = new_tr[torch.randperm(len(new_tr), generator=torch.Generator().manual_seed(ctx.seed))][::2]
    label_pool = torch.isin(d.y_train, torch.tensor(NEW_CLASSES))
    label_pool[val_idx] = False
    x_val, y_val = d.x_train[val_idx], d.y_train[val_idx] - shift

    pre = pretrain(
        d.x_train[old_tr], d.y_train[old_tr], len(PRETRAIN_CLASSES), ctx.pick(quick=1500, full=6000), ctx.seed
    )
    pre_acc = _acc(pre, d.x_test[~new_te], d.y_test[~new_te])
    features = FrozenFeatures(pre)
    f_te, f_val = features(x_te), features(x_val)

    seeds = [ctx.seed + k for k in range(draws)]
    idx = torch.stack(
        [few_labels(d.y_train, NEW_CLASSES, per_class, s, label_pool) for s in seeds]
    )  # (D, 30)
    x_few, y_few = d.x_train[idx], d.y_train[idx] - shift  # (D, 30, T), (D, 30)
    f_few = features(x_few.flatten(0, 1)).unflatten(0, idx.shape)
    k = len(NEW_CLASSES)
    sets = ((x_val, y_val), (x_te, y_te))
    fits = {
        "t": _fit_grid(
            lambda s: nn.Linear(f_te.shape[1], k), f_few, y_few, ((f_val, y_val), (f_te, y_te)), seeds
        ),
        "s": _fit_grid(lambda s: Conv1dNet(x_te.shape[1], k), x_few, y_few, sets, seeds),
        "r": _fit_grid(lambda s: nn.Linear(x_te.shape[1], k), x_few, y_few, sets, seeds),
    }
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    best = {name: max(GRID, key=lambda c, r=r: mean([v for v, _ in r[c]])) for name, r in fits.items()}
    transfer, scratch, raw = ([t for _, t in fits[a][best[a]]] for a in "tsr")
    t_mean, s_mean, r_mean = mean(transfer), mean(scratch), mean(raw)
    ctx.log(
        f"frozen+head {t_mean:.3f} {best['t']}; scratch {s_mean:.3f} {best['s']}; raw {r_mean:.3f} {best['r']}"
    )

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    runs = [transfer, scratch, raw]
    ax.bar(
        ["frozen features\n+ new head", "same CNN\nfrom scratch", "raw signal\n+ softmax head"],
        [100 * mean(r) for r in runs],
        yerr=[100 * (max(r) - min(r)) / 2 for r in runs],
        capsize=4,
    )
    ax.set(
        ylabel=f"test accuracy on classes {NEW_CLASSES[0]}-{NEW_CLASSES[-1]} (%)",
        ylim=(0, 100),
        title=f"MNIST-1D, {per_class} labels per class, mean of {draws} draws (bars: range/2)",
    )
    ctx.savefig(fig)
    metrics = {
        "pretrain_acc_old_classes": pre_acc,
        "transfer_acc": t_mean,
        "scratch_acc": s_mean,
        "raw_signal_head_acc": r_mean,
        "transfer_minus_scratch_points": 100 * (t_mean - s_mean),
        "transfer_acc_min": min(transfer),
        "scratch_acc_min": min(scratch),
    }
    return ctx.result(
        metrics,
        [Bar("transfer_minus_scratch_points", ">=", 10.0)],
        bar="10 labels per held-out class: frozen features + new head >= 10 points above the same net from scratch",
        config={
            "data": "mnist1d",
            "pretrain_classes": PRETRAIN_CLASSES,
            "new_classes": NEW_CLASSES,
            "per_class": per_class,
            "draws": draws,
            "model": "Conv1dNet (25 channels)",
            "pretraining": f"Adam 1e-2 cosine, batch 100, shift +-{SHIFT}, noise {NOISE}",
            "features": "conv layer 3 flattened + mean and max over positions of conv layers 1-3, frozen",
            "grid": {"lr": RATES, "weight_decay": DECAYS, "steps": STEPS},
            "selection": f"mean accuracy over the draws on {len(val_idx)} held-out training examples of the new classes",
            "best_transfer": best["t"],
            "best_scratch": best["s"],
            "best_raw": best["r"],
        },
    )
