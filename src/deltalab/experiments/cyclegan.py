"""Chapter G: CycleGAN between digits and restyled digits; Recycle-GAN on moving-shape clips."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data import load_digits
from deltalab.data.restyle import restyle
from deltalab.eval.judge import cached_judge, judge_scores
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt, sample_grid
from deltalab.models.cyclegan import ConvDiscriminator, CycleGAN, CycleGANConfig, train_cyclegan

DOMAIN_A, DOMAIN_B, NEITHER = 0, 1, 2


def _neither(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images in neither domain, a quarter each: invert-only, thicken-only, noise, or a constant
    image (a random grey level: the blank output of a collapsed translator must not count)."""
    thick = 1.0 - restyle(x)
    kind = torch.randint(0, 4, (x.shape[0], 1, 1, 1), generator=generator).to(x.device)
    noise = torch.rand(x.shape, generator=generator).to(x)
    level = torch.rand(x.shape[0], 1, 1, 1, generator=generator).to(x).expand_as(x)
    return torch.where(
        kind == 0, 1.0 - x, torch.where(kind == 1, thick, torch.where(kind == 2, noise, level))
    )


def random_batches(x: torch.Tensor, generator: torch.Generator) -> Callable[[int], torch.Tensor]:
    """``sample(n)``: n rows of x drawn with replacement (an unpaired domain's sampler)."""
    return lambda n: x[torch.randint(0, x.shape[0], (n,), generator=generator).to(x.device)]


@torch.no_grad()
def judged_as(domain: nn.Module, x: torch.Tensor, label: int) -> float:
    """The share of images x (N, 1, H, W) that the domain judge assigns to ``label``."""
    return (domain(x).argmax(1) == label).float().mean().item()


def train_domain_judge(x: torch.Tensor, steps: int, generator: torch.Generator) -> nn.Module:
    """A 3-way conv classifier of 8×8 images x (N, 1, 8, 8) of domain A: plain (A), restyled (B),
    neither (half-styled, noise or constant)."""
    judge = nn.Sequential(ConvDiscriminator(1, 16).net[:-1], nn.Flatten(), nn.Linear(32 * 2 * 2, 3)).to(
        x.device
    )
    opt = torch.optim.Adam(judge.parameters(), lr=3e-3)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (96,), generator=generator).to(x.device)
        a = x[idx]
        batch = torch.cat([a[:32], restyle(a[32:64]), _neither(a[64:], generator)])
        y = torch.tensor([DOMAIN_A] * 32 + [DOMAIN_B] * 32 + [NEITHER] * 32, device=x.device)
        loss = F.cross_entropy(judge(batch), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return judge.eval().requires_grad_(False)


@experiment(
    chapter="G",
    title="CycleGAN translates between unpaired digit styles",
    claim="two generators, two discriminators, cycle-consistency L1 translate between unpaired domains",
)
def cyclegan(ctx: Context):
    """`deltalab run cyclegan` — claim cyclegan. Expected: on test digits, cycle L1 ≤ 0.1 per pixel
    both ways, and ≥ 80% of translations judged in the target domain by a 3-way domain judge (plain /
    restyled / neither; "neither" includes constant images, so a blank translator fails). The digits judge's agreement on B→A translations is reported (class kept).
    Domain A: digits; B: thickened and inverted digits (disjoint halves of the train split, unpaired).
    Quick measured (350 steps): cycle L1 0.070 / 0.063, in-domain 99.8% / 98.9%, digit kept 92%.
    Quick: ~39 s CPU with the digits judge."""
    g = torch.Generator().manual_seed(ctx.seed + 6)
    torch.manual_seed(ctx.seed + 6)
    data = load_digits(images=True).to(ctx.device)
    half = data.x_train.shape[0] // 2
    xa, xb = data.x_train[:half], restyle(data.x_train[half:])  # unpaired: different digits

    cfg = CycleGANConfig(steps=ctx.pick(350, 3000), batch_size=64, lr=1e-3, lambda_cyc=10.0, lambda_id=1.0)
    model = CycleGAN(1, hidden=32).to(ctx.device)
    hist = train_cyclegan(model, random_batches(xa, g), random_batches(xb, g), cfg)
    domain = train_domain_judge(data.x_train, ctx.pick(400, 1000), g)

    a_test, y_test = data.x_test, data.y_test
    b_test = restyle(a_test)
    with torch.no_grad():
        ab, ba = model.G_ab(a_test), model.G_ba(b_test)
        cyc_a = (model.G_ba(ab) - a_test).abs().mean().item()
        cyc_b = (model.G_ab(ba) - b_test).abs().mean().item()
        in_b, in_a = judged_as(domain, ab, DOMAIN_B), judged_as(domain, ba, DOMAIN_A)
        real_a = judged_as(domain, a_test, DOMAIN_A)
        paired_err = (ab - b_test).abs().mean().item()
    kept = judge_scores(cached_judge(ctx), ba, y_test)
    ctx.log(
        f"cycle {cyc_a:.3f}/{cyc_b:.3f} in-domain {in_b:.2f}/{in_a:.2f} digit kept {kept['agreement']:.2f}"
    )

    fig, grid = plt.subplots(4, 10, figsize=(8, 3.4))
    rows = torch.cat([a_test[:10], ab[:10], b_test[:10], ba[:10]])
    sample_grid(grid, rows, "rows: A, G_ab(A), B, G_ba(B)")
    ctx.savefig(fig, suffix="samples")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(hist["cycle_l1"], lw=0.6, label="cycle L1")
    ax.plot(hist["d_loss"], lw=0.6, label="D loss (both)")
    ax.set(xlabel="step", title="CycleGAN training")
    ax.legend(fontsize=7)
    ctx.savefig(fig)
    metrics = {
        "cycle_l1_a": cyc_a,
        "cycle_l1_b": cyc_b,
        "cycle_l1_max": max(cyc_a, cyc_b),
        "in_domain_b_frac": in_b,
        "in_domain_a_frac": in_a,
        "in_domain_min_frac": min(in_a, in_b),
        "domain_judge_real_a_frac": real_a,
        "digit_kept_b_to_a": kept["agreement"],
        "paired_l1_a_to_b": paired_err,
    }
    return ctx.result(
        metrics,
        [Bar("cycle_l1_max", "<=", 0.1), Bar("in_domain_min_frac", ">=", 0.8)],
        bar="cycle L1 <= 0.1 per pixel both ways; >= 80% of translations judged in the target domain both ways",
        config={**vars(cfg), "domain_judge_steps": ctx.pick(400, 1000)},
    )


def temporal_error(g_ab: nn.Module, clips_a: torch.Tensor, partner_b: torch.Tensor) -> tuple[float, float]:
    """(flicker, frame error) of translated clips against the known B rendering.

    flicker = mean |(G(a_{t+1}) − G(a_t)) − (b_{t+1} − b_t)|: how far the translated video's change
    over time is from the true one; frame error = mean |G(a_t) − b_t|.
    """
    n, t = clips_a.shape[:2]
    with torch.no_grad():
        out = g_ab(clips_a.flatten(0, 1)).view_as(clips_a)  # (N, T, 1, H, W)
    flicker = ((out[:, 1:] - out[:, :-1]) - (partner_b[:, 1:] - partner_b[:, :-1])).abs().mean().item()
    return flicker, (out - partner_b).abs().mean().item()


@experiment(
    chapter="G",
    title="Recycle-GAN's temporal predictor and recycle loss keep translated videos consistent",
    claim="a temporal predictor and the recycle loss keep translated videos consistent over time",
    expected="fail",
    reason="no temporal gain on this data: with the collapse fixed (instance-norm tanh generators) the "
    "frame-wise CycleGAN already translates every frame almost exactly (flicker 0.0026 vs Recycle-GAN 0.0028, "
    "ratio 0.92 < 1.05; both 99% in-domain): the per-frame map is deterministic, so there is no flicker to remove",
)
def recycle_gan(ctx: Context):
    """`deltalab run recycle-gan` — claim recycle-gan. Expected: on held-out clips (video:a → video:b,
    moving squares), the flicker (error of the translated frame-to-frame change against the true one)
    of Recycle-GAN is lower than that of a frame-wise CycleGAN trained with the same steps, nets and
    seed: ``flicker_ratio_cyclegan_over_recycle >= 1.05`` (a 5% margin: "better" must be measurable),
    and (guard) >= 80% of both models' translations, both ways, are judged in the target domain by a
    3-way domain judge whose "neither" class includes constant images, so a blank translator, whose
    flicker is the same for both models, cannot pass. Generators and predictors are CycleGAN's
    instance-norm tanh design (the sigmoid nets collapsed to the blank background).
    Quick measured (300 steps): flicker CycleGAN 0.0026, Recycle-GAN 0.0028 (ratio 0.92), frame error
    0.0028 / 0.0031, in-domain 99.4% / 100% for both models, a blank frame judged B 0%. Before the fix
    both translators output the blank background (flicker 0.1416 for both, ratio 1.00). Expected
    failure, honestly: the restyle map is deterministic and local per frame, so a frame-wise
    translator that learns it is already temporally consistent and the recycle loss can only add
    competing terms (also seen at 400 steps, seed 0: 0.0016 vs 0.0017; seed 2: 0.0019 vs 0.0041; with
    per-frame noise σ 0.1 on A: 0.0033 vs 0.0082). Full (2000 steps): 0.00012 vs 0.00013 (ratio 0.95),
    in-domain ≥ 99.4% for both (~184 s CPU). Quick: ~37 s CPU.

    NOT seed-stable yet (issue 17). Quick ratio at seeds 0-7: 0.93 / 0.87 / 0.72 / 2.39 / 0.93 / 0.75 /
    0.93 / 0.93 — it passes at seed 3; at seeds 5-7 both 300-step translators are broken (frame error
    0.08-0.49 vs ~0.003 at seeds 0-4; in-domain min 0.67 / 0.84 / 0.81). Redesign tried, not adopted:
    ``video:flicker`` → ``video:toned`` (``data.video``: per-frame lamp brightness vs a per-clip tone,
    so a frame alone does not determine its translation), flicker = motion-compensated change of the
    translation minus a true rendering's, 256 held-out 8-frame clips (scratch runs, same nets, steps
    and data sizes, no judge). λ_rec 10: ratio 1.00 / 1.27 / 1.26 / 1.35 (seeds 0-3); λ_rec 30: 1.26 /
    1.51 / 1.52 / 2.09 / 1.17 / 0.52 / 0.96 / 0.92 (seeds 0-7; CycleGAN flicker 0.017-0.025 where the
    translation works, Recycle-GAN 0.010-0.020), the same broken translations at seeds 5-7 in both
    arms (also at lr 5e-4: 0.60 / 0.94 / 0.67; tone ≤ 0.3: 0.26 / 1.25 at seeds 5, 6). A binary
    variant (per-frame checker texture vs a per-clip solid/hollow square) gave 1.62 / 1.32 / 6.62 /
    2.28 / 1.07 / 0.44 / 0.89 (seeds 0-6). Wider nets (hidden 32, λ_rec 30, full claim with a judge
    trained on toned frames) at seed 5: ratio 0.80, and that judge calls a blank white frame B (the
    guard needs a "neither" class for it). Next: make the 300-step CycleGAN itself converge at every
    seed before comparing flicker."""
    from deltalab.data.video import make_clips
    from deltalab.models.recycle_gan import TemporalPredictor, recycle_loss_fn

    frames = 4
    clips_a, _ = make_clips(256, frames, 8, "a", seed=ctx.seed + 100)
    clips_b, _ = make_clips(256, frames, 8, "b", seed=ctx.seed + 200)  # different scenes: unpaired
    test_a, test_b = make_clips(128, frames, 8, "a", seed=ctx.seed + 300)
    clips_a, clips_b = clips_a.to(ctx.device), clips_b.to(ctx.device)
    test_a, test_b = test_a.to(ctx.device), test_b.to(ctx.device)
    frames_a, frames_b = clips_a.flatten(0, 1), clips_b.flatten(0, 1)  # (N·T, 1, 8, 8)
    cfg = CycleGANConfig(steps=ctx.pick(300, 2000), batch_size=32, lr=1e-3, lambda_cyc=10.0)
    judge_steps = ctx.pick(300, 1000)
    domain = train_domain_judge(frames_a, judge_steps, torch.Generator().manual_seed(ctx.seed + 9))
    metrics, hists = {}, {}
    for name in ("cyclegan", "recycle"):
        g = torch.Generator().manual_seed(ctx.seed + 8)
        torch.manual_seed(ctx.seed + 8)
        model = CycleGAN(1, hidden=16, norm=True).to(ctx.device)

        extra, params = None, None
        if name == "recycle":
            p_a, p_b = (TemporalPredictor(16, norm=True).to(ctx.device) for _ in range(2))
            extra = recycle_loss_fn(p_a, p_b, clips_a, clips_b, cfg.batch_size, g)
            params = [*p_a.parameters(), *p_b.parameters()]
        hists[name] = train_cyclegan(
            model, random_batches(frames_a, g), random_batches(frames_b, g), cfg, extra, params
        )
        flicker, frame_err = temporal_error(model.G_ab, test_a, test_b)
        with torch.no_grad():
            in_b = judged_as(domain, model.G_ab(test_a.flatten(0, 1)), DOMAIN_B)
            in_a = judged_as(domain, model.G_ba(test_b.flatten(0, 1)), DOMAIN_A)
        metrics |= {
            f"flicker_{name}": flicker,
            f"frame_error_{name}": frame_err,
            f"in_domain_b_frac_{name}": in_b,
            f"in_domain_a_frac_{name}": in_a,
        }
        ctx.log(
            f"{name}: flicker {flicker:.4f}, frame error {frame_err:.4f}, in-domain {in_b:.2f}/{in_a:.2f}"
        )
    blank = torch.ones_like(test_b[:, 0])  # (N, 1, 8, 8): the collapsed translator's output
    blank_b = judged_as(domain, blank, DOMAIN_B)
    real_b = judged_as(domain, test_b.flatten(0, 1), DOMAIN_B)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, h in hists.items():
        ax.plot(h["cycle_l1"], lw=0.6, label=f"{name}: cycle L1")
    ax.set(xlabel="step", title="frame-wise CycleGAN vs Recycle-GAN")
    ax.legend(fontsize=7)
    ctx.savefig(fig)
    metrics |= {
        "flicker_ratio_cyclegan_over_recycle": metrics["flicker_cyclegan"]
        / max(metrics["flicker_recycle"], 1e-12),
        "in_domain_min_frac": min(v for k, v in metrics.items() if k.startswith("in_domain_")),
        "domain_judge_real_b_frac": real_b,
        "domain_judge_blank_as_b_frac": blank_b,
    }
    return ctx.result(
        metrics,
        [Bar("flicker_ratio_cyclegan_over_recycle", ">=", 1.05), Bar("in_domain_min_frac", ">=", 0.8)],
        bar="translated-video flicker of Recycle-GAN >= 5% lower than frame-wise CycleGAN's (same steps, nets, "
        "seed); >= 80% of both models' translations judged in the target domain both ways",
        config={
            **vars(cfg),
            "frames": frames,
            "train_clips": 256,
            "test_clips": 128,
            "domain_judge_steps": judge_steps,
        },
    )
