"""Chapter S, masked prediction on digits: MAE reconstructs pixels (claim mae), JEPA predicts latents
(claim jepa). Both pre-train the same patch transformer (8×8 → 16 patches of 2×2, width 64, depth 2)
and are judged like SimCLR/BYOL: a few-label linear probe (10 labels per class, 5 draws) on the
mean of the patch tokens, against the same network at its random initialization.
"""

from __future__ import annotations

import copy

import torch

from deltalab.data import load_digits
from deltalab.eval.probes import embedding_std, probe, probe_every
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import collapse_figure, embedding_figure, plt
from deltalab.models.ssl.ema import linear_momentum
from deltalab.models.ssl.encoders import PatchTransformer
from deltalab.models.ssl.jepa import JEPA, JEPAConfig, train_jepa
from deltalab.models.ssl.mae import MAEConfig, random_keep, train_mae

# Every probe fits on one BLAS thread: the runs are pinned to one thread, and OpenBLAS's default of one
# thread per core spins on a busy machine (each fit ~10x dearer in CPU seconds; same accuracies).
BLAS = 1


@experiment(
    chapter="S",
    title="MAE: reconstructing masked patches teaches features",
    claim="masking most patches (~75%) and reconstructing them from the visible ones teaches useful features",
)
def mae(ctx: Context):
    """`deltalab run mae` — claim mae. MAE with 75% of the 16 patches masked (4 visible), a one-block
    decoder, AdamW, batch 128. Expected: few-label probe on the mean patch token ≥ 2 points above the
    random encoder (measured 71.6% vs 52.0% after 800 steps). The gain appears late: the probe first
    drops below the random encoder (43% at 300 steps) and crosses it near 550 steps, so fewer steps
    would fail. Reconstructions shown. Raw pixels are probed the same way and reported beside (not
    barred: CLAIMS.md bars the random encoder only); the MAE features stay far below them.
    Measured per seed (0-7): gain over the random encoder +19.6 / +11.9 / +19.5 / +22.4 / +22.6 /
    +16.2 / +33.6 / +24.7 points; raw pixels 88.5-90.1%, i.e. MAE −18.6 / −28.3 / −22.8 / −20.1 /
    −16.1 / −25.8 / −9.6 / −15.2 points below pixels (``gain_over_pixels_points``). A learning-rate
    grid {2e-3, 3e-3, 4e-3} read at 300-800 steps (seeds 0-2) found no shorter run that keeps the
    margin (3e-3 at 700 steps: +20.2 / +11.2 / +12.4), so the steps stay 800; the cost went to the
    probes' BLAS threads and a fused AdamW. Full profile (2000 steps, batch 256), seed 0: gain +37.6
    points, 57 s of CPU. Quick profile: ~10 s of CPU per seed idle (was ~16 s)."""
    cfg = MAEConfig(
        steps=ctx.pick(quick=800, full=2000), batch_size=ctx.pick(quick=128, full=256), fused=True
    )
    d = load_digits(images=True).to(ctx.device)
    torch.manual_seed(ctx.seed)
    encoder = PatchTransformer().to(ctx.device)
    random_encoder = copy.deepcopy(encoder)
    metrics = {
        "probe_random": probe(random_encoder.features, d, ctx.seed, blas_threads=BLAS),
        "probe_pixels": probe(lambda v: v.flatten(1), d, ctx.seed, blas_threads=BLAS),
    }
    curve: list[list[float]] = []
    model, losses = train_mae(
        encoder,
        d.x_train,
        cfg,
        seed=ctx.seed,
        on_step=probe_every(max(cfg.steps // 4, 1), encoder.features, d, ctx.seed, curve, blas_threads=BLAS),
    )
    ctx.series("mae_loss", losses)
    ctx.series("probe_curve", curve)
    encoder.eval()
    metrics["probe_mae"] = probe(encoder.features, d, ctx.seed, blas_threads=BLAS)
    metrics["gain_over_random_points"] = 100 * (metrics["probe_mae"] - metrics["probe_random"])
    metrics["gain_over_pixels_points"] = 100 * (metrics["probe_mae"] - metrics["probe_pixels"])
    x = d.x_test[:10]
    keep = random_keep(
        len(x), encoder.num_patches, model.num_keep, torch.Generator().manual_seed(ctx.seed)
    ).to(ctx.device)
    with torch.no_grad():
        test_loss, recon = model(
            d.x_test,
            random_keep(
                len(d.x_test),
                encoder.num_patches,
                model.num_keep,
                torch.Generator().manual_seed(ctx.seed + 1),
            ).to(ctx.device),
        )
        _, recon = model(x, keep)
    metrics["test_masked_mse"] = float(test_loss)
    metrics["pixel_variance"] = float(d.x_test.var())
    ctx.log(
        f"probe {metrics['probe_mae']:.3f} vs random {metrics['probe_random']:.3f}, pixels "
        f"{metrics['probe_pixels']:.3f}; masked MSE {test_loss:.4f}"
    )
    visible = torch.zeros(len(x), encoder.num_patches, device=ctx.device).scatter_(1, keep, 1.0)
    visible = visible.view(-1, 1, 4, 4).repeat_interleave(2, 2).repeat_interleave(2, 3)  # (B, 1, 8, 8)
    rows = [x * visible, recon, x]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2), gridspec_kw={"width_ratios": [2.2, 1]})
    axes[0].imshow(
        torch.cat([torch.cat(list(r[:, 0]), 1) for r in rows], 0).cpu().numpy(), cmap="gray", vmin=0, vmax=1
    )
    axes[0].set(title="visible 25% / reconstruction (visible patches pasted) / original")
    axes[0].axis("off")
    steps, accs = zip(*curve)
    axes[1].plot(steps, accs, "o-", label="MAE encoder")
    axes[1].axhline(metrics["probe_random"], color="k", ls="--", lw=0.9, label="random encoder")
    axes[1].axhline(metrics["probe_pixels"], color="k", ls=":", lw=0.9, label="raw pixels")
    axes[1].set(xlabel="pre-training step", ylabel="few-label probe", title="probe during pre-training")
    axes[1].legend()
    ctx.savefig(fig)
    return ctx.result(
        metrics,
        [Bar("gain_over_random_points", ">=", 2.0)],
        bar="few-label linear probe (10 labels/class) >= 2 points above the random encoder; reconstructions "
        "shown; raw pixels reported beside",
        config={
            **cfg.__dict__,
            "encoder": "PatchTransformer(patch_size=2, embed_dim=64, num_layers=2)",
            "features": "mean patch token",
        },
    )


@experiment(
    chapter="S",
    title="JEPA: predict masked blocks in latent space",
    claim="predicting masked blocks' latents (EMA target encoder) instead of pixels",
    expected="fail",
    reason="std of the mean-pooled target embedding 0.40/0.35/0.38/0.33/0.47/0.36/0.35/0.40x its initial value at "
    "seeds 0-7 (bar > 0.5x; probe gain +1.0/-0.2/+1.9/+3.9/-0.2/-3.2/+3.1/+2.6 points, bar >= 2) with I-JEPA's "
    "recipe and EMA 0.99 -> 1.0; no setting tried keeps both bars: whatever slows the target's drift (the paper's "
    "EMA 0.996 -> 1.0, tau0 0.993, lr 1e-3) holds the std near 0.5-0.6x but leaves the target near its "
    "initialization (gain about 0), a faster drift buys gain and loses std; weight decay (0.4, or on every "
    "parameter) changes neither",
)
def jepa(ctx: Context):
    """`deltalab run jepa` — claim jepa. I-JEPA (Assran et al. 2023) on the patch transformer: 4 target
    blocks of 15-20% of the image (aspect 0.75-1.5, one size per batch, each predicted on its own),
    a context block of 85-100% minus the targets, layer-normed targets, a narrow one-block predictor
    (width 32), no weight decay on biases/norms/positions, and an EMA target whose momentum rises
    linearly to 1.0 (the paper: 0.996 → 1.0 over ~10⁵ steps; here τ₀ = 0.99 over 200 steps, see
    below). The target encoder is probed (as in the paper). Bars: few-label probe ≥ 2 points above
    the random encoder, and no collapse: per-dimension std of the normalized mean-pooled embedding
    > 0.5× its value at initialization (BYOL's rule), recorded every 20 steps and plotted with the
    probe gain (figure ``jepa-training``).

    Expected failure, at every seed 0-7. Measured per seed 0-7 (quick, 200 steps, batch 128, τ₀ 0.99):
    std ratio 0.40/0.35/0.38/0.33/0.47/0.36/0.35/0.40, probe gain +1.0/-0.2/+1.9/+3.9/-0.2/-3.2/+3.1/+2.6
    points; the std falls over the first ~100 steps and then flattens (seed 7: 0.68, 0.50, 0.43, 0.40,
    0.40 at steps 40-200). Settings tried (std ratio at the end; target-probe gain in points):
    - this round, each at seeds 0/1 with the I-JEPA recipe (std at steps 40, 80, ..., 200 in the
      run's ``embedding_std_ratio_curve``): weight decay on every parameter (biases, norms,
      positions too) std 0.41/0.35, gain +1.0/-0.2; weight decay 0.4 (I-JEPA's final value) std
      0.41/0.35, gain +0.8/-0.8; τ₀ 0.993 std 0.47/0.41, gain -0.0/+0.1; lr 1e-3 std 0.58/0.50,
      gain -0.3/+0.1 — the std holds only where the target barely learns;
    - the previous recipe (2 possibly overlapping 2×2 targets, random context, EMA 0.95 → 0.99 cosine,
      MSE on raw tokens, decay on every parameter): std 0.30/0.23/0.33/0.23/0.35 at seeds 0-4,
      gain +3.9/+2.5/+2.4/+4.3/+1.9 (at 600 steps, seed 0: std 0.65, gain +1.4);
    - I-JEPA recipe with the paper's τ₀ 0.996: std 0.59/0.54/0.55/0.51/0.66, gain
      -0.4/+0.7/+0.5/+3.0/-2.2 at seeds 0-4 — the target hardly leaves its initialization (Σ(1−τ) ≈ 0.4
      over 200 steps) and seed 3 passes by a hair while the others fail, a verdict that flips;
      τ₀ 0.95: std 0.30/0.23, gain +2.8/+0.5 (seeds 0/1);
    - 2 larger targets (25-40%), τ₀ 0.99: std 0.41/0.33, gain +1.2/+1.3;
    - 600 steps, batch 64, τ₀ 0.99: std 0.29/0.21 (it keeps falling), gain +3.6/+3.1;
    - fixed (untrained) position embeddings, τ₀ 0.99: std 0.41/0.36, gain +1.1/-0.4;
    - 1×1 patches (8×8 grid, ~3× the cost, over the budget): τ₀ 0.996 std 0.76/0.63, gain -1.3/-0.8;
      τ₀ 0.993 std 0.61/0.49, gain +4.9/+2.5; τ₀ 0.99 std 0.52/0.42, gain +6.6/+5.8; a 2-block
      predictor at τ₀ 0.99 std 0.49/0.52, gain +3.3/+14.2 (single probes are noisy).
    A diagnosis (seed 1, τ₀ 0.99): the tokens do not collapse — the share of token variance that
    depends on the image stays 0.51 (0.50 at init) — but the image-dependent part of the mean
    token shrinks (0.58 → 0.22 in norm, beside a shared part of norm ~8): the tokens keep content
    that cancels in the mean. The random encoder's normalized embedding is itself nearly one
    direction (std 0.007-0.010 against 1/√64 = 0.125), so the ratio compares small numbers.
    Full profile (1000 steps), seed 0: std 0.30 (lowest 0.29 over training), gain +4.0 points: the
    expected failure holds. Quick profile: ~8 s of CPU per seed idle (the probes now fit on one BLAS
    thread; same numbers)."""
    cfg = JEPAConfig(steps=ctx.pick(quick=200, full=1000), batch_size=128, momentum=0.99)
    d = load_digits(images=True).to(ctx.device)
    torch.manual_seed(ctx.seed)
    encoder = PatchTransformer().to(ctx.device)
    random_encoder = copy.deepcopy(encoder)
    metrics = {"probe_random": probe(random_encoder.features, d, ctx.seed, blas_threads=BLAS)}
    with torch.no_grad():
        std0 = embedding_std(random_encoder.features(d.x_train))
        tok0 = embedding_std(random_encoder(d.x_train).flatten(0, 1))
    curve: list[list[float]] = []  # (step, probe of the target encoder, 2 draws)
    std_curve: list[list[float]] = [[0, 1.0]]  # (step, std ratio of the target encoder's embedding)
    std_every, probe_every_k = max(cfg.steps // 10, 1), max(cfg.steps // 5, 1)

    def on_step(step: int, model: JEPA) -> None:
        if (step + 1) % std_every == 0:
            with torch.no_grad():
                std_curve.append(
                    [step + 1, float(embedding_std(model.target.features(d.x_train)).mean() / std0.mean())]
                )
        if (step + 1) % probe_every_k == 0:
            curve.append([step + 1, probe(model.target.features, d, ctx.seed, draws=2, blas_threads=BLAS)])
            model.target.train()

    model, losses = train_jepa(encoder, d.x_train, cfg, seed=ctx.seed, on_step=on_step)
    ctx.series("jepa_loss", losses)
    ctx.series("probe_curve_target_encoder", curve)
    ctx.series("embedding_std_ratio_curve", std_curve)
    ctx.series(
        "ema_momentum",
        [linear_momentum(k, cfg.steps, cfg.momentum, cfg.final_momentum) for k in range(cfg.steps)],
    )
    target = model.target.eval()
    metrics["probe_jepa_target"] = probe(target.features, d, ctx.seed, blas_threads=BLAS)
    metrics["probe_jepa_context"] = probe(encoder.eval().features, d, ctx.seed, blas_threads=BLAS)
    metrics["gain_over_random_points"] = 100 * (metrics["probe_jepa_target"] - metrics["probe_random"])
    with torch.no_grad():
        std1 = embedding_std(target.features(d.x_train))
        tok1 = embedding_std(target(d.x_train).flatten(0, 1))
    metrics.update(
        embedding_std_initial=float(std0.mean()),
        embedding_std_final=float(std1.mean()),
        embedding_std_ratio=float(std1.mean() / std0.mean()),
        embedding_std_ratio_min_over_training=min(v for _, v in std_curve),
        token_std_ratio=float(tok1.mean() / tok0.mean()),
        one_over_sqrt_dim=float(std1.numel() ** -0.5),
        final_latent_mse=losses[-1],
    )
    ctx.series("embedding_std_per_dim_final", std1.tolist())
    ctx.log(
        f"probe {metrics['probe_jepa_target']:.3f} vs random {metrics['probe_random']:.3f}; "
        f"std ratio {metrics['embedding_std_ratio']:.2f}"
    )
    embedding_figure(
        ctx,
        {"JEPA target": target.features, "random encoder": random_encoder.features},
        d,
        curve,
        {"random encoder": metrics["probe_random"]},
    )
    collapse_figure(ctx, std0, std1, "JEPA")
    training_figure(ctx, std_curve, curve, metrics, cfg)
    return ctx.result(
        metrics,
        [Bar("gain_over_random_points", ">=", 2.0), Bar("embedding_std_ratio", ">", 0.5)],
        bar="few-label probe >= 2 points above the random encoder; no collapse: per-dimension std of the normalized "
        "embedding > 0.5x its initial value",
        config={
            **cfg.__dict__,
            "encoder": "PatchTransformer(patch_size=2, embed_dim=64, num_layers=2)",
            "features": "mean patch token",
        },
    )


def training_figure(
    ctx: Context, std_curve: list[list[float]], curve: list[list[float]], metrics: dict, cfg: JEPAConfig
) -> None:
    """JEPA over training: the std ratio (with the EMA momentum) and the target encoder's probe gain."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    steps, ratios = zip(*std_curve)
    axes[0].plot(steps, ratios, "o-", label="std ratio (target encoder)")
    axes[0].axhline(0.5, color="r", ls="--", lw=0.9, label="bar: > 0.5")
    axes[0].set(
        xlabel="pre-training step",
        ylabel="std / std at init",
        title="collapse check over training",
        ylim=(0, None),
    )
    twin = axes[0].twinx()
    twin.plot(
        range(cfg.steps),
        [linear_momentum(k, cfg.steps, cfg.momentum, cfg.final_momentum) for k in range(cfg.steps)],
        color="gray",
        lw=0.8,
    )
    twin.set_ylabel("EMA momentum τ", color="gray")
    axes[0].legend(fontsize=8, loc="lower left")
    if curve:
        s, accs = zip(*curve)
        # At step 0 the target encoder is the random encoder: gain 0.
        gains = [0.0] + [100 * (a - metrics["probe_random"]) for a in accs]
        axes[1].plot([0, *s], gains, "o-", label="target encoder (2 draws)")
    axes[1].plot([cfg.steps], [metrics["gain_over_random_points"]], "k*", ms=10, label="final (5 draws)")
    axes[1].axhline(2.0, color="r", ls="--", lw=0.9, label="bar: >= 2 points")
    axes[1].axhline(0.0, color="k", lw=0.6)
    axes[1].set(
        xlabel="pre-training step",
        ylabel="probe gain over random encoder (points)",
        title="probe gain over training",
    )
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    ctx.savefig(fig, "training")
