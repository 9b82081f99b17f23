"""Chapter G capstone: DALL·E-2-style text-to-image on digits (claim text-to-image).

CLIP (chapter S, shared within a run through ``trained_clip``) embeds a prompt, a regression prior
maps it to a CLIP image embedding, and a U-Net decoder (chapter G) conditioned on that embedding draws
8×8 digits with classifier-free guidance. The shared digits judge scores what was drawn.
"""

from __future__ import annotations

import torch

from deltalab.data import load_digits
from deltalab.eval.judge import cached_judge, judge_scores
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.models.ssl.clip import HELD_OUT_TEMPLATES, TRAIN_TEMPLATES, CLIPConfig, caption, trained_clip
from deltalab.models.text_to_image import TextToImage, TextToImageConfig, build_text_to_image, grid_canvas

PHRASINGS = {"seen": TRAIN_TEMPLATES[0], "held_out": HELD_OUT_TEMPLATES[0]}


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over distinct pairs of the rows of x (B, D)."""
    b = x.shape[0]
    return float(torch.cdist(x, x).sum() / (b * (b - 1)))


def diversity_ratio(
    images: torch.Tensor, labels: torch.Tensor, real: torch.Tensor, real_y: torch.Tensor
) -> float:
    """Mean over classes of (mean pairwise distance of the samples of a class) / (same for real digits)."""
    ratios = [
        mean_pairwise_distance(images[labels == c].flatten(1))
        / mean_pairwise_distance(real[real_y == c].flatten(1))
        for c in labels.unique().tolist()
    ]
    return sum(ratios) / len(ratios)


def pick_per_class(y: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n random indices of each digit 0…9 in labels y (N,), class-major: (10·n,)."""
    y = y.cpu()
    return torch.cat(
        [
            torch.nonzero(y == c)[:, 0][torch.randperm(int((y == c).sum()), generator=generator)[:n]]
            for c in range(10)
        ]
    )


@torch.no_grad()
def draw(model: TextToImage, cond: torch.Tensor, guidance: float, seed: int) -> torch.Tensor:
    """Images for cond (B, E) with a fixed starting noise per seed (so every w sees the same x_T)."""
    return model.sample(cond, guidance, torch.Generator().manual_seed(seed))


@experiment(
    chapter="G",
    group="clip",  # runs beside the clip claim, whose trained CLIP it reuses (built once per seed)
    title="Text-to-image: CLIP prior + guided diffusion decoder draws the prompted digit",
    claim="DALL·E-2-style: a prior maps a CLIP text embedding to a CLIP image embedding, and a diffusion "
    "decoder conditioned on it (with classifier-free guidance) draws what the prompt says",
)
def text_to_image(ctx: Context):
    """`deltalab run text-to-image` — claim text-to-image. Prompts "a photo of the digit seven" (a
    phrasing CLIP and the prior saw) and "a handwritten digit seven" (held out from both) for every
    digit; guidance swept over w. Expected at the best w: the judge agrees with the prompted digit with
    confidence >= 0.9 on >= 80% of the samples for each phrasing, and the mean pairwise distance of a
    prompt's samples is >= 50% of that of real test digits of the class; diversity is measured at the
    same w as fidelity (the operating point), from 24 samples a prompt. Measured (quick, seeds 0/1/2,
    seen/held-out): best w = 5 at every seed (grid 1, 2, 3, 5, 8); agreement 0.93/0.88, 0.90/0.92,
    0.96/0.98; diversity 0.59/0.60, 0.60/0.62, 0.58/0.58; w = 1 (no guidance) only 0.32, 0.29, 0.28
    (seen). Diversity falls with w (seed 0: 0.86 at w = 1, 0.64 at 3, 0.59 at 5, 0.60 at 8). With 12
    samples a prompt (before) seed 0 gave diversity 0.55/0.61. The regression prior against decoding
    real test-image embeddings (the best any prior could hand the decoder; seed 0): oracle agreement
    0.89, diversity 0.65 — a diffusion prior could add at most ~0.06 diversity and costs thousands of
    steps; hence regression.
    Full (1500 decoder steps, seed 0): best w = 3, agreement 0.997/0.997, diversity 0.61/0.63, ~120 s.
    Quick, seeds 0-7 (seen/held-out; the decoder on torch's fused Adam, which left every number as it
    was to 1e-4): best w 5 / 5 / 5 / 5 / 5 / 5 / 3 / 5; agreement 0.95/0.93, 0.98/0.98, 0.97/0.99,
    0.94/0.94, 0.95/0.93, 0.95/0.94, 0.90/0.89, 0.87/0.90 (bar 0.8); diversity 0.584/0.624,
    0.581/0.593, 0.580/0.585, 0.606/0.592, 0.520/0.560, 0.616/0.594, 0.641/0.646, 0.594/0.617 (bar 0.5;
    the closest, seed 4 seen, 2 points inside). Seeds 11-16 (a later scan): agreement 0.80/0.84,
    0.98/0.97, 0.92/0.88, 0.87/0.91, 0.86/0.91, 0.83/0.80 — seeds 11 and 16 sit exactly on the bar
    (192 of 240) — diversity 0.59/0.57, 0.56/0.56, 0.60/0.60, 0.62/0.60, 0.59/0.61, 0.68/0.67. More
    decoder steps trade one margin for the other (seeds 11 / 16, seen/held-out): 500 steps agreement
    0.94/0.97, 0.94/0.92, diversity 0.54/0.53, 0.57/0.57; 600 steps 0.98/0.99, 0.98/0.97, diversity
    0.54/0.53, 0.56/0.57 (~+5-8 s a seed), so 400 stay. Tried for a cheaper decoder (seed 4): lr 1e-2 with batch
    64 (0.63x the step) agreement 0.69/0.60, lr 1e-2 with 300 steps 0.57/0.53 — both fail; kept lr 5e-3.
    Quick: 21.5-22.6 s CPU per seed under heavy load (load ~15-20 on 2 cores) including CLIP (300
    steps, ~5 s, shared with the clip claim when both run in one process) and the decoder (~13 s;
    fused Adam: a batch-128 step 33.5-36 -> 30.4-32.4 ms, within the run's timing noise)."""
    cfg = TextToImageConfig(decoder_steps=ctx.pick(400, 1500))
    clip = trained_clip(ctx, CLIPConfig(steps=ctx.pick(quick=300, full=1000)))
    model, losses = build_text_to_image(cfg, ctx.seed, ctx.device, clip=clip, log=ctx.log)
    judge = cached_judge(ctx)
    d = load_digits(images=True).to(ctx.device)

    # 24 samples a prompt (276 pairs per class) for the diversity estimate: with 12 (66 pairs) its
    # seed-to-seed noise was a third of the margin. w = 8 keeps the chosen w (5) inside the grid.
    per_prompt = ctx.pick(24, 32)
    guidances = ctx.pick((1.0, 2.0, 3.0, 5.0, 8.0), (0.0, 1.0, 2.0, 3.0, 5.0, 8.0))
    labels = torch.arange(10, device=ctx.device).repeat_interleave(per_prompt)  # (10·n,)
    prompts = {k: [caption(c, tpl, False) for c in range(10)] for k, tpl in PHRASINGS.items()}
    with torch.no_grad():
        cond = torch.cat(
            [model(prompts[k]).repeat_interleave(per_prompt, 0) for k in PHRASINGS]
        )  # (2·10·n, E)
    sweep: dict[str, dict[str, list[float]]] = {k: {"agree": [], "diversity": []} for k in PHRASINGS}
    images: dict[float, torch.Tensor] = {}
    for w in guidances:
        images[w] = draw(model, cond, w, ctx.seed + 5)
        for i, k in enumerate(PHRASINGS):
            x = images[w][i * len(labels) : (i + 1) * len(labels)]
            sweep[k]["agree"].append(judge_scores(judge, x, labels)["agreement_confident"])
            sweep[k]["diversity"].append(diversity_ratio(x, labels, d.x_test, d.y_test))
        ctx.log(f"w={w}: " + ", ".join(f"{k} {sweep[k]['agree'][-1]:.2f}" for k in PHRASINGS))
    mean_agree = [
        sum(sweep[k]["agree"][j] for k in PHRASINGS) / len(PHRASINGS) for j in range(len(guidances))
    ]
    best = max(range(len(guidances)), key=lambda j: mean_agree[j])
    w_best = guidances[best]

    # the prior's cost: decode the embeddings of real test images of each class instead (any prior's ceiling)
    idx = pick_per_class(d.y_test, per_prompt, torch.Generator().manual_seed(ctx.seed + 6))  # (10·n,)
    with torch.no_grad():
        oracle = draw(model, model.clip.encode_image(d.x_test[idx]), w_best, ctx.seed + 5)
    oracle_agree = judge_scores(judge, oracle, d.y_test[idx])["agreement_confident"]
    oracle_div = diversity_ratio(oracle, d.y_test[idx], d.x_test, d.y_test)
    real_scores = judge_scores(judge, d.x_test, d.y_test)

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for k, style in zip(PHRASINGS, ("-o", "--s"), strict=True):
        axes[0].plot(guidances, sweep[k]["agree"], style, label=f"{k}: {PHRASINGS[k].format('…')}")
        axes[1].plot(guidances, sweep[k]["diversity"], style, label=k)
    axes[0].axhline(0.8, color="k", lw=0.6, ls=":")
    axes[1].axhline(0.5, color="k", lw=0.6, ls=":")
    axes[0].set(
        xlabel="guidance w", ylabel="judge agrees, conf ≥ 0.9", title="fidelity vs guidance", ylim=(0, 1.02)
    )
    axes[1].set(xlabel="guidance w", ylabel="pairwise distance / real digits'", title="diversity vs guidance")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    axes[2].plot(losses["decoder"], lw=0.5)
    axes[2].set(title="decoder ε loss (conditioning dropout 10%)", xlabel="step", yscale="log")
    ctx.savefig(fig)
    fig, axes = plt.subplots(1, 3, figsize=(13, 5.2))
    shown = min(per_prompt, 8)
    panels = [images[w_best][i * len(labels) : (i + 1) * len(labels)] for i in range(len(PHRASINGS))] + [
        oracle
    ]
    titles = [f'"{PHRASINGS[k].format("<digit>")}"' for k in PHRASINGS] + ["decoded real-image embeddings"]
    for ax, x, title in zip(axes, panels, titles, strict=True):
        rows = x.view(10, per_prompt, 1, 8, 8)[:, :shown].reshape(-1, 1, 8, 8)
        ax.imshow(grid_canvas(rows, shown), cmap="gray_r", vmin=0, vmax=1)
        ax.set(title=f"{title}, w={w_best:g}", xticks=[], yticks=range(5, 90, 9)[:10], yticklabels=range(10))
        ax.title.set_fontsize(8)
    ctx.savefig(fig, suffix="samples")
    for k in PHRASINGS:
        ctx.series(f"agree_{k}", sweep[k]["agree"])
        ctx.series(f"diversity_{k}", sweep[k]["diversity"])
    ctx.series("guidance", list(guidances))
    ctx.series("decoder_loss", losses["decoder"][::5])

    metrics = {
        "best_guidance": w_best,
        "agree_conf_seen": sweep["seen"]["agree"][best],
        "agree_conf_held_out": sweep["held_out"]["agree"][best],
        "diversity_ratio_seen": sweep["seen"]["diversity"][best],
        "diversity_ratio_held_out": sweep["held_out"]["diversity"][best],
        "agree_conf_w1": sweep["seen"]["agree"][guidances.index(1.0)],
        "oracle_agree_conf": oracle_agree,
        "oracle_diversity_ratio": oracle_div,
        "real_test_agree_conf": real_scores["agreement_confident"],
        "decoder_final_loss": sum(losses["decoder"][-50:]) / 50,
    }
    bars = [
        Bar("agree_conf_seen", ">=", 0.8),
        Bar("agree_conf_held_out", ">=", 0.8),
        Bar("diversity_ratio_seen", ">=", 0.5),
        Bar("diversity_ratio_held_out", ">=", 0.5),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="at the best guidance w, for both phrasings (one held out from CLIP and the prior): judge agrees "
        "with the prompted digit at confidence >= 0.9 on >= 80% of samples; mean pairwise distance of a "
        "prompt's samples >= 50% of real test digits' of the class",
        config={
            **cfg.__dict__,
            "samples_per_prompt": per_prompt,
            "guidances": list(guidances),
            "phrasings": PHRASINGS,
        },
    )
