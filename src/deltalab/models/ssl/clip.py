"""CLIP: contrastive image–text pre-training, then zero-shot classification by prompts.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
arXiv:2103.00020. For a batch of N (image, caption) pairs:

    I = normalize(W_i·f_img(x)),  T = normalize(W_t·f_txt(caption))           (N, E) each
    logits = s·I·Tᵀ,  s = exp(t) clamped to ≤ 100 (t learned, init log(1/0.07))  (N, N)
    L = ½(CE(logits, diag) + CE(logitsᵀ, diag))                                 (losses.clip_loss)

Zero-shot: embed one prompt per class ("a handwritten 3", ...), predict argmax_c I·T_c.

API for reuse (e.g. a text → image-embedding prior): ``CLIP.encode_text(list[str])`` and
``CLIP.encode_image(x)`` return unit-norm (B, E) embeddings; ``trained_clip(ctx)`` builds (once per
run, through ``ctx.cached``) a CLIP trained on the digits train set; ``DIGIT_WORDS``, the caption
templates and ``caption(label, template, numeral)`` say which texts it knows.

Departures:
1. The text encoder is a bag of words (masked mean of word embeddings → MLP), not a transformer:
   captions are a handful of words from a closed vocabulary (``tokenizer.py``).
2. The image encoder is the chapter's small CNN (``ConvEncoder``), trained from scratch with AdamW.
3. Captions are generated from templates × (word | numeral); same-class captions in a batch count as
   negatives, as in CLIP (duplicates make the loss floor > 0, harmless for zero-shot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from deltalab.models.ssl.encoders import ConvEncoder
from deltalab.models.ssl.losses import clip_loss
from deltalab.models.ssl.tokenizer import WordTokenizer
from deltalab.train.steps import fit_steps

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TRAIN_TEMPLATES = (
    "a photo of the digit {}",
    "a handwritten {}",
    "an image of a {}",
    "the number {}",
    "a picture of a handwritten number {}",
    "a small image of the digit {}",
)
"""Caption phrasings seen in training."""
HELD_OUT_TEMPLATES = (
    "a handwritten digit {}",
    "an image of the number {}",
    "a photo of a {}",
    "the small handwritten {}",
)
"""Phrasings never seen in training (every word is in the vocabulary): the zero-shot prompts."""


def caption(label: int, template: str, numeral: bool) -> str:
    """``template`` filled with the digit as a word ("three") or a numeral ("3")."""
    if not 0 <= label <= 9:
        raise ValueError(f"label must be a digit 0..9, got {label}")
    return template.format(str(label) if numeral else DIGIT_WORDS[label])


def digit_tokenizer() -> WordTokenizer:
    """The closed vocabulary of every template with every digit word and numeral."""
    texts = [
        caption(c, t, n)
        for t in TRAIN_TEMPLATES + HELD_OUT_TEMPLATES
        for c in range(10)
        for n in (False, True)
    ]
    return WordTokenizer.from_texts(texts)


class BagOfWordsEncoder(nn.Module):
    """(ids (B, L), mask (B, L)) → (B, out_features): masked mean of word embeddings → MLP."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, out_features: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, out_features)
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(self.embed.weight.dtype)  # (B, L, 1)
        pooled = (self.embed(ids) * m).sum(1) / m.sum(1).clamp_min(1)  # (B, dim)
        return self.mlp(pooled)


class CLIP(nn.Module):
    """Image and text towers into one E-dim space, with a learned, clamped logit scale."""

    def __init__(
        self,
        tokenizer: WordTokenizer,
        embed_dim: int = 64,
        init_temperature: float = 0.07,
        max_logit_scale: float = 100.0,
    ) -> None:
        super().__init__()
        if init_temperature <= 0 or max_logit_scale <= 1:
            raise ValueError(
                f"need init_temperature > 0 and max_logit_scale > 1, got {init_temperature}, {max_logit_scale}"
            )
        self.tokenizer = tokenizer
        self.image_encoder = nn.Sequential(
            ConvEncoder(out_features=128), nn.ReLU(), nn.Linear(128, embed_dim)
        )
        self.text_encoder = BagOfWordsEncoder(len(tokenizer), 64, embed_dim)
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)))
        self.max_logit_scale = max_logit_scale

    @property
    def logit_scale(self) -> torch.Tensor:
        """s = exp(t), clamped to ≤ max_logit_scale (CLIP clamps at 100 for stability)."""
        return self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 8, 8) images in [0, 1] → (B, E) unit-norm embeddings."""
        if x.dim() != 4 or x.shape[1:] != (1, 8, 8):
            raise ValueError(f"expected images of shape (B, 1, 8, 8), got {tuple(x.shape)}")
        return nn.functional.normalize(self.image_encoder(x), dim=-1)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """A list of B captions (words from ``tokenizer.vocab``) → (B, E) unit-norm embeddings."""
        ids, mask = self.tokenizer.encode(texts)
        dev = self.log_logit_scale.device
        return nn.functional.normalize(self.text_encoder(ids.to(dev), mask.to(dev)), dim=-1)

    def forward(self, x: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """The symmetric contrastive loss of N images and their N captions."""
        return clip_loss(self.encode_image(x), self.encode_text(texts), self.logit_scale)

    @torch.no_grad()
    def zero_shot(self, x: torch.Tensor, template: str, numeral: bool = False) -> torch.Tensor:
        """(B,) predicted digit: the class whose prompt ``template`` embeds closest to each image."""
        prompts = self.encode_text([caption(c, template, numeral) for c in range(10)])  # (10, E)
        return (self.encode_image(x) @ prompts.T).argmax(1)


@dataclass
class CLIPConfig:
    """CLIP training knobs."""

    steps: int = 400
    """optimizer steps"""
    batch_size: int = 128
    """image–caption pairs per step"""
    lr: float = 3e-3
    """AdamW learning rate"""
    weight_decay: float = 1e-4
    """AdamW weight decay"""
    embed_dim: int = 64
    """E, the joint embedding size"""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError(
                f"need steps >= 0, batch_size >= 2, lr > 0, got {self.steps}, {self.batch_size}, {self.lr}"
            )


def train_clip(model: CLIP, x: torch.Tensor, y: torch.Tensor, cfg: CLIPConfig, seed: int = 0) -> list[float]:
    """Train on images x (N, 1, 8, 8) with captions drawn from TRAIN_TEMPLATES for labels y; losses."""
    # foreach: the multi-tensor kernel, bit-identical updates, less per-step overhead
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    g = torch.Generator().manual_seed(seed)
    model.train()

    def loss_fn() -> torch.Tensor:
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=g)
        tpl = torch.randint(0, len(TRAIN_TEMPLATES), (cfg.batch_size,), generator=g).tolist()
        num = (torch.rand(cfg.batch_size, generator=g) < 0.5).tolist()
        texts = [caption(int(y[i]), TRAIN_TEMPLATES[t], n) for i, t, n in zip(idx.tolist(), tpl, num)]
        return model(x[idx.to(x.device)], texts)

    losses = fit_steps(loss_fn, opt, cfg.steps)
    model.eval()
    return losses


def build_trained_clip(
    seed: int = 0, device: str = "cpu", cfg: CLIPConfig | None = None
) -> tuple[CLIP, list[float]]:
    """A CLIP trained on the digits train split (deterministic for a seed); (model, losses)."""
    from deltalab.data import load_digits

    cfg = cfg or CLIPConfig()
    d = load_digits(images=True).to(device)
    torch.manual_seed(seed)
    model = CLIP(digit_tokenizer(), cfg.embed_dim).to(device)
    losses = train_clip(model, d.x_train, d.y_train, cfg, seed=seed)
    return model, losses


def trained_clip(ctx: Any, cfg: CLIPConfig | None = None) -> CLIP:
    """The run's trained CLIP, built once per process via ``ctx.cached`` (shared with other claims)."""
    cfg = cfg or CLIPConfig()
    key = ("clip-digits", *sorted(cfg.__dict__.items()))
    model, _ = ctx.cached(key, lambda: build_trained_clip(ctx.seed, ctx.device, cfg))
    return model
