"""Chapter G: the GAN and the label-conditioned GAN, judged by mode coverage and the digits judge."""

from __future__ import annotations

import torch

from deltalab.data import load_digits
from deltalab.data.toy2d import ring_centers, sample_ring
from deltalab.eval.generative import mode_coverage
from deltalab.eval.judge import cached_judge, judge_scores
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt, sample_grid
from deltalab.models.gan import Discriminator, GANConfig, Generator, train_gan
from deltalab.optim.averaging import ema_of

RING_STD = 0.05  # the ring's mode standard deviation (data.toy2d default)
EMA_DECAY = 0.99  # every generator here is sampled from this moving average of its weights
RING_CODES, DIGIT_CODES = 16, 32  # discrete latent codes (models.gan.LatentCode); not the mode counts


def digits_sampler(ctx: Context, generator: torch.Generator, labels: bool):
    """``sample_real(n)`` over the digits train split as flat (n, 64) vectors [and labels]."""
    data = load_digits().to(ctx.device)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(0, data.x_train.shape[0], (n,), generator=generator).to(ctx.device)
        return data.x_train[idx], (data.y_train[idx] if labels else None)

    return sample


def _loss_plot(ax, hist: dict[str, list[float]], title: str) -> None:
    ax.plot(hist["d_loss"], label="D loss", lw=0.6)
    ax.plot(hist["g_loss"], label="G loss (non-saturating)", lw=0.6)
    ax.set(title=title, xlabel="generator step")
    ax.legend(fontsize=7)


@experiment(
    chapter="G",
    title="A GAN with alternating updates and the non-saturating loss covers the ring and draws digits",
    claim="alternating discriminator / generator updates with the non-saturating generator loss",
)
def gan(ctx: Context):
    """`deltalab run gan` — claim gan. Expected: ring ≥ 7/8 modes held (≥ 5% each within 3σ) and ≥ 80%
    of samples near a mode; digits: judge-confident ≥ 70% and class entropy ≥ 2 bits.

    Both generators get a discrete latent code (``Generator(codes=K)``, see ``models.gan``): a
    continuous map of one Gaussian must put samples in the gaps between disconnected modes. Samples
    come from an EMA of G's weights (decay 0.99). Measured before these two changes (plain latent,
    last iterate): ring 8/8 modes but 77% near, digits 46% confident — both bars failed. Both GANs
    carry an R1 penalty on real data (lazy for the ring: every 8th D update); the digits G has
    BatchNorm. The ring's R1 weight was γ = 0.05 until seeds 0-7 were checked: seed 4 then dropped
    two modes (6/8 held, 67% near) and seeds 1/2/7 sat at 90-98% near with spread 0.65-0.78; with
    γ = 0.5 (10×) those four seeds measured 8/8 held and ≥ 99.8% near in side runs. The digits are
    judged on 2000 samples (was 500), so the judged share's sampling error is about 1 point.

    Quick measured at seeds 0/1/2/3/4/5/6/7: ring 8/8 modes held at every seed, near
    99.3/99.95/99.85/99.2/99.85/99.75/99.8/100% (bar 80%; with γ = 0.05: 100/90/94/100/67/100/100/98%);
    digits confident 84.6/79.9/78.9/75.3/76.4/81.3/78.8/75.8% (bar 70%), class entropy 3.3 bits at every
    seed. Not under a bar but reported: the ring modes are tighter than the data's
    (``ring_spread_ratio`` 0.49-0.67 from the EMA; ≈ 0.97 for data) — the average trades
    within-mode spread for precision. Full profile (6000 / 8000 steps), seed 0:
    passes — ring 8/8 held, 99.95% near (spread 0.46), digits 84.2% confident, 3.3 bits (326 s with
    one other run on the 2 cores); with γ = 0.05 it measured 1.00 near, 83% confident.
    Quick: ~12 s CPU per seed on an idle machine (the judge trained once per process); G's step
    skips D's weight gradients and Adam runs its multi-tensor kernel, both bitwise identical (so the
    numbers above stand), about 9% less CPU in a side benchmark."""
    g = torch.Generator().manual_seed(ctx.seed + 1)
    ring_cfg = GANConfig(
        steps=ctx.pick(2000, 6000),
        batch_size=128,
        lr_g=1e-3,
        lr_d=1e-3,
        r1_gamma=0.5,
        r1_every=8,
        foreach=True,
    )
    G = Generator(8, 2, hidden=128, codes=RING_CODES).to(ctx.device)
    D = Discriminator(2, hidden=128).to(ctx.device)
    ema = ema_of(G, EMA_DECAY)
    ring_hist = train_gan(
        G,
        D,
        lambda n: (sample_ring(n, std=RING_STD, generator=g)[0].to(ctx.device), None),
        ring_cfg,
        g,
        ema=ema,
    )
    with torch.no_grad():
        pts = ema.module.eval()(torch.randn(2000, 8, generator=g).to(ctx.device))
    cov = mode_coverage(pts, ring_centers(), RING_STD)
    ctx.log(f"ring: {cov}")

    # R1 on every D update: lazy R1 (every 4th, weight 4γ) saved a quarter of this GAN's CPU but
    # measured 77.9% / 77.8% confident at seeds 0 / 1 (84.6% / 79.9% with R1 every update)
    dig_cfg = GANConfig(
        steps=ctx.pick(1500, 8000), batch_size=128, lr_g=1e-3, lr_d=1e-3, r1_gamma=1.0, foreach=True
    )
    Gd = Generator(16, 64, hidden=256, out="sigmoid", codes=DIGIT_CODES, norm=True).to(ctx.device)
    Dd = Discriminator(64, hidden=256).to(ctx.device)
    ema_d = ema_of(Gd, EMA_DECAY)
    dig_hist = train_gan(Gd, Dd, digits_sampler(ctx, g, labels=False), dig_cfg, g, ema=ema_d)
    with torch.no_grad():
        # 2000 samples: the judged share's sampling error (≈ 1 point) stays well inside the margin
        imgs = ema_d.module.eval()(torch.randn(2000, 16, generator=g).to(ctx.device)).view(-1, 1, 8, 8)
    judge = cached_judge(ctx)
    scores = judge_scores(judge, imgs)
    real = judge_scores(judge, load_digits(images=True).x_test.to(ctx.device))
    ctx.log(f"digits: {scores}")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    ring_np = sample_ring(1000, std=RING_STD, generator=torch.Generator().manual_seed(ctx.seed))[0]
    axes[0].scatter(ring_np[:, 0], ring_np[:, 1], s=2, alpha=0.3, label="data")
    axes[0].scatter(pts[:, 0].cpu(), pts[:, 1].cpu(), s=2, alpha=0.3, label="generated")
    axes[0].set(
        title=f"ring: {cov['modes_held']:.0f}/8 modes, {cov['near_frac']:.0%} near, "
        f"spread {cov['spread_ratio']:.2f}× the data's",
        aspect="equal",
    )
    axes[0].legend(fontsize=7)
    _loss_plot(axes[1], ring_hist, "ring GAN losses")
    _loss_plot(axes[2], dig_hist, "digits GAN losses")
    ctx.savefig(fig)
    fig, grid = plt.subplots(4, 10, figsize=(8, 3.4))
    sample_grid(grid, imgs, f"GAN digits: {scores['confident_frac']:.0%} judge-confident")
    ctx.savefig(fig, suffix="samples")
    ctx.series("ring_d_loss", ring_hist["d_loss"][::10])
    ctx.series("digits_d_loss", dig_hist["d_loss"][::10])

    metrics = {
        "ring_modes_held": cov["modes_held"],
        "ring_near_frac": cov["near_frac"],
        "ring_spread_ratio": cov["spread_ratio"],
        "digits_confident_frac": scores["confident_frac"],
        "digits_class_entropy_bits": scores["class_entropy_bits"],
        "digits_junk_frac": scores["junk_frac"],
        "real_digits_confident_frac": real["confident_frac"],
    }
    bars = [
        Bar("ring_modes_held", ">=", 7),
        Bar("ring_near_frac", ">=", 0.8),
        Bar("digits_confident_frac", ">=", 0.7),
        Bar("digits_class_entropy_bits", ">=", 2.0),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="ring: >= 7 of 8 modes hold >= 5% within 3 sigma, >= 80% near a mode; digits: judge confidence "
        ">= 0.9 on >= 70% of samples and class entropy >= 2 bits",
        config={
            "ring": {**{k: v for k, v in vars(ring_cfg).items() if k != "history"}, "codes": RING_CODES},
            "digits": {**{k: v for k, v in vars(dig_cfg).items() if k != "history"}, "codes": DIGIT_CODES},
            "ema_decay": EMA_DECAY,
            "generator_batchnorm_digits": True,
        },
    )


@experiment(
    chapter="G",
    title="A label-conditioned GAN draws the digit asked for",
    claim="a label-conditioned GAN draws the digit asked for",
)
def cgan(ctx: Context):
    """`deltalab run cgan` — claim cgan. Expected: the digits judge's class equals the requested label
    on ≥ 80% of samples (50 per digit).

    Samples come from an EMA of G's weights (decay 0.99, as in the gan claim); 800 steps (was
    1500 without the EMA). Quick measured at seeds 0/1/2/3/4/5/6/7: agreement
    100/100/100/99.8/100/100/100/100% (bar 80%; the last iterate at 1500 steps measured
    90.8/98.4/89.8/95.0/91.0/86.8/93.0/85.8%), judge-confident 92-99.6%. Full profile (8000 steps,
    EMA), seed 0: passes, agreement 99.6%, 98% confident (281 s on a heavily loaded machine).
    Quick: 7.1-7.5 s CPU per seed at seeds 1-7 on a loaded machine (was 13.0-13.1 s measured the
    same way: 45% less; about 8 s on an idle one), the judge trained once per process."""
    g = torch.Generator().manual_seed(ctx.seed + 2)
    # samples come from an EMA of G, as in the gan claim: it lifted agreement from 87-98% at 1500
    # steps to 97-100% at 1000 in side runs, so 800 steps do (the step count sets the cost)
    cfg = GANConfig(steps=ctx.pick(800, 8000), batch_size=128, lr_g=1e-3, lr_d=1e-3, foreach=True)
    G = Generator(16, 64, hidden=256, out="sigmoid", num_classes=10).to(ctx.device)
    D = Discriminator(64, hidden=256, num_classes=10).to(ctx.device)
    ema = ema_of(G, EMA_DECAY)
    hist = train_gan(G, D, digits_sampler(ctx, g, labels=True), cfg, g, ema=ema)
    labels = (torch.arange(500) % 10).to(ctx.device)
    with torch.no_grad():
        imgs = ema.module(torch.randn(500, 16, generator=g).to(ctx.device), labels).view(-1, 1, 8, 8)
    scores = judge_scores(cached_judge(ctx), imgs, labels)
    ctx.log(f"cgan: {scores}")
    fig, grid = plt.subplots(4, 10, figsize=(8, 3.4))
    order = torch.argsort(labels[:40], stable=True)
    sample_grid(grid, imgs[:40][order], f"cGAN, columns ask for 0..9: agreement {scores['agreement']:.0%}")
    ctx.savefig(fig, suffix="samples")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    _loss_plot(ax, hist, "conditional GAN losses")
    ctx.savefig(fig)
    metrics = {
        "label_agreement": scores["agreement"],
        "agreement_confident": scores["agreement_confident"],
        "confident_frac": scores["confident_frac"],
    }
    return ctx.result(
        metrics,
        [Bar("label_agreement", ">=", 0.8)],
        bar="the digits judge agrees with the requested label on >= 80% of samples",
        config={**{k: v for k, v in vars(cfg).items() if k != "history"}, "ema_decay": EMA_DECAY},
    )


@experiment(
    chapter="G",
    title="Progressive growing from 4×4 to 8×8 with a fade-in trains stably",
    claim="growing the generator and discriminator from 4×4 to 8×8 with a fade-in trains stably",
    expected="fail",
    fails_in=("quick",),
    reason="quick budget: training is stable (all losses finite) but only 51-60% of samples are "
    "judge-confident at seeds 0-7 (bar 70%); a faster recipe (β = (0, 0.99), minibatch std, phases "
    "100/100/600) passes at some seeds (75-79%) but not others (61-67%); the full profile (3000 "
    "steps) reaches 85% at seed 0",
)
def progressive_gan(ctx: Context):
    """`deltalab run progressive-gan` — claim progressive-gan. Expected: every loss finite through
    the 4×4, fade-in and 8×8 phases (no divergence), and samples recognizable by the same judge bar
    as the gan claim (confidence ≥ 0.9 on ≥ 70%, class entropy ≥ 2 bits). Samples come from an EMA
    of G (decay 0.99); G has pixel norm and the discrete latent code of the gan claim.

    Quick (300 steps per phase, batch 64, 32 channels, Adam 2e-3, β = (0.5, 0.999)), measured at
    seeds 0/1/2/3/4/5/6/7: confident 58.6/54.0/55.0/50.8/60.2/50.6/59.4/53.0% (bar 70%), every loss
    finite, class entropy 3.1-3.2 bits — stable but not recognizable enough: an honest expected
    failure of the budget, not of the claim (it fails at every seed).

    The faster recipe that came closest, Karras et al.'s Adam β = (0, 0.99) and D's minibatch
    standard deviation (``ProgressiveDiscriminator(minibatch_std=True)``) with phases 100/100/600
    (most of the budget at 8×8, where the judge looks; about the same CPU), judged on 2000
    samples, measured 79.3/77.5/79.1/61.1/63.3/-/74.7/66.6% at seeds 0-4, 6, 7: a verdict that
    would flip between seeds, so it is not the quick recipe. Side runs on the way (500 samples,
    seed 0 / 1): phases 150/150/600 75% / -; + β = (0, 0.99) 74% / 71%; 100/100/600 + β 76% /
    72%; 150/150/600 + β + minibatch std 82% / 69%. Not better: R1 γ = 1 (53%), 64 channels
    (60%, 2.3× the CPU), an MLP before the 4×4 map (28%), D's rate 4e-3 (54%), EMA decay 0.995
    (71% / 66%), 16 channels at 8×8 with 1000 8×8 steps (81% at seed 1, no cheaper). Earlier
    (code not kept): equalized learning rate + minibatch std + two convs per block 52% / 52%.

    Full profile (1000 steps per phase), seed 0: finite, 84.8% confident, 3.3 bits — passes (269 s
    with one other run on the 2 cores; 128 s idle in an earlier run, 87%), so the claim holds and
    the quick failure is the budget's. The figure shows the judge-confident share of the EMA's
    samples every 50 steps of the fade-in and 8×8 phases (500 fixed z, at the current α) against
    the bar, and the losses; the samples figure the EMA's samples for fixed z at the end of each
    stage. G's step skips D's weight gradients and Adam runs its multi-tensor kernel (both
    bitwise identical). Quick: ~12 s CPU per seed on an idle machine."""
    from deltalab.models.progressive_gan import (
        ProgressiveConfig,
        ProgressiveDiscriminator,
        ProgressiveGenerator,
        train_progressive,
    )

    g = torch.Generator().manual_seed(ctx.seed + 7)
    torch.manual_seed(ctx.seed + 7)
    k = ctx.pick(300, 1000)
    cfg = ProgressiveConfig(steps_4=k, steps_fade=k, steps_8=k, batch_size=64, lr=2e-3, foreach=True)
    G = ProgressiveGenerator(16, 32, codes=DIGIT_CODES).to(ctx.device)
    D = ProgressiveDiscriminator(32).to(ctx.device)
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

    def score(step: int) -> None:  # the bar's statistic over training, at the current fade-in α
        if step > k and (step - k) % 50 == 0:
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
        imgs = ema.module(torch.randn(500, 16, generator=g).to(ctx.device), 8, 1.0)
    scores = judge_scores(judge, imgs)
    finite = all(torch.isfinite(torch.tensor(hist[n])).all() for n in ("d_loss", "g_loss"))
    ctx.log(f"progressive: finite={finite} {scores}")
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    _loss_plot(axes[0], hist, "progressive GAN losses (4×4 | fade | 8×8)")
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
    fig, grids = plt.subplots(4, 30, figsize=(20, 3.2))
    titles = {"4x4": "end of 4×4 phase", "fade": "end of fade-in (8×8, α = 1)", "8x8": "final 8×8"}
    for i, (phase, title) in enumerate(titles.items()):
        for ax, img in zip(grids[:, 10 * i : 10 * i + 10].flat, stages[phase][:40], strict=False):
            ax.imshow(img[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.axis("off")
        grids[0, 10 * i].set_title(title, loc="left", fontsize=9)
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
        config={**vars(cfg), "codes": DIGIT_CODES, "ema_decay": EMA_DECAY},
    )
