"""Chapter R, claim ram: the Recurrent Attention Model classifies digits placed on a larger canvas."""

from __future__ import annotations

import torch

from deltalab.data import load_digits
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.models.ram import RAM, RAMConfig, place_on_canvas, ram_loss
from deltalab.train.steps import fit_steps


def train_ram(
    model: RAM, x: torch.Tensor, y: torch.Tensor, steps: int, canvas: int, seed: int, device: str
) -> list[float]:
    """Adam (lr 3e-3, clip 1), batches of 64 digits pasted at fresh random positions each step."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_fn() -> torch.Tensor:
        idx = torch.randint(0, len(x), (64,), generator=g)
        xb = place_on_canvas(x[idx], canvas, g).to(device)
        return ram_loss(*model(xb)[:3], y[idx].to(device))

    return fit_steps(loss_fn, opt, steps, clip=1.0)


@experiment(
    chapter="R",
    title="The Recurrent Attention Model learns where to look",
    claim="the Recurrent Attention Model (glimpse net, core RNN, location policy trained by REINFORCE) "
    "classifies digits on a larger canvas",
    expected="fail",
    reason="measured (quick, 1000 steps, seeds 0-4): RAM 27/12/22/28/20% against the same model with "
    "random glimpse locations 23/21/20/22/25%, margin +4.4/-8.3/+1.7/+6.0/-5.0 points (bar 10): the "
    "REINFORCE-trained policy does not learn where the digit is in this budget (its glimpses end "
    "8.5-8.9 px from the digit, random ones 9.6 px, the centre 6 px), while a glimpse placed on the digit "
    "classifies 96% after 500 steps; full profile (4000 steps, seed 0): 52.8 vs 47.9%, margin +4.9",
)
def ram(ctx: Context):
    """`deltalab run ram` — claim ram. Each 8×8 digit is pasted at a random position of a 32×32 canvas,
    where a random 8-px glimpse usually misses it. Sensor: 3 scales (8, 16 and 32 px, each seen at 8×8
    by block averaging); 4 glimpses, the first at the centre (its 32-px scale sees the whole canvas at
    4× lower resolution: where the digit is, not which digit); Gaussian policy σ=0.15, reward 1 for a
    correct final answer, learned baseline, hybrid loss (cross-entropy + REINFORCE + baseline MSE). The
    control is the same network, initial weights, training stream, rate and steps with uniformly
    random glimpse locations. Expected: test accuracy (policy mean, no sampling) ≥ 10 points above the
    control's; the test set is every test digit at 4 random positions (1800 canvases). Diagnostics (not
    barred): mean per-axis distance in pixels of glimpses 2-4 from the digit's centre.

    Expected failure, measured (quick, 1000 steps, seeds 0/1/2/3/4): RAM 27.2/12.3/22.1/27.8/20.1%,
    random glimpses 22.8/20.6/20.4/21.8/25.1%, margin +4.4/−8.3/+1.7/+6.0/−5.0 points; RAM's glimpses
    end 8.9/7.1/8.9/8.5/8.8 px from the digit (random: 9.6-9.8; the centre itself: ~6). REINFORCE's
    signal is the change in reward with location, and it stays near zero while the classifier, fed
    mostly glimpses that miss, is weak; the policy mean random-walks away from the centre instead of
    towards the digit. The classifier is not the bottleneck: glimpses placed on the digit (an oracle
    policy) reach 96% after 500 steps. Seeds 5/6/7: margin +3.1/−7.2/+5.9.
    Settings tried, seed 0 unless stated, 1000 steps, RAM vs control (%), from a driver that reproduces
    this experiment:
    - the earlier setting (28×28 canvas, 6-px patch, scales 6/12/24 point-resampled; seeds 0-4):
      29.0/28.6/26.6/29.7/30.9 vs 28.3/25.9/22.1/25.9/23.5, margin 0.7/2.7/4.5/3.8/7.4 (a 24-px
      scale sees most of that canvas, so the control needs no policy); block-averaged scales 26.8 vs 23.8;
    - 32×32 canvas, scales 8/32 only (the coarse view a 2×2 blob): 16.3 vs 14.7; the policy also
      trained through the core (no detach, as in the paper): 9.8 vs 14.7 (glimpses run to the corners);
    - 32×32, 8/16/32, σ 0.15 / 0.25, 1500 steps: RAM 38.9 / 41.1, glimpse-to-digit distance rising
      from 6.2 to 8.6 px; dense reward p(correct) / log p(correct): RAM 29.7 / 28.9;
    - 32×32 with the scales resampled inside each patch (seeds 0/1): 31.1 vs 31.9, 23.8 vs 28.8;
    - 24×24 canvas (a centred glimpse always overlaps the digit): 45.1 vs 44.6; no detach 11.8;
      one policy glimpse (K=2): 41.3 vs 44.6 (32×32: 28.0 vs 23.8); policy rate 1e-4 / 3e-4 (rest 3e-3):
      51.8 / 52.6 vs 44.6 — the policy stays at the centre (4.5 px), which beats random glimpses on
      that small canvas without learning where to look; 3e-4 for 2000 steps, seeds 0/1: 62.5 vs 58.7,
      61.7 vs 60.4; policy rate 1e-3 with σ 0.15 / 0.25, 1500 steps: 56.2 / 59.3 vs 55.3.
    Full profile (4000 steps, seed 0): RAM 52.8% vs 47.9%, margin +4.9, RAM's glimpses 9.7 px from the
    digit (fail; ~60 s idle). Quick profile: ~14 s per seed (1 thread, idle).
    """
    canvas, steps = 32, ctx.pick(quick=1000, full=4000)
    cfg = RAMConfig(patch=8, scales=3, glimpses=4, hidden_size=64, std=0.15)
    d = load_digits(images=True)
    # each test digit at 4 random positions (1800 canvases): the margin is a difference of two
    # accuracies, and 450 canvases alone left ~±3 points of placement noise on it
    placements = 4
    y_test = d.y_test.repeat(placements)
    x_test, centres = place_on_canvas(
        d.x_test.repeat(placements, 1, 1, 1),
        canvas,
        torch.Generator().manual_seed(ctx.seed + 1),
        return_centres=True,
    )
    x_test = x_test.to(ctx.device)
    acc, dist, models, locs = {}, {}, {}, {}
    for name, rnd in (("ram", False), ("random_glimpses", True)):
        torch.manual_seed(ctx.seed)  # same initial weights and the same training stream for both arms
        models[name] = RAM(cfg, random_glimpses=rnd).to(ctx.device)
        ctx.series(
            f"loss_{name}", train_ram(models[name], d.x_train, d.y_train, steps, canvas, ctx.seed, ctx.device)
        )
        torch.manual_seed(ctx.seed + 2)
        with torch.no_grad():
            logits, _, _, locs[name] = models[name](x_test, sample=False)
        locs[name] = locs[name].cpu()
        acc[name] = (logits.argmax(-1).cpu() == y_test).float().mean().item()
        # mean distance (pixels, per axis) of the glimpses after the first from the digit's centre
        dist[name] = ((locs[name][:, 1:] - centres[:, None]).abs().mean() * canvas / 2).item()
        ctx.log(f"{name}: test accuracy {acc[name]:.3f}, glimpse-to-digit distance {dist[name]:.1f} px")

    fig, axes = plt.subplots(1, 5, figsize=(13, 2.9), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.3]})
    for i, ax in enumerate(axes[:4]):
        ax.imshow(x_test[i, 0].cpu(), cmap="gray_r")
        for name, color in (("ram", "tab:red"), ("random_glimpses", "tab:green")):
            px = (locs[name][i] + 1) / 2 * canvas - 0.5  # [-1, 1] -> pixel coordinates
            ax.plot(px[:, 0], px[:, 1], "o-", color=color, ms=3, lw=1)
            half = cfg.patch / 2  # the finest patch of the last glimpse
            ax.add_patch(
                plt.Rectangle(
                    (px[-1, 0] - half, px[-1, 1] - half), cfg.patch, cfg.patch, fill=False, ec=color
                )
            )
        ax.plot(canvas / 2 - 0.5, canvas / 2 - 0.5, "s", color="tab:blue", ms=4)
        ax.set_xlim(-0.5, canvas - 0.5)  # the frame is the canvas's edge
        ax.set_ylim(canvas - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_title("red: RAM, green: random; square: first glimpse", fontsize=8, loc="left")
    names = ["ram", "random_glimpses"]
    axes[4].bar(["RAM", "random\nglimpses"], [acc[n] for n in names], color=["tab:red", "tab:green"])
    axes[4].set_ylim(0, 1)
    axes[4].set_ylabel("test accuracy")
    axes[4].set_title(f"margin {acc['ram'] - acc['random_glimpses']:+.3f} (bar 0.10)", fontsize=9)
    fig.tight_layout()
    ctx.savefig(fig)
    metrics = {
        "acc_ram": acc["ram"],
        "acc_random_glimpses": acc["random_glimpses"],
        "margin_ram_over_random": acc["ram"] - acc["random_glimpses"],
        "dist_px_ram": dist["ram"],
        "dist_px_random_glimpses": dist["random_glimpses"],
    }
    return ctx.result(
        metrics,
        [Bar("margin_ram_over_random", ">=", 0.10)],
        bar="test accuracy >= 10 points above the same model with random glimpse locations",
        config={
            "canvas": canvas,
            "steps": steps,
            "lr": 3e-3,
            "batch": 64,
            "test_placements": placements,
            **vars(cfg),
        },
    )
