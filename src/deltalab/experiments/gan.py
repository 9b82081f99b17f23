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


C8 = 8  # the progressive GAN's width at 8×8 in G and D (32 at 4×4)


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
    batch 64; Karras et al.'s Adam β = (0, 0.99) at rate 3e-3 for both nets (2e-3 in full); D has the minibatch
    standard deviation before its 4×4 trunk (``ProgressiveDiscriminator(minibatch_std=True)``); both
    nets are 32 channels wide at 4×4 and 8 at 8×8 (``channels_8=8``: G's 8×8 block maps 32 → 8,
    D's fromRGB_8 gives 8 channels that its 8×8 block maps back to 32). The judge-confident share
    rises with the number of 8×8 steps (it was still rising at the end of every old run), and an
    8×8 step at width 32 cost about 3× a 4×4 step: the narrow 8×8 stage buys the steps. Judged on
    2000 samples (was 500): the judged share's sampling error is about 1 point.

    Quick, 1400 8×8 steps (since a scan at seeds 9-11), seeds 0-11: confident 84.2/88.15/88.8/89.15/
    85.25/84.85/84.85/89.45/85.0/89.45/88.4/82.9%, seeds 12-15 89.85/88.45/89.1/83.15%; ~28 s CPU a
    seed (the judge trained once per process). With 1000 8×8 steps seed 11 scored 65.3% (bar 70%):
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
    the EMA's samples every 50 steps of the fade-in and 8×8 phases (500 fixed z, at the current α)
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
        batch_size=64,
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
        # 2000 samples: the judged share's sampling error (≈ 1 point) stays well inside the margin
        imgs = ema.module(torch.randn(2000, 16, generator=g).to(ctx.device), 8, 1.0)
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
        config={**vars(cfg), "codes": DIGIT_CODES, "ema_decay": EMA_DECAY, "channels": 32, "channels_8": C8},
    )
