"""Chapter S, CLIP on digits: zero-shot classification from prompts never seen in training (claim clip).

The trained model comes from ``deltalab.models.ssl.clip.trained_clip(ctx)`` so that other claims of
the same run (the text-to-image capstone) reuse it instead of training it again.
"""

from __future__ import annotations

import torch

from deltalab.data import load_digits
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.models.ssl.clip import HELD_OUT_TEMPLATES, TRAIN_TEMPLATES, CLIPConfig, caption, trained_clip


@experiment(
    chapter="S",
    group="clip",  # text-to-image reuses this seed's trained CLIP (ctx.cached) in the same process
    title="CLIP classifies digits zero-shot from prompts",
    claim="a contrastive image-text model (symmetric cross-entropy, learned temperature) classifies zero-shot "
    "from prompts",
)
def clip(ctx: Context):
    """`deltalab run clip` — claim clip. A CNN image tower and a bag-of-words text tower trained with
    CLIP's symmetric cross-entropy (learned logit scale, clamped at 100) on digits with captions from
    6 templates ("a handwritten 3", "a photo of the digit three", ...). Expected: mean zero-shot test
    accuracy over the 4 held-out phrasings × (word, numeral) ≥ 80% (measured ~97.7%; chance 10%).
    Quick profile: ~12 s."""
    cfg = CLIPConfig(steps=ctx.pick(quick=300, full=1000))
    model = trained_clip(ctx, cfg)
    d = load_digits(images=True).to(ctx.device)
    acc: dict[str, float] = {}
    for tpl in HELD_OUT_TEMPLATES + TRAIN_TEMPLATES:
        for numeral in (False, True):
            acc[caption(3, tpl, numeral)] = float(
                (model.zero_shot(d.x_test, tpl, numeral) == d.y_test).float().mean()
            )
    held = [acc[caption(3, t, n)] for t in HELD_OUT_TEMPLATES for n in (False, True)]
    seen = [acc[caption(3, t, n)] for t in TRAIN_TEMPLATES for n in (False, True)]
    metrics = {
        "zero_shot_heldout_mean": sum(held) / len(held),
        "zero_shot_heldout_min": min(held),
        "zero_shot_train_phrasings_mean": sum(seen) / len(seen),
        "logit_scale": model.logit_scale.item(),
        "chance": 0.1,
    }
    ctx.log(
        f"zero-shot held-out phrasings {metrics['zero_shot_heldout_mean']:.3f} (min {metrics['zero_shot_heldout_min']:.3f})"
    )
    with torch.no_grad():
        img = model.encode_image(d.x_test)  # (N, E)
        class_img = torch.stack([img[d.y_test == c].mean(0) for c in range(10)])  # (10, E)
        prompts = model.encode_text([caption(c, HELD_OUT_TEMPLATES[0], False) for c in range(10)])
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw={"width_ratios": [1, 1.2], "wspace": 0.75})
    im = axes[0].imshow((class_img @ prompts.T).cpu().numpy(), cmap="viridis")
    axes[0].set(
        xlabel=f'prompt "{HELD_OUT_TEMPLATES[0]}" for digit',
        ylabel="test images of digit",
        title="cosine: class-mean image vs prompt",
        xticks=range(10),
        yticks=range(10),
    )
    fig.colorbar(im, ax=axes[0])
    names = list(acc)
    colors = [
        "tab:orange"
        if any(name == caption(3, t, n) for t in HELD_OUT_TEMPLATES for n in (False, True))
        else "tab:blue"
        for name in names
    ]
    axes[1].barh(range(len(names)), list(acc.values()), color=colors)
    axes[1].set_yticks(
        range(len(names)), [n.replace("3", "{3}").replace("three", "{three}") for n in names], fontsize=7
    )
    axes[1].axvline(0.8, color="k", ls="--", lw=0.8)
    axes[1].set(xlim=(0, 1), xlabel="zero-shot test accuracy", title="orange: held-out phrasings; blue: seen")
    ctx.savefig(fig)
    return ctx.result(
        metrics,
        [Bar("zero_shot_heldout_mean", ">=", 0.8)],
        bar="zero-shot test accuracy >= 80% (mean over prompt phrasings held out from training)",
        config={
            **cfg.__dict__,
            "held_out_templates": list(HELD_OUT_TEMPLATES),
            "train_templates": list(TRAIN_TEMPLATES),
        },
    )
