"""The digits judge: a small convolutional classifier that scores generated 8×8 digits.

Every generative claim of chapter G is judged by the same yardstick, trained once on the fixed
digits train split with its own seed and shared by every claim and seed of a run, so that "the samples look like
digits" is a measured number, never a judgement by eye:

- ``confident_frac``: the share of samples the judge classifies with max softmax ≥ 0.9;
- ``class_entropy_bits``: the entropy (bits) of the histogram of predicted classes over samples
  (log2 10 = 3.32 is uniform over the ten digits; a collapsed generator scores near 0);
- ``agreement``: the share of samples whose predicted class equals a requested label (cGAN).

A plain classifier is confident about almost anything (trained on digits alone it called 60% of
uniform-noise images a digit with confidence ≥ 0.9), which would make these bars meaningless. So
the judge has an eleventh *junk* class, trained on images that are not digits: uniform noise,
pixel-shuffled digits, and 50/50 blends of two digits of different classes (the blurry average a
collapsed or undertrained generator draws). A sample counts as confident only when one *digit*
class gets ≥ 0.9 of the probability. Its scores on real test digits (94% confident, 98% accurate) are reported next to every
generative score as the ceiling.

Departures: none — this is a yardstick, not a paper. Shapes: B batch, images (B, 1, 8, 8) in [0, 1].
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data import load_digits
from deltalab.train.steps import fit_steps

JUNK = 10  # index of the "not a digit" class


def junk_images(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """As many non-digits as ``x`` (B, 1, 8, 8): thirds of noise, shuffled pixels, 2-class blends."""
    b = x.shape[0]
    kind = torch.randint(0, 3, (b,), generator=generator)
    noise = torch.rand(x.shape, generator=generator) * torch.rand(b, 1, 1, 1, generator=generator)
    perm = torch.argsort(torch.rand(b, 64, generator=generator), dim=1)
    shuffled = torch.gather(x.reshape(b, 64).cpu(), 1, perm).view_as(x)
    other = torch.randperm(b, generator=generator)
    blend = 0.5 * (x.cpu() + x.cpu()[other])
    blend[(y.cpu() == y.cpu()[other])] = noise[(y.cpu() == y.cpu()[other])]
    out = torch.where(
        (kind == 0).view(b, 1, 1, 1), noise, torch.where((kind == 1).view(b, 1, 1, 1), shuffled, blend)
    )
    return out.to(x.device)


class DigitsJudge(nn.Module):
    """conv(1→16) → conv(16→32, stride 2) → linear(512→11) on (B, 1, 8, 8) images; class 10 = junk."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # (B, 32, 4, 4)
            nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Linear(32 * 4 * 4, JUNK + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.shape[1] == 64:
            x = x.view(-1, 1, 8, 8)
        if x.shape[1:] != (1, 8, 8):
            raise ValueError(f"the digits judge expects (B, 1, 8, 8) or (B, 64) images, got {tuple(x.shape)}")
        return self.head(self.features(x))


@dataclass
class JudgeConfig:
    """How the judge is trained (defaults: ~8 s single-thread CPU, once per run)."""

    epochs: int = 80
    """passes over the 1347 training digits"""
    batch_size: int = 256
    """mini-batch size"""
    lr: float = 5e-3
    """AdamW learning rate"""
    weight_decay: float = 1e-3
    """AdamW weight decay (keeps the judge from being confident about everything)"""
    seed: int = 0
    """init and shuffling seed"""


def train_judge(cfg: JudgeConfig | None = None, device: str | torch.device = "cpu") -> DigitsJudge:
    """Train the judge on the fixed digits train split; returns it in eval mode, frozen.

    It draws from its own seed inside ``torch.random.fork_rng``: training it leaves the caller's
    random state as it was, so a claim's numbers do not depend on whether the judge was already
    trained in this process.
    """
    cfg = cfg or JudgeConfig()
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        g = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        data = load_digits(images=True).to(device)
        model = DigitsJudge().to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n = data.x_train.shape[0]
        batches = (
            idx.to(device)
            for _ in range(cfg.epochs)
            for idx in torch.randperm(n, generator=g).split(cfg.batch_size)
        )

        def loss_fn() -> torch.Tensor:
            idx = next(batches)
            x, y = data.x_train[idx], data.y_train[idx]
            logits = model(torch.cat([x, junk_images(x, y, g)]))  # (2B, 11)
            return F.cross_entropy(logits, torch.cat([y, torch.full_like(y, JUNK)]))

        fit_steps(loss_fn, opt, cfg.epochs * math.ceil(n / cfg.batch_size))
    model.eval().requires_grad_(False)
    return model


@functools.lru_cache(maxsize=4)
def _shared_judge(device: str) -> DigitsJudge:
    return train_judge(device=device)


def cached_judge(ctx: object) -> DigitsJudge:
    """The shared judge for ``ctx.device`` (a lab ``Context``), trained once per process.

    A yardstick, not a model under test: it has its own fixed seed (``JudgeConfig.seed``), so every
    claim and every seed of a run is judged by the same judge; it is frozen, so sharing is safe.
    """
    return _shared_judge(str(ctx.device))  # type: ignore[attr-defined]


@torch.no_grad()
def judge_scores(
    judge: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None, threshold: float = 0.9
) -> dict[str, float]:
    """Judge images (B, 1, 8, 8): confident share, class entropy, junk share, agreement with labels."""
    probs = F.softmax(judge(x.clamp(0, 1)), dim=1)  # (B, 11)
    conf, pred = probs[:, :JUNK].max(dim=1)  # the best digit class; junk mass counts against it
    hist = torch.bincount(pred, minlength=10).float() / pred.numel()
    entropy = -sum(float(p) * math.log2(float(p)) for p in hist if p > 0)
    out = {
        "confident_frac": float((conf >= threshold).float().mean()),
        "class_entropy_bits": entropy,
        "junk_frac": float((probs.argmax(dim=1) == JUNK).float().mean()),
    }
    if labels is not None:
        out["agreement"] = float((pred == labels.to(pred.device)).float().mean())
        out["agreement_confident"] = float(
            ((pred == labels.to(pred.device)) & (conf >= threshold)).float().mean()
        )
    return out
