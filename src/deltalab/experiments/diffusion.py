"""Chapter G: DDPM (schedule, closed-form noising, 2-D and digits samples) and latent diffusion."""

from __future__ import annotations

import statistics

import torch
from scipy.stats import ks_2samp

from deltalab.analysis.timing import median_seconds
from deltalab.data import load_digits
from deltalab.data.toy2d import sample_toy2d
from deltalab.eval.generative import sliced_wasserstein, sliced_wasserstein_floor
from deltalab.eval.judge import cached_judge, judge_scores
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt, sample_grid
from deltalab.models.diffusion import MLPDenoiser, NoiseSchedule, lognormal_t_probs, train_diffusion
from deltalab.models.latent_diffusion import LatentAutoencoder, LatentDiffusion, train_autoencoder
from deltalab.models.unet import UNet
from deltalab.optim.averaging import ema_of

ALPHA_BAR_REF = {0: 0.9999, 99: 0.8970, 499: 0.07859, 999: 4.036e-5}  # linear 1e-4 → 0.02, T = 1000
DDIM_STEPS = 50
EMA_DECAY = 0.99  # few hundred steps: a short average (Ho et al. use 0.9999 over 800k steps)
T_LOGNORMAL = (0.3, 0.8)  # digits: mean, std of log σ_t for drawing t (EDM-style), mixed 20% with uniform
T_LOGNORMAL_2D = (-1.2, 1.2)  # 2-D (unit-variance data): EDM's own P_mean, P_std — trains the sharp low-σ end
# quick U-Net recipe: AdamW with a shorter second-moment memory (β2 0.99) and a light decoupled
# decay (62 -> 66% judge-confident at 600 steps, seeds 0-1), 1600 steps with t drawn low-discrepancy
# (stratified_t); full keeps plain Adam and i.i.d. t for 2000 steps (it passes)
UNET_STEPS = (1600, 2000)  # quick, full
UNET_ADAM_QUICK = {"betas": (0.9, 0.99), "weight_decay": 0.01, "stratified_t": True}
UNET_ADAM_FULL = {"betas": (0.9, 0.999), "weight_decay": 0.0, "stratified_t": False}
DIGITS_N = 1000  # judged samples


def pixel_ddpm(ctx: Context) -> tuple[UNet, NoiseSchedule, list[float]]:
    """The U-Net DDPM on digits scaled to [−1, 1], trained once per run (shared with latent-diffusion).

    Returns the EMA of the weights (what is sampled from), the schedule and the training losses.
    """

    def build() -> tuple[UNet, NoiseSchedule, list[float]]:
        torch.manual_seed(ctx.seed + 10)
        g = torch.Generator().manual_seed(ctx.seed + 10)
        x = load_digits(images=True).x_train.to(ctx.device) * 2 - 1  # (N, 1, 8, 8)
        model = UNet(base_channels=16, time_embed_dim=32).to(ctx.device)
        ema = ema_of(model, EMA_DECAY)
        schedule = NoiseSchedule()
        losses = train_diffusion(
            model,
            schedule,
            x,
            steps=ctx.pick(*UNET_STEPS),
            batch_size=64,
            lr=2e-2,
            generator=g,
            warmup=50,
            ema=ema,
            t_probs=lognormal_t_probs(schedule, *T_LOGNORMAL),
            fused=True,  # the same update in one kernel (less per-step overhead)
            **ctx.pick(UNET_ADAM_QUICK, UNET_ADAM_FULL),
        )
        return ema.module.eval(), schedule, losses

    return ctx.cached(("ddpm-digits-unet",), build)


def iid_floor(pool: torch.Tensor, reference: torch.Tensor, repeats: int = 10, seed: int = 0) -> float:
    """Mean SW between ``reference`` (n, D) and iid draws of n points from a large data ``pool``.

    What a perfect sampler (iid draws from the data distribution) scores against the same reference:
    the floor a model is judged against. make_moons spaces its angles evenly and splits n exactly
    50/50 between the moons, so two make_moons sets are closer to each other than iid samples ever
    are; a floor from such pairs is one that a perfect sampler misses by 1.4-2.7x (seeds 0-4).
    """
    g = torch.Generator().manual_seed(seed)
    vals = [
        sliced_wasserstein(
            pool[torch.randint(0, pool.shape[0], (reference.shape[0],), generator=g)],
            reference,
            generator=torch.Generator().manual_seed(seed + r),
        )
        for r in range(repeats)
    ]
    return sum(vals) / repeats


def closed_form_vs_iterated(schedule: NoiseSchedule, seed: int, n: int = 4000) -> dict[str, float]:
    """Two-sample KS p-values (min over t ∈ {99, 499} and both coordinates) of closed form vs iteration."""
    x0 = sample_toy2d("moons", 1, seed=seed)[0].expand(n, 2)  # one fixed x_0, n noisings
    g = torch.Generator().manual_seed(seed)
    pvals, mean_err = [], 0.0
    for t in (99, 499):
        it = schedule.iterate_noising(x0, t, generator=g)
        cf = schedule.q_sample(x0, torch.full((n,), t), torch.randn(n, 2, generator=g))
        pvals += [float(ks_2samp(it[:, d].numpy(), cf[:, d].numpy()).pvalue) for d in range(2)]
        mean_err = max(mean_err, float((it.mean(0) - cf.mean(0)).abs().max()))
    return {"noising_ks_min_pvalue": min(pvals), "noising_mean_abs_diff": mean_err}


@experiment(
    chapter="G",
    title="DDPM: linear β schedule, ε-prediction, U-Net with sinusoidal time embedding",
    claim="a linear β schedule (1e-4→0.02), ε-prediction loss, U-Net with sinusoidal time embedding; "
    "q(x_t given x_0) in closed form",
    group="pixel-ddpm",
)
def ddpm(ctx: Context):
    """`deltalab run ddpm` — claim ddpm. Expected: ᾱ at t = 0, 99, 499, 999 within 1e-3 (relative) of
    0.9999, 0.8970, 0.07859, 4.036e-5; closed-form vs iterated noising: KS p ≥ 0.01; moons samples
    (1000-step ancestral) SW ≤ 2× the data-vs-data floor (n = 1000); digits (50 strided ancestral
    steps, DDIM with η = 1) judge-confident ≥ 70%, class entropy ≥ 2 bits.

    The 2-D floor is the SW that iid draws from the data distribution (a 100k-point make_moons pool)
    score against the same fresh reference (``iid_floor``): what a perfect sampler scores. make_moons
    itself spaces its angles evenly and splits n exactly 50/50, so two make_moons sets sit closer
    than any iid sample can; against that older floor a perfect sampler (iid pool draws) scored
    1.41 / 2.01 / 1.38 / 2.72 / 1.88× at seeds 0-4, i.e. the old bar failed the ideal model 2 seeds in 5.
    Against the iid floor the perfect sampler scores 0.72-1.25× (10 seeds) and a 0.2 shift > 2×
    (unit test); the make_moons-pairs floor is still reported (``sw_2d_floor_make_moons_pairs``).

    Training: Adam with linear warm-up then cosine decay (2-D: lr 1e-2, 3000 steps of 256; digits: lr
    2e-2, quick 1600 steps of 64 with AdamW, β2 0.99, weight decay 0.01 and t drawn low-discrepancy
    within each batch (``stratified_t``, VDM); full 2000 steps of plain Adam, i.i.d. t), digits sampled
    from an EMA of the U-Net weights (decay 0.99), t drawn from a log-normal over σ_t (EDM; mixed 20%
    with uniform): log σ ~ N(−1.2, 1.2²) for the 2-D data (EDM's values; with uniform t the samples sat
    2.3× farther from the data manifold than fresh data, with it 1.15×), N(0.3, 0.8²) for digits (chosen
    among 5 settings at 600 steps). 1000 digits are judged (was 400).
    Quick measured, seeds 0-7: ᾱ exact to 5e-5, KS p ≥ 0.12; SW/iid floor 1.19 / 0.95 / 1.16 / 0.74 /
    1.54 / 1.17 / 0.97 / 1.32 (bar 2; against the make_moons-pairs floor 2.15 / 1.76 / 1.92 / 1.81 /
    2.86 at seeds 0-4); digits judge-confident 0.805 / 0.795 / 0.769 / 0.812 / 0.803 / 0.809 / 0.790 /
    0.781 (bar 0.70), 3.29-3.31 bits, junk 2-6%.
    Before (600 steps, i.i.d. t, 400 judged): 0.598 / 0.615 / 0.513 / 0.640 / 0.545 / 0.610 / 0.573 /
    0.600, an expected failure at every seed.
    How 600 -> 1600 steps was chosen (side runs, 1000 judged samples, seeds 0-7 unless noted; U-Net
    training CPU-s under heavy load): 1200 steps 0.770 / 0.753 / 0.751 / 0.776 / 0.729 / 0.737 / 0.711 /
    0.740 (~28 s; EMA 0.99 vs the raw weights within ±0.012, so the EMA neither helps nor costs: its
    update is within timing noise); + stratified t 0.809 / 0.757 / 0.740 / 0.743 / 0.764 / 0.755 / 0.728
    / 0.752 (mean +1.0 points, worst seed +1.7); 1600 steps (i.i.d. t) 0.814 / 0.798 / 0.760 / 0.756 at
    seeds 2 / 5 / 4 / 6 (~38 s), + stratified t 0.802 / 0.773 at seeds 4 / 6; 1200 steps at lr 3e-2 with
    warm-up 100 0.745 at seed 0 (lr 2e-2 kept); sampler on the 1200/1600-step models: 100 instead of 50
    DDIM steps +2.1 / −0.7 points at seeds 2 / 3 (1200 steps), +1.7 / −0.9 / +1.6 / −0.5 at seeds 6 / 4
    / 5 / 2 (1600 steps): not worth 2× the sampling; 30 steps −2 / −5 points (seeds 2 / 3); η = 0 −2 to −7 points. Per-step cost
    (cProfile, batch 64): ~52% is mkldnn's convolution backward, ~20% its forward, ~40% of a step is
    fixed per-step overhead (batch 32 costs 0.7× a batch-64 step); channels-last 1.05×, the im2col
    convolution 3-7× slower, no mid block 0.87×, one channel width (1, 1) 0.77×, base 8 0.69× — none
    cheap enough to buy the steps that width gives up (base 8 × 1500 steps scored 69%, see below).
    Settings tried earlier for the 600-step U-Net at seed 0 (seed 1 where noted; training CPU-s under
    load, ~15 s; same judge, 400 samples): lr 1e-2 / 2e-2 / 4e-2 → 56 / 62 / 56% (2e-2 inside the grid);
    one 8×8 level of 32 channels (lr 1e-2) 42%; three levels (1, 2, 2) 63% (1.2× cost); base 24, emb 64
    61% (1.7× cost); scale-shift (AdaGN) time conditioning 57%; batch 128 × 300 steps 36%; batch 32 ×
    900 (same cost) 63%, × 1200 (1.35× cost) 67%; (seeds 0-1, fused AdamW) plain Adam 62%, β2 0.99 64%,
    + weight decay 0.01 66% (kept), + lr 3e-2 64%, + lr 1e-2 (no decay) 59%, + zero-initialized residual
    convs 61% (seed 0), + min-SNR-5 t weighting 49%; base 8 × 1500 steps 69% (1.6× cost), × 1000 steps
    at lr 3e-2 52% (seed 0); batch 32 × 900 with β2 0.99 59%; sampler (seed 1): DDIM η = 0 / 0.5 / 1 →
    50 / 56 / 62%, η = 1 at 100 / 200 steps 64 / 57%. Accuracy grows with optimizer steps, not width.
    Quick: 46-51 s CPU per seed under heavy load (load ~7 on 2 cores; 55 s at seed 0 with the judge's
    training), ~1.6× the 600-step recipe measured the same way (35 s at seed 0), i.e. ~24 s on an idle
    machine (was ~15 s). The U-Net that latent-diffusion reuses is ~3/4 of it, the 2-D MLP ~1/6 (1500
    instead of 3000 MLP steps put seed 6 at 2.66× the floor, so the 2-D budget stays).
    Per-step overhead this round: the EMA update after each U-Net step (``AveragedModel.update_parameters``
    re-collects and regroups all parameters every call, ~1 ms of a ~20 ms step) is now the same foreach
    lerp over lists built once (``train_diffusion``): bit-identical weights, every number above unchanged
    at seeds 0-7; the U-Net step 20.6-22.5 -> 19.7-20.8 ms (A/B under load), ~1.5 s a seed. Tried and not
    kept: no mid block (0.87x the step) 0.752 / 0.762 confident at seeds 2 / 6 (side runs; 0.769 / 0.790
    with it); bf16 autocast and channels-last were no faster on this CPU (19.1 / 22-25 vs 19.4-20.0 ms);
    a narrower 2-D MLP (~3 s of the ~8 s 2-D part a seed; SW/iid floor at seeds 0-7, exact replays):
    width 64 at lr 1e-2 1.19 / 1.03 / 1.20 / 0.79 / 1.54 / 1.16 / 0.81 / 1.72, at 2e-2 1.22 / 1.06 / 1.14
    / 0.76 / 1.65 / 1.20 / 0.75 / 1.64; width 96 at 1e-2 1.05 / 0.85 / 1.19 / 0.83 / 1.70 / 1.25 / 0.86 /
    1.42, at 2e-2 1.09 / 0.91 / 1.27 / 0.88 / 1.66 / 1.21 / 0.92 / 1.45 — worst seed 1.64-1.72 against
    1.54 at width 128, a thinner margin, so width 128 stays.
    Quick, seeds 0-7, after: 54.1 / 54.1 / 54.4 / 46.2 / 46.7 / 46.7 / 47.3 / 47.8 s CPU under heavy load
    (load 15-20 on 2 cores); before 51.3 / 45.6 / 45.9 / 45.8 / 45.8 / 44.6 / 45.5 / 45.5 an hour earlier
    at a different load; side by side at seed 0: 54.3 before, 54.1 after.
    Full (2000 U-Net steps with plain Adam; MLP 256 wide, 5000 steps of 512), seed 0: every bar passes —
    SW 0.024 = 0.90× the iid floor 0.026 (1.62× the make_moons-pairs floor), digits 82% confident of
    1000 (81% of 400 before), 3.31 bits, 3% junk; 442 s wall / 97 s CPU under heavy load.
    """
    schedule = NoiseSchedule()
    rel = max(abs(schedule.alpha_bars[t].item() - v) / v for t, v in ALPHA_BAR_REF.items())
    noising = closed_form_vs_iterated(schedule, ctx.seed)

    g = torch.Generator().manual_seed(ctx.seed + 3)
    n = 1000
    x2 = sample_toy2d("moons", 4000, seed=ctx.seed + 5)[0]
    mu, sd = x2.mean(0), x2.std(0)
    hidden, batch, steps = ctx.pick((128, 256, 3000), (256, 512, 5000))
    den = MLPDenoiser(2, hidden_dim=hidden, num_layers=3).to(ctx.device)
    losses_2d = train_diffusion(
        den,
        schedule,
        ((x2 - mu) / sd).to(ctx.device),
        steps,
        batch,
        1e-2,
        g,
        warmup=200,
        t_probs=lognormal_t_probs(schedule, *T_LOGNORMAL_2D),
        fused=True,  # the same Adam update in one kernel: less per-step overhead on a small MLP
    )
    xs = schedule.sample_ancestral(den.eval(), (n, 2), ctx.device, g).cpu() * sd + mu
    fresh = sample_toy2d("moons", n, seed=ctx.seed + 77)[0]
    sw = sliced_wasserstein(xs, fresh, generator=torch.Generator().manual_seed(ctx.seed))
    pool = sample_toy2d("moons", 100_000, seed=ctx.seed + 500)[0]  # fine enough to draw iid from
    floor = iid_floor(pool, fresh, seed=ctx.seed)
    floor_pairs = sliced_wasserstein_floor(lambda k, s: sample_toy2d("moons", k, seed=s)[0], n, seed=ctx.seed)
    ctx.log(f"2-D: SW {sw:.4f}, iid floor {floor:.4f}, make_moons-pairs floor {floor_pairs:.4f}")

    unet, _, losses = pixel_ddpm(ctx)
    imgs = (
        schedule.sample_ddim(unet, (DIGITS_N, 1, 8, 8), DDIM_STEPS, ctx.device, g, clip=1.0, eta=1.0) + 1
    ) / 2
    scores = judge_scores(cached_judge(ctx), imgs)
    ctx.log(f"digits: {scores}")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].scatter(fresh[:, 0], fresh[:, 1], s=2, alpha=0.4, label="data")
    axes[0].scatter(xs[:, 0], xs[:, 1], s=2, alpha=0.4, label="DDPM")
    axes[0].set(title=f"moons: SW {sw:.3f} = {sw / floor:.2f}x the iid floor {floor:.3f} (bar 2x)")
    axes[0].legend(fontsize=7)
    axes[1].plot(losses_2d, lw=0.5, label="2-D MLP")
    axes[1].plot(losses, lw=0.5, label="digits U-Net")
    axes[1].set(title="ε-prediction loss", xlabel="step", yscale="log")
    axes[1].legend(fontsize=7)
    ts = torch.arange(schedule.timesteps)
    axes[2].plot(ts, schedule.alpha_bars, label="ᾱ_t")
    axes[2].plot(ts, schedule.betas / schedule.beta_end, label="β_t / β_max")
    axes[2].set(title="linear schedule", xlabel="t")
    axes[2].legend(fontsize=7)
    ctx.savefig(fig)
    x0 = load_digits(images=True).x_test[:6].to(ctx.device) * 2 - 1
    ts = (0, 99, 249, 499, 749, 999)
    cols = []
    for t in ts:
        xt = schedule.q_sample(
            x0, torch.full((6,), t, device=ctx.device), torch.randn(x0.shape, generator=g).to(x0)
        )
        cols.append(((xt + 1) / 2).clamp(0, 1))
    # row i: digit i; column j: noised to t_j
    images = torch.stack(cols, 1).flatten(0, 1)
    fig = sample_grid(images, "", cols=len(ts), figsize=(5, 5), col_titles=[f"t={t}" for t in ts])
    ctx.savefig(fig, suffix="noising")
    fig = sample_grid(
        imgs,
        f"DDPM digits ({DDIM_STEPS} strided ancestral steps): {scores['confident_frac']:.0%} judge-confident "
        f"(bar 70%), {scores['class_entropy_bits']:.2f} bits",
    )
    ctx.savefig(fig, suffix="samples")
    ctx.series("digits_loss", losses[::5])

    metrics = {
        "alpha_bar_max_rel_err": rel,
        **noising,
        "sw_2d": sw,
        "sw_2d_floor": floor,
        "sw_2d_over_floor": sw / floor,
        "sw_2d_floor_make_moons_pairs": floor_pairs,
        "digits_confident_frac": scores["confident_frac"],
        "digits_class_entropy_bits": scores["class_entropy_bits"],
        "digits_junk_frac": scores["junk_frac"],
    }
    bars = [
        Bar("alpha_bar_max_rel_err", "<=", 1e-3),
        Bar("noising_ks_min_pvalue", ">=", 0.01),
        Bar("sw_2d_over_floor", "<=", 2.0),
        Bar("digits_confident_frac", ">=", 0.7),
        Bar("digits_class_entropy_bits", ">=", 2.0),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="schedule values; closed form = iterated noising (KS p >= 0.01); 2-D SW <= 2x data floor; digits "
        "judge confidence >= 0.9 on >= 70% and class entropy >= 2 bits",
        config={
            "unet_steps": len(losses),
            "mlp_steps": len(losses_2d),
            "mlp_hidden_batch": [hidden, batch],
            "sampler_steps_digits": DDIM_STEPS,
            "sampler_eta_digits": 1.0,
            "ema_decay": EMA_DECAY,
            "t_lognormal_digits": T_LOGNORMAL,
            "t_lognormal_2d": T_LOGNORMAL_2D,
            "n_2d": n,
            "n_digits": DIGITS_N,
            "unet_stratified_t": ctx.pick(UNET_ADAM_QUICK, UNET_ADAM_FULL)["stratified_t"],
        },
    )


@experiment(
    chapter="G",
    title="Latent diffusion samples faster at similar quality",
    claim="diffusing in an autoencoder's latent space samples faster at similar quality",
    group="pixel-ddpm",
)
def latent_diffusion(ctx: Context):
    """`deltalab run latent-diffusion` — claim latent-diffusion. Expected: at equal DDIM steps (50),
    latent sampling ≥ 2× faster than the pixel U-Net (timed side by side, interleaved, median of 3);
    judge-confident share of latent samples no more than 10 points below the pixel model's.
    Quick measured, seeds 0-7: 44 / 44 / 44 / 46 / 45 / 47 / 43 / 46× faster (wall, heavy load);
    latent vs pixel judge-confident 0.7425 / 0.710 / 0.7775 / 0.740 / 0.785 / 0.7525 / 0.7775 / 0.695 vs
    0.750 / 0.700 / 0.685 / 0.690 / 0.7175 / 0.7075 / 0.705 / 0.715 (both DDIM η = 0, 400 samples): drops
    of 0.75 / −1.0 / −9.25 / −5.0 / −6.75 / −4.5 / −7.25 / 2.0 points (bar ≤ 10; the closest, seed 7,
    8 points inside).
    This round (cheaper, not weaker): the latent MLP is 128 wide at lr 8e-3 instead of 256 wide at
    4e-3 (3000 steps of 256, β2 0.99 both). A 128-wide step costs 0.44× a 256-wide one, and at the
    higher rate it samples better: side runs (1000 samples) 0.779 / 0.791 / 0.749 / 0.783 judge-confident
    at seeds 0 / 4 / 6 / 7 against 0.747 / 0.754 / 0.733 / 0.748 for width 256; width 128 at lr 4e-3
    0.712 / 0.732, width 256 at batch 128 0.698 / 0.722 (seeds 0 / 4), width 192 0.758 / 0.737 / 0.756 /
    0.764, width 128 × 4000 steps at 4e-3 0.731 / 0.739 / 0.723 / 0.741. The autoencoder trains with
    torch's fused Adam (same update, one kernel: 1.15-1.21 -> 0.96 ms a step).
    Before (width 256, lr 4e-3): 23 / 22 / 22 / 37 / 26 / 21 / 24 / 29× faster; latent 0.71 / 0.74 /
    0.77 / 0.73 / 0.77 / 0.75 / 0.76 / 0.70 vs the same pixel numbers: drops 4.0 / −3.5 / −8.3 / −4.0 /
    −5.5 / −4.5 / −5.8 / 1.5 points (the closest seed 6 points inside).
    The round before (pixel U-Net 600 -> 1600 steps, ddpm: 77-81% confident with η = 1) trained the
    latent model longer to stay "similar": autoencoder 1500 -> 3000 steps and latent MLP 1500 -> 3000
    steps. Side runs (1000 samples, η = 0): latent 0.641 / 0.632 at seeds 6 / 1 with the old recipe,
    0.667 / 0.662 with the 3000-step autoencoder, 0.714 / 0.685 with the 3000-step MLP, 0.733 / 0.748 at
    seeds 6 / 7 with both; at seed 6, stratified t −2.0 points and EMA 0.99 + warm-up 100 −0.7 (not kept).
    Judge on the autoencoder's reconstructions of test digits: 0.87 / 0.85 (1500 steps), 0.90 / 0.87
    (3000) at seeds 6 / 1. Earlier rounds (pixel U-Net at 600 steps): latent 0.58-0.67 vs pixel
    0.46-0.56, drops −19 to −4 points.
    Quick CPU per seed after ddpm in the same process (as the runner's pixel-ddpm group runs it; the
    U-Net is reused): 12.8-14.3 s under heavy load (load 15-20 on 2 cores), 22.7 s for the previous
    recipe at seed 0 run side by side (−8.4 s). Run alone it also trains the shared pixel U-Net (~30 s).
    Full (pixel U-Net 2000 steps), seed 0: 25× faster, latent 85% vs pixel 74% confident (drop −11
    points); 214 s wall / 60 s CPU under load after ddpm in the same process."""
    g = torch.Generator().manual_seed(ctx.seed + 4)
    torch.manual_seed(ctx.seed + 4)
    x = load_digits().x_train.to(ctx.device)  # (N, 64)
    ae = LatentAutoencoder(64, latent_dim=8).to(ctx.device)
    ae_losses = train_autoencoder(ae, x, ctx.pick(3000, 5000), generator=g)
    with torch.no_grad():
        z = ae.encode(x)
    z_mean, z_std = z.mean(0), z.std(0)
    # quick: 3000 steps of a width-128 MLP at lr 8e-3 with a shorter β2 memory (and a 3000-step
    # autoencoder). Width 256 at lr 4e-3 (before) scored 0.747 / 0.754 / 0.733 / 0.748 judge-confident at
    # seeds 0 / 4 / 6 / 7 (side runs, 1000 samples); width 128 at lr 8e-3 0.779 / 0.791 / 0.749 / 0.783
    # at 0.44x the cost (a 128-wide step is 2.3x cheaper; at lr 4e-3 it lost 2-3.5 points)
    lat_hidden, lat_steps, lat_lr, lat_betas = ctx.pick(
        (128, 3000, 8e-3, (0.9, 0.99)), (256, 10000, 2e-3, (0.9, 0.999))
    )
    den = MLPDenoiser(8, hidden_dim=lat_hidden, num_layers=3).to(ctx.device)
    lat_losses = train_diffusion(
        den, NoiseSchedule(), (z - z_mean) / z_std, lat_steps, 256, lat_lr, g, betas=lat_betas, fused=True
    )
    ldm = LatentDiffusion(ae, den.eval(), z_mean, z_std).eval()
    unet, schedule, _ = pixel_ddpm(ctx)

    n = 400
    out: dict[str, torch.Tensor] = {}

    def pixel() -> None:
        out["pixel"] = (schedule.sample_ddim(unet, (n, 1, 8, 8), DDIM_STEPS, ctx.device, g, clip=1.0) + 1) / 2

    def latent() -> None:
        out["latent"] = ldm.sample(schedule, n, DDIM_STEPS, g)

    times = {"pixel": [], "latent": []}
    for _ in range(3):  # interleaved pairs
        times["pixel"].append(median_seconds(pixel, 1, warmup=0))
        times["latent"].append(median_seconds(latent, 1, warmup=0))
    t_pix, t_lat = statistics.median(times["pixel"]), statistics.median(times["latent"])
    judge = cached_judge(ctx)
    s_pix, s_lat = judge_scores(judge, out["pixel"]), judge_scores(judge, out["latent"])
    ctx.log(f"pixel {t_pix:.3f}s {s_pix}; latent {t_lat:.3f}s {s_lat}")

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].bar(["pixel U-Net", "latent MLP"], [t_pix, t_lat])
    axes[0].set(
        title=f"sampling {n} digits, {DDIM_STEPS} DDIM steps: {t_pix / t_lat:.0f}x (bar 2x)", ylabel="seconds"
    )
    axes[1].plot(ae_losses, lw=0.5, label="autoencoder recon.")
    axes[1].plot(lat_losses, lw=0.5, label="latent ε loss")
    axes[1].set(yscale="log", xlabel="step")
    axes[1].legend(fontsize=7)
    ctx.savefig(fig)
    fig = sample_grid(
        out["latent"],
        f"latent diffusion: {s_lat['confident_frac']:.0%} judge-confident (pixel U-Net "
        f"{s_pix['confident_frac']:.0%}; bar: at most 10 points below)",
    )
    ctx.savefig(fig, suffix="samples")

    metrics = {
        "sample_seconds_pixel": t_pix,
        "sample_seconds_latent": t_lat,
        "sampling_speedup": t_pix / t_lat,
        "confident_frac_pixel": s_pix["confident_frac"],
        "confident_frac_latent": s_lat["confident_frac"],
        "quality_drop_points": 100 * (s_pix["confident_frac"] - s_lat["confident_frac"]),
        "ae_recon_mse": sum(ae_losses[-50:]) / 50,
    }
    bars = [Bar("sampling_speedup", ">=", 2.0), Bar("quality_drop_points", "<=", 10.0)]
    return ctx.result(
        metrics,
        bars,
        bar="latent sampling >= 2x faster (timing margin) at equal DDIM steps; judge-confident share within "
        "10 points below the pixel DDPM's",
        config={
            "ddim_steps": DDIM_STEPS,
            "latent_dim": 8,
            "n_samples": n,
            "latent_steps": lat_steps,
            "latent_hidden": lat_hidden,
            "latent_lr": lat_lr,
        },
    )
