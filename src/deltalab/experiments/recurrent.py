"""Chapter R, recurrent nets: elman-jordan, rnn-gradients, lstm-memory.

Each experiment's docstring gives the command, the bar and the quick-profile cost (single-thread CPU).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data.seq import adding
from deltalab.data.seq_extra import flip_flop
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.nn.lstm import LSTM, set_forget_bias
from deltalab.nn.recurrent import ElmanRNN, JordanRNN, RecurrentHead, TimeDelayNet
from deltalab.optim.stacked import adam_step_stacked_
from deltalab.train.bptt import bptt_step
from deltalab.train.steps import fit_steps


def _per_step_ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


@experiment(
    chapter="R",
    title="Elman and Jordan nets learn a latch that a fixed-window net cannot",
    claim="Elman (hidden feeds back) and Jordan (output feeds back) nets learn sequences by BPTT; a "
    "time-delay (fixed window) net is the map-time-into-space baseline",
)
def elman_jordan(ctx: Context):
    """`deltalab run elman-jordan` — claim elman-jordan. Task: the flip-flop latch (commands arrive with
    p = 0.1, so the last one is usually older than the window of 5). Expected: Elman and Jordan ≥ 95%
    per-step accuracy on held-out sequences twice the training length (measured 100%); the window net
    ~74%. Truncated BPTT (k = 5) vs full: accuracy and CPU time reported. Quick profile: ~15 s.
    """
    steps, T, k, window = ctx.pick(quick=250, full=1500), 50, 5, 5
    g = torch.Generator().manual_seed(ctx.seed)
    test = flip_flop(512, 2 * T, generator=torch.Generator().manual_seed(ctx.seed + 1))
    builds = {
        "elman": (lambda: ElmanRNN(1, 16, 2), None),
        "jordan": (lambda: JordanRNN(1, 16, 2), None),
        "window": (lambda: TimeDelayNet(1, window, 32, 2), None),
        "elman_tbptt": (lambda: ElmanRNN(1, 16, 2), k),
    }
    acc, secs, curves = {}, {}, {}
    for name, (build, trunc) in builds.items():
        torch.manual_seed(ctx.seed)
        model = build().to(ctx.device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        t0, curve = time.process_time(), []
        for _ in range(steps):
            b = flip_flop(32, T, generator=g)
            curve.append(
                bptt_step(model, b.x.to(ctx.device), b.y.to(ctx.device), _per_step_ce, opt, trunc, 1.0)
            )
        secs[name] = time.process_time() - t0
        with torch.no_grad():
            pred = model(test.x.to(ctx.device))[0].argmax(-1).cpu()
        acc[name] = (pred == test.y).float().mean().item()
        curves[name] = curve
        ctx.series(f"loss_{name}", curve)
        ctx.log(f"{name}: accuracy {acc[name]:.3f}, {secs[name]:.1f} s")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, c in curves.items():
        ax.plot(np.convolve(c, np.ones(10) / 10, mode="valid"), label=f"{name} (test acc {acc[name]:.2f})")
    ax.set(xlabel="step", ylabel="train loss (smoothed)", yscale="log", title="flip-flop latch")
    ax.legend()
    ctx.savefig(fig)
    metrics = {
        "acc_elman": acc["elman"],
        "acc_jordan": acc["jordan"],
        "acc_window": acc["window"],
        "acc_elman_tbptt_k5": acc["elman_tbptt"],
        "margin_elman_over_window": acc["elman"] - acc["window"],
        "margin_jordan_over_window": acc["jordan"] - acc["window"],
        "cpu_s_full_bptt": secs["elman"],
        "cpu_s_tbptt_k5": secs["elman_tbptt"],
    }
    bars = [
        Bar("acc_elman", ">=", 0.95),
        Bar("acc_jordan", ">=", 0.95),
        Bar("margin_elman_over_window", ">", 0.0),
        Bar("margin_jordan_over_window", ">", 0.0),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="Elman and Jordan >= 95% per-step accuracy on the latch and above the window net",
        config={
            "steps": steps,
            "train_length": T,
            "test_length": 2 * T,
            "window": window,
            "tbptt_k": k,
            "lr": 1e-2,
        },
    )


def _input_jacobian_norms(rnn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """‖∂h_T/∂x_t‖_F for every t, averaged over the batch: x (B, T, I) -> (T,)."""
    x = x.clone().requires_grad_(True)
    h_T = rnn(x)[0][:, -1]  # (B, H)
    sq = torch.zeros(x.shape[0], x.shape[1])
    for i in range(h_T.shape[1]):
        (g,) = torch.autograd.grad(h_T[:, i].sum(), x, retain_graph=True)  # (B, T, I)
        sq += g.pow(2).sum(-1)
    return sq.sqrt().mean(0)


@experiment(
    chapter="R",
    title="Gradients through time decay as ρ(W)^lag; an LSTM's forget gate keeps them",
    claim="in a linear RNN with normal W, ‖∂h_T/∂h_t‖ scales as ρ(W)^(T−t); an LSTM with forget-gate "
    "bias ≥ 1 keeps it far longer",
)
def rnn_gradients(ctx: Context):
    """`deltalab run rnn-gradients` — claim rnn-gradients. Expected: the fitted per-step decay of
    ‖∂h_T/∂h_t‖ (spectral norm, by backprop) within 5% of ρ for normal W (measured exact to 1e-6);
    ‖∂h_T/∂x_{T−50}‖ of an LSTM with forget bias 1 ≥ 100× a tanh RNN's (same width, torch init;
    measured ~9e8×). Quick profile: ~5 s.
    """
    H, T, I, lag = 32, 80, 8, 50
    g = torch.Generator().manual_seed(ctx.seed)
    rho = 0.9
    S = torch.randn(H, H, generator=g, dtype=torch.float64)
    W = (S + S.T) / 2  # symmetric, hence normal
    W = W / torch.linalg.eigvalsh(W).abs().max() * rho
    h = torch.randn(H, dtype=torch.float64, requires_grad=True)
    hs = [h]
    for _ in range(T):
        hs.append(W @ hs[-1])  # linear RNN with no input: h_{t+1} = W h_t
    # rows of ∂h_T/∂h_t for every t < T by backprop of the H basis vectors
    jac = torch.stack(
        [torch.stack(torch.autograd.grad(hs[-1][i], hs[:T], retain_graph=True)) for i in range(H)]
    )
    norms = torch.linalg.matrix_norm(jac.permute(1, 0, 2), ord=2).detach().numpy()  # (T,), spectral norms
    lags = T - np.arange(T)  # lag of h_t, t = 0..T-1
    log_n = np.log(norms)
    slope = np.polyfit(lags, log_n, 1)[0]
    rho_fit = math.exp(slope)

    torch.manual_seed(ctx.seed)
    x = torch.randn(16, T, I, generator=g)
    vanilla = nn.RNN(I, H, batch_first=True)
    curves = {"tanh RNN": _input_jacobian_norms(vanilla, x)}
    for fb in (0.0, 1.0, 3.0):
        torch.manual_seed(ctx.seed)
        curves[f"LSTM, forget bias {fb:g}"] = _input_jacobian_norms(
            set_forget_bias(nn.LSTM(I, H, batch_first=True), fb), x
        )
    g_rnn = curves["tanh RNN"][T - 1 - lag].item()
    g_lstm = curves["LSTM, forget bias 1"][T - 1 - lag].item()

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].semilogy(lags, norms, "o", ms=3, label="measured ‖∂h_T/∂h_t‖")
    axes[0].semilogy(lags, rho ** lags.astype(float), label=f"ρ^lag, ρ = {rho}")
    axes[0].set(xlabel="lag T − t", title=f"linear RNN, normal W (fit ρ = {rho_fit:.4f})")
    axes[0].legend()
    for name, c in curves.items():
        axes[1].semilogy(np.arange(T)[::-1], c.numpy(), label=name)
    axes[1].axvline(lag, color="gray", ls=":")
    axes[1].set(xlabel="lag T − t", ylabel="‖∂h_T/∂x_t‖", title="at initialization")
    axes[1].legend(fontsize=8)
    ctx.savefig(fig)
    ctx.series("lstm_fb1_grad_vs_lag", curves["LSTM, forget bias 1"].flip(0).tolist())
    ctx.series("rnn_grad_vs_lag", curves["tanh RNN"].flip(0).tolist())
    metrics = {
        "rho": rho,
        "rho_fit": rho_fit,
        "rho_rel_error": abs(rho_fit - rho) / rho,
        "grad_lag50_rnn": g_rnn,
        "grad_lag50_lstm": g_lstm,
        "grad_ratio_lstm_over_rnn_lag50": g_lstm / g_rnn,
    }
    bars = [Bar("rho_rel_error", "<", 0.05), Bar("grad_ratio_lstm_over_rnn_lag50", ">=", 100.0)]
    return ctx.result(
        metrics,
        bars,
        bar="fitted decay within 5% of ρ; LSTM (forget bias 1) gradient at lag 50 >= 100x the tanh RNN's",
        config={"hidden_size": H, "T": T, "input": I, "lag": lag, "rho": rho},
    )


class _LastStep(RecurrentHead):
    """A recurrent layer read at its last step by one output: x (B, T, 2) -> (B,)."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__(rnn, 1, last_step=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(-1)


def train_adding(
    model: nn.Module,
    steps: int,
    T: int,
    lr: float,
    seed: int,
    device: str,
    val: tuple[torch.Tensor, torch.Tensor],
) -> tuple[float, list[float]]:
    """Adam on the adding problem (batch 64, clip 1); returns (val MSE, val MSE every 50 steps)."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xv, yv = (v.to(device) for v in val)
    curve = []

    def loss_fn() -> torch.Tensor:
        b = adding(64, T, generator=g)
        return F.mse_loss(model(b.x.to(device)), b.y.to(device))

    def validate(step: int, loss: torch.Tensor) -> None:
        if step % 50 == 0:
            with torch.no_grad():
                curve.append(F.mse_loss(model(xv), yv).item())

    fit_steps(loss_fn, opt, steps, clip=1.0, after_step=validate)
    return curve[-1], curve


def _rnn_grid_params(hidden_size: int, n: int, seed: int, device: str = "cpu") -> dict[str, torch.Tensor]:
    """``n`` copies of the seeded ``_LastStep(nn.RNN(2, hidden_size))``, each parameter stacked (n, ...).

    Every copy starts from the init ``train_adding``'s model gets at this seed (one per grid rate).
    """
    torch.manual_seed(seed)
    model = _LastStep(nn.RNN(2, hidden_size, batch_first=True))
    return {
        k: v.detach().to(device).expand(n, *v.shape).clone().requires_grad_()
        for k, v in model.named_parameters()
    }


def _rnn_grid_forward(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The tanh RNN of ``nn.RNN`` read at its last step, for G stacked copies: x (B, T, 2) -> (G, B).

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), out = w_head · h_T + b_head, one batched
    matmul per step for all copies (the copies' own nn.RNN calls cost G times the op dispatch).
    """
    w_hh = p["rnn.weight_hh_l0"]  # (G, H, H)
    bias = (p["rnn.bias_ih_l0"] + p["rnn.bias_hh_l0"])[:, None]  # (G, 1, H)
    # input projections of every step at once; unbind (not indexing) keeps the backward one stack
    xp = (torch.einsum("bti,ghi->tgbh", x, p["rnn.weight_ih_l0"]) + bias).unbind(0)  # T × (G, B, H)
    h = x.new_zeros(w_hh.shape[0], x.shape[0], w_hh.shape[1])  # (G, B, H)
    w_hh_t = w_hh.mT
    for xt in xp:
        h = torch.tanh(torch.baddbmm(xt, h, w_hh_t))
    return torch.baddbmm(p["head.bias"][:, None], h, p["head.weight"].mT).squeeze(-1)  # (G, B)


def train_adding_rnn_grid(
    hidden_size: int,
    lrs: list[float],
    steps: int,
    T: int,
    seed: int,
    val: tuple[torch.Tensor, torch.Tensor],
    device: str = "cpu",
) -> tuple[dict[str, torch.Tensor], list[list[float]]]:
    """``train_adding`` of ``_LastStep(nn.RNN(2, hidden_size))`` at every rate of ``lrs`` in one stacked run.

    Same init, minibatches, clipping and Adam as one ``train_adding`` call per rate (tested equal to
    float rounding). Returns the stacked parameters and each rate's val MSE every 50 steps.
    """
    p = _rnn_grid_params(hidden_size, len(lrs), seed, device)
    lr_t, state = torch.tensor(lrs, device=device), {}
    xv, yv = (v.to(device) for v in val)
    g = torch.Generator().manual_seed(seed)
    curves: list[list[float]] = [[] for _ in lrs]
    # a hand-written loop: the stacked copies step with one Adam state per rate (adam_step_stacked_),
    # not a torch optimizer
    for s in range(steps):
        b = adding(64, T, generator=g)
        x, y = b.x.to(device), b.y.to(device)
        loss = (_rnn_grid_forward(p, x) - y).pow(2).mean(1).sum()  # Σ_g MSE_g: copy g's own gradient
        for v in p.values():
            v.grad = None
        loss.backward()
        adam_step_stacked_(p, {k: v.grad for k, v in p.items()}, state, lr_t, s + 1, max_norm=1.0)
        if (s + 1) % 50 == 0:
            with torch.no_grad():
                for c, v in zip(curves, (_rnn_grid_forward(p, xv) - yv).pow(2).mean(1).tolist()):
                    c.append(v)
    return p, curves


def _best(vals: list[float]) -> int:
    """Index of the smallest value, a diverged (NaN) run counting as +inf."""
    return min(range(len(vals)), key=lambda i: vals[i] if math.isfinite(vals[i]) else math.inf)


@experiment(
    chapter="R",
    title="An LSTM solves the adding problem at T=50; a vanilla RNN does not",
    claim="an LSTM solves long-delay problems a vanilla RNN cannot; the hand-written cell equals torch's LSTM",
)
def lstm_memory(ctx: Context):
    """`deltalab run lstm-memory` — claim lstm-memory. Adding problem T = 50 (answering the mean scores
    0.167). Expected: LSTM test MSE < 0.05 and ≤ 1/3 of the tanh RNN's at equal steps (500 quick),
    each arm with its best validation rate from one shared grid 3e-3..3e-1 (measured at seeds 0-7:
    LSTM 0.0005-0.0018, RNN 0.157-0.174, ratio 0.003-0.011). Which rate lets the LSTM leave the
    mean-guessing plateau within 500 steps varies by seed (1e-1 at seed 0, 3e-2 at seed 1; 3e-1 fails),
    hence the five-point grid; the tanh RNN stays at the plateau at every rate (3e-1 and 1e-1 diverge).
    The RNN's five rates train as one stacked net (:func:`train_adding_rnn_grid`: the same inits,
    minibatches, per-copy clipping and Adam as five ``train_adding`` calls, tested equal in float64),
    which costs ~0.4× the five nn.RNN runs. The hand-written LSTM equals nn.LSTM to < 1e-6 (measured
    6e-8 to 9e-8). Quick profile: ~12 s on an idle core (17 s of CPU under a load of ~10; was 25 s).
    """
    T, H = 50, 32
    steps = ctx.pick(quick=500, full=2000)
    # one shared grid for both arms, wide enough that neither pick sits at an edge: 3e-1 already fails
    # for the LSTM, and the tanh RNN is at the mean-guessing MSE at every rate
    grid = [3e-3, 1e-2, 3e-2, 1e-1, 3e-1]
    gv = torch.Generator().manual_seed(ctx.seed + 100)
    val, test = adding(500, T, generator=gv), adding(1000, T, generator=gv)
    best: dict[str, tuple[float, list[float]]] = {}
    mse = {}
    lstm_runs = []
    for lr in grid:
        torch.manual_seed(ctx.seed)
        model = _LastStep(nn.LSTM(2, H, batch_first=True)).to(ctx.device)
        v, curve = train_adding(model, steps, T, lr, ctx.seed, ctx.device, (val.x, val.y))
        ctx.log(f"lstm lr={lr:g}: val MSE {v:.4f}")
        lstm_runs.append((v, model, curve))
    i = _best([r[0] for r in lstm_runs])
    best["lstm"] = (grid[i], lstm_runs[i][2])
    with torch.no_grad():
        mse["lstm"] = F.mse_loss(lstm_runs[i][1](test.x.to(ctx.device)), test.y.to(ctx.device)).item()
    # the tanh RNN's five rates train as one stacked net (same inits, batches, clipping and Adam as
    # five train_adding calls; tests/test_lstm_memory.py): nn.RNN's per-step dispatch dominated its cost
    p, curves = train_adding_rnn_grid(H, grid, steps, T, ctx.seed, (val.x, val.y), ctx.device)
    for lr, c in zip(grid, curves):
        ctx.log(f"rnn lr={lr:g}: val MSE {c[-1]:.4f}")
    i = _best([c[-1] for c in curves])
    best["rnn"] = (grid[i], curves[i])
    with torch.no_grad():
        mse["rnn"] = F.mse_loss(_rnn_grid_forward(p, test.x.to(ctx.device))[i], test.y.to(ctx.device)).item()
    for name, (_lr, curve) in best.items():
        ctx.series(f"val_mse_{name}", curve)

    torch.manual_seed(ctx.seed)
    ref = nn.LSTM(2, H, batch_first=True)
    x = test.x[:64]
    with torch.no_grad():
        cell_err = (LSTM.from_torch(ref)(x)[0] - ref(x)[0]).abs().max().item()

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, (lr, curve) in best.items():
        ax.plot(np.arange(1, len(curve) + 1) * 50, curve, label=f"{name} (lr {lr:g})")
    ax.axhline(1 / 6, color="gray", ls=":", label="answer the mean (0.167)")
    ax.set(xlabel="step", ylabel="validation MSE", yscale="log", title=f"adding problem, T = {T}")
    ax.legend()
    ctx.savefig(fig)
    metrics = {
        "mse_lstm": mse["lstm"],
        "mse_rnn": mse["rnn"],
        "mse_ratio_lstm_over_rnn": mse["lstm"] / mse["rnn"],
        "cell_max_error": cell_err,
        "lr_lstm": best["lstm"][0],
        "lr_rnn": best["rnn"][0],
    }
    bars = [
        Bar("mse_lstm", "<", 0.05),
        Bar("mse_ratio_lstm_over_rnn", "<=", 1 / 3),
        Bar("cell_max_error", "<", 1e-6),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="adding T=50: LSTM MSE < 0.05 and <= 1/3 of the tanh RNN's at equal steps; hand-written cell max error < 1e-6",
        config={
            "T": T,
            "hidden_size": H,
            "steps": steps,
            "lr_grid": grid,
            "lr_lstm": best["lstm"][0],
            "lr_rnn": best["rnn"][0],
        },
    )
