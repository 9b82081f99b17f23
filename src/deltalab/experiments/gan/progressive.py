"""Chapter G: progressive growing from 4×4 to 8×8 with a fade-in (claim progressive-gan), judged
by the digits judge like the gan claim (this package's ``__init__``, whose sampler, EMA and Adam
kernel it uses)."""

from __future__ import annotations

import numpy as np
import torch

from deltalab.eval.judge import cached_judge, judge_scores
from deltalab.experiments.gan import DIGIT_CODES, EMA_DECAY, adam_kernel, digits_sampler, loss_plot
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import image_mosaic, plt
from deltalab.optim.averaging import ema_of

C8 = 8  # the width at 8×8 in G and D (32 at 4×4)


@experiment(
    chapter="G",
    title="Progressive growing from 4×4 to 8×8 with a fade-in trains stably",
    claim="growing the generator and discriminator from 4×4 to 8×8 with a fade-in trains stably",
)
def progressive_gan(ctx: Context):
    """`deltalab run progressive-gan` — claim progressive-gan. Expected: every loss finite through
    the 4×4, fade-in and 8×8 phases (no divergence), and samples recognizable by the same judge bar
    as the gan claim (confidence ≥ 0.9 on ≥ 70%, class entropy ≥ 2 bits). Samples come from an EMA
    of G (decay 0.99); G has pixel norm and the discrete latent code of the gan claim.

    Recipe: phases 100 (4×4) / 100 (fade-in) / 1400 (8×8) steps in quick, 500 / 500 / 2500 in full;
    batch 32 in quick (64 in full); Karras et al.'s Adam β = (0, 0.99) at rate 3e-3 for both nets (2e-3 in full); D has the minibatch
    standard deviation before its 4×4 trunk (``ProgressiveDiscriminator(minibatch_std=True)``); both
    nets are 32 channels wide at 4×4 and 8 at 8×8 (``channels_8=8``: G's 8×8 block maps 32 → 8,
    D's fromRGB_8 gives 8 channels that its 8×8 block maps back to 32). The judge-confident share
    rises with the number of 8×8 steps (it was still rising at the end of every old run), and an
    8×8 step at width 32 cost about 3× a 4×4 step: the narrow 8×8 stage buys the steps. Judged on
    2000 samples (was 500): the judged share's sampling error is about 1 point.

    Quick, batch 32 (was 64, for the default suite's 15-minute budget), seeds 0-27: confident
    85.6/84.5/88.95/85.75/86.15/82.45/84.45/85.75/86.0/81.55/89.1/87.6/85.85/85.25/85.85/86.95/
    90.2/81.6/84.9/87.3/87.25/86.3/81.85/87.4/87.15/82.15/79.75/91.45% (lowest 79.75% at seed 26:
    9.75 points over the bar, 86.7% at batch 64; read on 2000 other z at steps 1000/1100/1200/1300/
    1399 of the 8×8 phase: 78.4/80.2/79.8/83.1/82.3%, a plateau; next 81.55% at seed 9), class
    entropy 3.29-3.32 bits, every loss finite; ~23-28 s CPU a seed (seeds.py, one thread, on the
    loaded shared 2 cores; seed 0 40 s with the judge's training), was 39-42 s at batch 64 measured the same way (seeds 1-4): about 0.63×. An 8×8 step at batch 32
    costs ~0.55-0.6× one at 64 (the fixed cost of ~40 small ops per step stays). Also for the
    budget: the curve is scored every 100 steps in quick (was 50; 500 fixed z, ~0.4 s) and the
    samples figure is one image (the three stages' 4 × 10 samples as a mosaic) instead of 120 axes
    (~1.5 s). Tried for the budget: batch 32 at 4×4 width 24 (the 4×4 convolutions cost as much as
    the 8×8 ones): 80.55/78.15/83.75/78.6% at seeds 0/3/5/11, too close to the bar; batch 32 with
    1200 8×8 steps (the same runs read at step 1200, 2000 other z): 84.9/84.8/86.5/84.7/84.0/82.1/
    89.0% at seeds 0-6, 81.4% at seed 11, 92.4% at 15 (1000 steps: seed 11 74.7%), so the 8×8 phase
    keeps its 1400 steps.
    Batch 64 (the recipe until this change), 1400 8×8 steps (since a scan at seeds 9-11), seeds
    0-11: confident 84.2/88.15/88.8/89.15/85.25/84.85/84.85/89.45/85.0/89.45/88.4/82.9%, seeds
    12-15 89.85/88.45/89.1/83.15%, seeds 16-27 84.35/88.9/91.7/88.65/92.5/90.7/86.55/87.4/88.05/88.95/86.7/89.95% (seeds 0-4 re-measured
    identically); ~28 s CPU a seed on an idle machine (the judge trained once per process). With
    1000 8×8 steps seed 11 scored 65.3% (bar 70%):
    its curve (500 fixed z, every 100 steps) read 27/43/47/51/56/58/61/65/67% at steps 350-1150 of all
    phases, still rising, then 72/74/72/79% at steps 1250-1550 with 1400 (seed 3, the slowest of 0-7
    before: 76/81% at 1050/1150, 85-89% at 1250-1550). ~1.3× the 8×8 phase's CPU.
    Before, 1000 8×8 steps, measured at seeds 0/1/2/3/4/5/6/7: confident 84.55/84.6/84.55/83.8/84.3/81.95/87.9/90.2%
    (bar 70%), every loss finite, class entropy 3.30-3.32 bits, with Adam's fused kernel
    (``adam_kernel``) and the minibatch std written as a two-pass sum; with the multi-tensor kernel
    and ``x.std(0)`` (the same recipe otherwise): 86.45/82.65/83.75/84.0/87.05/85.8/87.45/87.05%.
    At 900 8×8 steps (fused) it measured 84.6/83.4/83.1% at seeds 0-2, at 850 82.8/81.85/82.35%; the
    slowest seed's curve (seed 3) is at 73-76% between steps 950 and 1050 of all three phases, so the 8×8 phase keeps
    its 1000 steps. Also tried: toRGB / fromRGB (the 1×1 convolutions) as broadcast products, the
    same map for ~1.2 ms less per 8×8 step in a micro-benchmark: 87.8/86.65/86.9/76.3/83.6/81.75/
    89.05/83.45% at seeds 0-7 — seed 3 fell to 76.3%, so they stay convolutions (seed 3's judged
    share moves by several points with rounding alone: its curve reads 73-81% over steps 950-1150). Before (300 steps per phase, width
    32 at both resolutions, Adam 2e-3, β = (0.5, 0.999), 500 samples): 58.6/54.0/55.0/50.8/60.2/
    50.6/59.4/53.0% at seeds 0-7, an expected failure.

    Settings tried on the way (harness runs, 2000 samples unless noted; "100/100/N" are the phase
    lengths; "β" is (0, 0.99), "mbstd" the minibatch std):
    - 100/100/600 + β + mbstd, width 32, lr 2e-3: 79.3/77.5/79.1/61.1/63.3/-/74.7/66.6% at seeds
      0-4, 6, 7 (the repo's run); 100/100/700 same: 75.9/72.8/80.6% at seeds 0/1/3.
    - + lr 3e-3 (100/100/700, width 32): 84.2/78.4/67.6% at seeds 0/1/3.
    - + EMA decay 0.995 (lr 2e-3): 74.0/72.3/78.8% at seeds 0/1/3.
    - width 16 at 8×8, 100/100/1000, lr 2e-3: 82.6/80.2/83.2% at seeds 0/1/3; lr 3e-3: 87.6/87.2/
      82.0/88.5% at seeds 0/1/3/2 (~1.2× this recipe's CPU); lr 4e-3 with G's step reusing D's fake
      batch: 72.4/83.4/85.2/85.7%.
    - width 8 at 8×8 with 1200 8×8 steps: 85.8/85.7/83.2% at seeds 0/1/3 (the curve is flat after
      ~1000); width 48 at 4×4 (G and D): 86.6/86.6/85.1% at seeds 0/1/3 for ~1.35× the CPU.
    - not better: D at width 16 throughout (48.9/58.4/55.9%); at 300/300/300 (width 32,
      β = (0.5, 0.999); the old recipe measured 59.9/57.6% at seeds 0/1 in this harness): two
      convs in G's 8×8 block 57.1/49.8%, width 64 at 4×4 50.8/53.0%, R1 γ = 0.1 62.4/59.9% (~1.4×
      the CPU), a linear decay of the rate over the 8×8 phase 48.5/46.8%, the paper's
      equalized learning rate (+ pixel norm of z, β) 50.8%; equalized rate at 100/100/700 61.8%.
    Earlier (the old docstring, 500 samples, seed 0 / 1): R1 γ = 1 53%, 64 channels 60% (2.3× the
    CPU), an MLP before the 4×4 map 28%, D's rate 4e-3 54%.

    Full profile (500 / 500 / 2500, rate 2e-3): every loss finite, 86.75% confident at seed 0 and
    86.75% at seed 1, 3.30 bits; the curve stays at 84-93% through the last 500 steps (191 s each,
    two runs side by side on the loaded 2 cores). At rate 3e-3 the same full run at seed 0 passed
    at 78.3%: its curve peaked at 96% near step 2700 and fell to 74-77% in the last 100 steps, so
    the longer profile takes the smaller rate. (The old full recipe, 1000 steps per phase at width
    32, measured 84.8% at seed 0.) The figure shows the judge-confident share of
    the EMA's samples every 100 steps (50 in full) of the fade-in and 8×8 phases (500 fixed z, at
    the current α)
    against the bar, and the losses; the samples figure the EMA's samples for fixed z at the end
    of each stage. G's step skips D's weight gradients, at α = 1 the nets and the real batch skip
    the old path (weight 0), and the losses are read once after the loop — all bitwise identical in
    what they compute. The fused Adam kernel costs about a third of the multi-tensor one per update,
    and ``MinibatchStd``'s two-pass sum about a sixth of ``x.std(0)`` forward (half forward and
    backward): these two round differently, hence the re-measured numbers above.
    Quick CPU (seeds.py, one thread, side by side with the old recipe on the loaded 2 cores):
    23.6/23.5/26.0/24.9/24.6/25.9/24.3 s at seeds 1-7, was 24.7/24.7/26.9/25.8/25.4/27.4/24.4 s:
    about 4% less (~15 s per seed on an idle machine before; the judge trained once per process).
    The full profile keeps the multi-tensor kernel; its numbers above were measured with
    ``x.std(0)``, which rounds differently from the two-pass sum."""
    from deltalab.models.progressive_gan import (
        ProgressiveConfig,
        ProgressiveDiscriminator,
        ProgressiveGenerator,
        train_progressive,
    )

    g = torch.Generator().manual_seed(ctx.seed + 7)
    torch.manual_seed(ctx.seed + 7)
    k, k8 = ctx.pick((100, 1400), (500, 2500))  # steps of the 4×4 and fade-in phases; of the 8×8 phase
    cfg = ProgressiveConfig(
        steps_4=k,
        steps_fade=k,
        steps_8=k8,
        batch_size=ctx.pick(32, 64),
        lr=ctx.pick(3e-3, 2e-3),
        betas=(0.0, 0.99),
        **adam_kernel(ctx),
    )
    G = ProgressiveGenerator(16, 32, codes=DIGIT_CODES, channels_8=C8).to(ctx.device)
    D = ProgressiveDiscriminator(32, minibatch_std=True, channels_8=C8).to(ctx.device)
    ema = ema_of(G, EMA_DECAY)
    sample = digits_sampler(ctx, g, labels=False)
    z_show = torch.randn(40, 16, generator=torch.Generator().manual_seed(ctx.seed + 99)).to(ctx.device)
    z_curve = torch.randn(500, 16, generator=torch.Generator().manual_seed(ctx.seed + 98)).to(ctx.device)
    judge = cached_judge(ctx)
    stages: dict[str, torch.Tensor] = {}
    curve: list[tuple[int, float]] = []  # (step, judge-confident share of the EMA's 8×8 samples)

    def snapshot(phase: str) -> None:  # EMA samples at the end of each phase (draws from its own generator)
        with torch.no_grad():
            stages[phase] = ema.module(z_show, 4 if phase == "4x4" else 8, 1.0).cpu()

    every = ctx.pick(100, 50)  # steps between the curve's points

    def score(step: int) -> None:  # the bar's statistic over training, at the current fade-in α
        if step > k and (step - k) % every == 0:
            alpha = min(1.0, (step - k) / k)
            with torch.no_grad():
                curve.append((step, judge_scores(judge, ema.module(z_curve, 8, alpha))["confident_frac"]))

    hist = train_progressive(
        G,
        D,
        lambda n: sample(n)[0].view(n, 1, 8, 8),
        cfg,
        g,
        ema=ema,
        on_phase_end=snapshot,
        on_step=score,
    )
    with torch.no_grad():
        # 2000 samples: the judged share's sampling error (≈ 1 point) stays well inside the margin
        imgs = ema.module(torch.randn(2000, 16, generator=g).to(ctx.device), 8, 1.0)
    scores = judge_scores(judge, imgs)
    finite = all(torch.isfinite(torch.tensor(hist[n])).all() for n in ("d_loss", "g_loss"))
    ctx.log(f"progressive: finite={finite} {scores}")
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    loss_plot(axes[0], hist, "progressive GAN losses (4×4 | fade | 8×8)")
    for ax in axes[:2]:
        for x in (cfg.steps_4, cfg.steps_4 + cfg.steps_fade):
            ax.axvline(x, color="k", ls=":", lw=0.8)
    axes[1].plot(*zip(*curve, strict=True), marker=".")
    axes[1].axhline(0.7, color="r", ls="--", lw=0.8, label="bar 70%")
    axes[1].set(title="judge-confident share of EMA samples", xlabel="generator step", ylim=(0, 1))
    axes[1].legend(fontsize=7)
    axes[2].plot(hist["alpha"])
    axes[2].set(title="fade-in α", xlabel="generator step")
    ctx.savefig(fig)
    ctx.series("confident_curve", [list(c) for c in curve])
    # one image: the three stages side by side, 4 × 10 samples each (120 axes cost ~1.5 s)
    titles = {"4x4": "end of 4×4 phase", "fade": "end of fade-in (8×8, α = 1)", "8x8": "final 8×8"}
    panels = []
    for phase in titles:
        imgs = stages[phase][:40]
        if imgs.shape[-1] == 4:  # the 4×4 stage shown at 8×8 pixels (nearest)
            imgs = imgs.repeat_interleave(2, -1).repeat_interleave(2, -2)
        panels.append(image_mosaic(imgs, 10))
    width = panels[0].shape[1] + 3  # a 3-pixel gap between stages
    gap = np.zeros((panels[0].shape[0], 3), dtype=panels[0].dtype)
    fig, ax = plt.subplots(figsize=(20, 3.2))
    ax.imshow(
        np.hstack([panels[0], gap, panels[1], gap, panels[2]]),
        cmap="gray_r",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    for i, title in enumerate(titles.values()):
        ax.text(i * width, -1, title, fontsize=9, va="bottom")
    ax.axis("off")
    fig.suptitle(
        f"progressive GAN, EMA samples per stage (same z): {scores['confident_frac']:.0%} judge-confident"
    )
    ctx.savefig(fig, suffix="samples")
    metrics = {
        "losses_finite": float(finite),
        "final_d_loss": sum(hist["d_loss"][-50:]) / 50,
        "confident_frac": scores["confident_frac"],
        "class_entropy_bits": scores["class_entropy_bits"],
        "junk_frac": scores["junk_frac"],
    }
    bars = [
        Bar("losses_finite", "==", 1.0),
        Bar("confident_frac", ">=", 0.7),
        Bar("class_entropy_bits", ">=", 2.0),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="no non-finite loss in any phase; judge confidence >= 0.9 on >= 70% of samples, class entropy >= 2 bits",
        config={**vars(cfg), "codes": DIGIT_CODES, "ema_decay": EMA_DECAY, "channels": 32, "channels_8": C8},
    )
