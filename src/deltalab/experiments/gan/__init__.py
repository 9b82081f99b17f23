"""Chapter G: the GAN and the label-conditioned GAN, judged by mode coverage and the digits judge.

The progressive GAN (``gan.progressive``) shares the digits sampler, the Adam kernel choice, the EMA
and the loss plot defined here.
"""

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


def adam_kernel(ctx: Context) -> dict[str, bool]:
    """Quick: Adam's fused kernel (one kernel per update, about a third of the multi-tensor one's CPU
    here; it rounds differently, so the quick numbers were re-measured with it). Full: the
    multi-tensor kernel the full-profile numbers in the docstrings were measured with."""
    return ctx.pick({"fused": True}, {"foreach": True})


def digits_sampler(ctx: Context, generator: torch.Generator, labels: bool):
    """``sample_real(n)`` over the digits train split as flat (n, 64) vectors [and labels]."""
    data = load_digits().to(ctx.device)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(0, data.x_train.shape[0], (n,), generator=generator).to(ctx.device)
        return data.x_train[idx], (data.y_train[idx] if labels else None)

    return sample


def loss_plot(ax, hist: dict[str, list[float]], title: str) -> None:
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

    Quick recipe: the ring GAN trains 2000 steps at rate 2e-3, the digits GAN 1500 steps at 1e-3,
    both with Adam's fused kernel (``adam_kernel``). Measured at seeds 0-13: ring 8/8 modes held at
    every seed, near 99.85/99.9/99.95/99.6/100/99.0/99.95/99.65/99.6/99.9/100/99.2/92.6/100% (seed 12
    the slowest); digits confident 76.55/80.5/80.7/80.75/79.95/79.7/80.5/77.35/81.15/81.65/77.35/
    80.65/83.2/81.2%. The ring had 1200 steps until a scan at seeds 12-14: seed 12 then held 7/8
    modes with 79.15% near (bar 80%); 1600 steps gave it 8/8 and 87.55%, 2000 steps 92.6%.
    With 1200 ring steps, measured at seeds 0/1/2/3/4/5/6/7: ring 8/8
    modes held at every seed, near 99.35/99.6/99.8/97.9/99.55/98.4/99.8/98.3% (bar 80%); digits
    confident 81.4/82.05/75.6/81.85/73.05/84.3/80.4/81.1% (bar 70%; mean 80.0%), class entropy
    3.30-3.32 bits at every seed; ``ring_spread_ratio`` 0.55-0.70 (≈ 0.97 for data: the EMA's modes
    are tighter than the data's — it trades within-mode spread for precision; not under a bar).
    Quick CPU (seeds.py, one thread, side by side with the old recipe on the loaded 2 cores):
    17.3/17.7/16.9/18.7/19.6/18.0/18.5 s at seeds 1-7 (24.7 s at seed 0 with the judge's training),
    was 20.7/21.2/22.3/24.1/22.2/22.0/24.4 s (29.2 s): 19% less (~12 s per seed on an idle machine
    before).

    Until the suite's time budget was tightened the ring trained 2000 steps at 1e-3 with Adam's
    multi-tensor kernel: near 99.3/99.95/99.85/99.2/99.85/99.75/99.8/100%, digits 84.55/79.85/
    78.85/75.25/76.35/81.3/78.8/75.75% (mean 78.8%) at seeds 0-7 (with γ = 0.05 the ring measured
    100/90/94/100/67/100/100/98% near). The ring's share near a mode, judged every 200 steps on
    2000 fresh samples (side runs, seeds 0-7): at 1e-3 it is 31-91% at step 600, 95.2-99.0% at
    1000 and 97.1-99.8% at 1200, flat after; at 2e-3 it is 46-98% at 600, 95.0-99.8% at 1000,
    98.2-100% at 1200 and 98.8-99.9% at 1400 — the larger rate gets there in 1200 steps. The digits
    GAN was left at 1e-3 and 1500 steps: at 2e-3 it measured 74.2/75.6% at seeds 0/1 (83.3/81.6%
    at 1e-3 in the same runs), and its judged share still rises between steps 1250 and 1500 (about
    +3 points; seed 4 measured 74.8/77.4% at steps 1500/1800 in a side run). The digits numbers
    moved only because the ring draws fewer numbers from the shared generator and the fused kernel
    rounds differently; over the three sets of seeds 0-7 measured (the old recipe, the fused kernel
    with the ring at 1400 steps, this recipe) the share is 73-85% at every seed.
    Fused Adam: about a third of the multi-tensor kernel's CPU per update here (0.07 vs 0.20 ms
    for the ring's G, 0.10 vs 0.27 ms for the digits D). G's step skips D's weight gradients
    (bitwise the same training), and the loss history is read from the device once after the loop.
    Full profile (6000 / 8000 steps, rate 1e-3 and the multi-tensor kernel, as measured), seed 0:
    passes — ring 8/8 held, 99.95% near (spread 0.46), digits 84.2% confident, 3.3 bits (326 s with
    one other run on the 2 cores); with γ = 0.05 it measured 1.00 near, 83% confident."""
    g = torch.Generator().manual_seed(ctx.seed + 1)
    ring_cfg = GANConfig(
        steps=ctx.pick(2000, 6000),
        batch_size=128,
        lr_g=ctx.pick(2e-3, 1e-3),
        lr_d=ctx.pick(2e-3, 1e-3),
        r1_gamma=0.5,
        r1_every=8,
        **adam_kernel(ctx),
    )
    G = Generator(8, 2, hidden_dim=128, codes=RING_CODES).to(ctx.device)
    D = Discriminator(2, hidden_dim=128).to(ctx.device)
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
        steps=ctx.pick(1500, 8000), batch_size=128, lr_g=1e-3, lr_d=1e-3, r1_gamma=1.0, **adam_kernel(ctx)
    )
    Gd = Generator(16, 64, hidden_dim=256, out="sigmoid", codes=DIGIT_CODES, norm=True).to(ctx.device)
    Dd = Discriminator(64, hidden_dim=256).to(ctx.device)
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
    loss_plot(axes[1], ring_hist, "ring GAN losses")
    loss_plot(axes[2], dig_hist, "digits GAN losses")
    ctx.savefig(fig)
    fig = sample_grid(imgs, f"GAN digits: {scores['confident_frac']:.0%} judge-confident")
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

    Samples come from an EMA of G's weights (decay 0.99, as in the gan claim); 500 steps with Adam's
    fused kernel (``adam_kernel``). Quick measured at seeds 0/1/2/3/4/5/6/7: agreement 100% at every
    seed (bar 80%), judge-confident 90.0/84.4/90.0/92.6/83.2/82.8/89.8/100% (not under the bar: the
    shorter run's samples are less often crisp, never off-label). Before (800 steps, the
    multi-tensor kernel): agreement 100/100/100/99.8/100/100/100/100%, confident 93.4/99.0/92.6/
    99.6/94.6/92.2/92.4/92.4%; the last iterate at 1500 steps (no EMA) measured 90.8/98.4/89.8/
    95.0/91.0/86.8/93.0/85.8%. Why 500: judged every 100 steps on 500 fresh samples (side runs
    with the fused kernel, seeds 0-7), agreement is 88-100% at step 300 and 100% from step 400 to
    700 at every seed (97.6-100% at 800).
    Full profile (8000 steps, EMA, the multi-tensor kernel), seed 0: passes, agreement 99.6%, 98%
    confident (281 s on a heavily loaded machine). Quick CPU (seeds.py, one thread, machine loaded
    ~5×): 3.7-4.2 s per seed at seeds 1-7 (11.4 s at seed 0 with the judge's training), was
    6.4-7.0 s (14.8 s) at 800 steps measured the same way: about 40% less."""
    g = torch.Generator().manual_seed(ctx.seed + 2)
    # samples come from an EMA of G, as in the gan claim: agreement reaches 100% by step 400 at
    # seeds 0-7 in side runs, so 500 steps do (the step count sets the cost)
    cfg = GANConfig(steps=ctx.pick(500, 8000), batch_size=128, lr_g=1e-3, lr_d=1e-3, **adam_kernel(ctx))
    G = Generator(16, 64, hidden_dim=256, out="sigmoid", num_classes=10).to(ctx.device)
    D = Discriminator(64, hidden_dim=256, num_classes=10).to(ctx.device)
    ema = ema_of(G, EMA_DECAY)
    hist = train_gan(G, D, digits_sampler(ctx, g, labels=True), cfg, g, ema=ema)
    labels = (torch.arange(500) % 10).to(ctx.device)
    with torch.no_grad():
        imgs = ema.module(torch.randn(500, 16, generator=g).to(ctx.device), labels).view(-1, 1, 8, 8)
    scores = judge_scores(cached_judge(ctx), imgs, labels)
    ctx.log(f"cgan: {scores}")
    # labels cycle 0..9, so with 10 images a row, column k holds the samples asked to show digit k
    fig = sample_grid(imgs[:40], f"cGAN, columns ask for 0..9: agreement {scores['agreement']:.0%}")
    ctx.savefig(fig, suffix="samples")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    loss_plot(ax, hist, "conditional GAN losses")
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
