"""DALL·E-2-style text-to-image on 8×8 digits: CLIP text embedding → prior → CLIP image embedding →
diffusion decoder with classifier-free guidance.

Ramesh et al., "Hierarchical Text-Conditional Image Generation with CLIP Latents" (unCLIP, DALL·E 2),
arXiv:2204.06125; guidance from Ho & Salimans, "Classifier-Free Diffusion Guidance", arXiv:2207.12598.

    z_t = CLIP_text(prompt),  z_i = prior(z_t)  (unit norm)                     (B, E)
    decoder: ε_θ(x_t, t, z_i), trained on (x_0, CLIP_image(x_0)) with z_i dropped (→ the U-Net's
             learned null embedding) with probability ``p_uncond``
    guided ε = ε_θ(x_t, t, ∅) + w·(ε_θ(x_t, t, z_i) − ε_θ(x_t, t, ∅))           (w = 1: plain conditional)
    sampling: DDIM (η = 0) on ``sample_steps`` strided steps with the guided ε, x̂_0 clipped to [−1, 1]
Reused: CLIP (``models/ssl/clip.py``), U-Net and schedule (``models/unet.py``, ``models/diffusion.py``).

Departures:
1. The prior is a regression MLP trained with a cosine loss (unCLIP also tried a Gaussian/regression
   prior; its main one is a diffusion prior). With a closed vocabulary every prompt means one digit, so
   the regression target E[z_i | prompt] is the class-mean direction; sample diversity comes from the
   decoder's noise. The experiment measures what this costs against conditioning on the embeddings of
   real test images (the ceiling any prior, diffusion or not, could reach).
2. No upsamplers or text tokens in the decoder: one conditioning vector added to the time embedding.
3. Conditioning dropout zeroes a row's embedding; ``GuidedUNet`` maps zero rows to the U-Net's null
   embedding, so that dropout and guidance need one batched call (the U-Net's ``cond=None`` is per batch).

Shapes: B batch, E CLIP embedding (64), images (B, 1, 8, 8) in [0, 1] outside, [−1, 1] inside.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data import load_digits
from deltalab.data.mnist1d import cache_dir
from deltalab.files import atomic_write
from deltalab.models.diffusion import NoiseSchedule
from deltalab.models.ssl.clip import (
    CLIP,
    DIGIT_WORDS,
    TRAIN_TEMPLATES,
    CLIPConfig,
    build_trained_clip,
    caption,
    digit_tokenizer,
)
from deltalab.models.unet import UNet
from deltalab.train.steps import fit_steps

MAX_SAMPLES = 1024
"""samples one ``generate`` call draws at most (100000 went through the U-Net at once: 2.4 GB)"""


@dataclass
class TextToImageConfig:
    """Knobs of the prior, the decoder and the sampler (defaults: what ``deltalab generate`` trains)."""

    clip_steps: int = 300
    """CLIP training steps (300 = the clip claim's quick profile, so a run shares one CLIP)"""
    decoder_steps: int = 1500
    """Adam steps of the conditioned U-Net decoder"""
    batch_size: int = 128
    """decoder mini-batch size"""
    lr: float = 5e-3
    """decoder Adam learning rate (cosine-decayed)"""
    p_uncond: float = 0.1
    """probability that a training example's embedding is dropped (classifier-free guidance)"""
    base_channels: int = 16
    """U-Net width at 8×8"""
    channel_mults: tuple[int, ...] = (1, 2)
    """U-Net channel multipliers per resolution (8×8, 4×4)"""
    time_embed_dim: int = 32
    """U-Net time/condition embedding size"""
    prior_steps: int = 300
    """full-batch Adam steps of the regression prior"""
    prior_hidden_dim: int = 256
    """hidden width of the prior MLP"""
    prior_word_dropout_copies: int = 8
    """extra copies of each training caption with random words dropped (0 = none)"""
    sample_steps: int = 10
    """DDIM steps at sampling time"""

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_uncond < 1.0:
            raise ValueError(f"p_uncond must be in [0, 1), got {self.p_uncond}")
        if min(self.decoder_steps, self.prior_steps, self.clip_steps) < 0 or self.batch_size < 1:
            raise ValueError(f"need steps >= 0 and batch_size >= 1, got {self}")
        if not 1 <= self.sample_steps <= 1000:
            raise ValueError(f"sample_steps must be in [1, 1000], got {self.sample_steps}")


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, guidance: float) -> torch.Tensor:
    """Classifier-free guidance: ε_uncond + w·(ε_cond − ε_uncond) (w = 0 unconditional, 1 conditional)."""
    return eps_uncond + guidance * (eps_cond - eps_uncond)


def drop_mask(n: int, p_uncond: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n,) bool, True where the conditioning is dropped (i.i.d. with probability p_uncond)."""
    if not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must be in [0, 1], got {p_uncond}")
    return torch.rand(n, generator=generator) < p_uncond


class GuidedUNet(UNet):
    """The chapter's U-Net where an all-zero cond row means "no condition" (the learned null embedding).

    CLIP embeddings are unit-norm, never zero, so zeroing a row drops its conditioning: dropout and the
    guided (cond, ∅) pair then run as one batched call instead of two (``cond=None`` still works).
    """

    def embed(self, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        emb = super().embed(t, cond)  # (B, E): time + proj(cond), or time + null
        if cond is None:
            return emb
        dropped = (cond == 0).all(dim=-1, keepdim=True)  # (B, 1); proj(0) is the projection bias
        return torch.where(dropped, emb - self.cond_proj.bias + self.null_cond, emb)


def decoder_loss(
    model: UNet,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    cond: torch.Tensor,
    drop: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ε-prediction loss of x0 (B, 1, 8, 8) in [−1, 1] given cond (B, E); rows with drop (B,) use ∅."""
    t = torch.randint(0, schedule.timesteps, (x0.shape[0],), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0)
    cond = cond.masked_fill(drop.to(cond.device)[:, None], 0.0)  # (B, E), dropped rows zero
    return (model(schedule.q_sample(x0, t, noise), t, cond) - noise).pow(2).mean()


def train_decoder(
    model: UNet,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    cond: torch.Tensor,
    cfg: TextToImageConfig,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Adam (cosine lr) on the decoder loss with conditioning dropout; x0 (N, 1, 8, 8) in [−1, 1], cond (N, E).

    torch's fused Adam: the same update in one kernel (~10% of a step less than the per-tensor loop).
    """
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.decoder_steps, 1))
    model.train()

    def loss_fn() -> torch.Tensor:
        idx = torch.randint(0, x0.shape[0], (cfg.batch_size,), generator=generator).to(x0.device)
        drop = drop_mask(cfg.batch_size, cfg.p_uncond, generator)
        return decoder_loss(model, schedule, x0[idx], cond[idx], drop, generator)

    losses = fit_steps(loss_fn, opt, cfg.decoder_steps, scheduler=sched)  # one host sync, at the end
    model.eval()
    return losses


class RegressionPrior(nn.Module):
    """z_text (B, E) → unit-norm predicted z_image (B, E): residual MLP, trained with a cosine loss."""

    def __init__(self, embed_dim: int = 64, hidden_dim: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(embed_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, embed_dim)
        )

    def forward(self, z_text: torch.Tensor) -> torch.Tensor:
        return F.normalize(z_text + self.net(z_text), dim=-1)


def train_prior(
    prior: RegressionPrior, z_text: torch.Tensor, z_image: torch.Tensor, steps: int, lr: float = 3e-3
) -> list[float]:
    """Full-batch Adam on 1 − prior(z_text)·z_target (cosine loss; mean-of-class targets), (N, E) each."""
    # foreach: the multi-tensor kernel, bit-identical updates, less per-step overhead
    opt = torch.optim.Adam(prior.parameters(), lr=lr, foreach=True)
    losses = fit_steps(lambda: 1 - (prior(z_text) * z_image).sum(-1).mean(), opt, steps)
    prior.eval()
    return losses


@torch.no_grad()
def sample_guided(
    decoder: UNet,
    schedule: NoiseSchedule,
    cond: torch.Tensor,
    guidance: float,
    steps: int,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """One image per row of cond (B, E): guided DDIM → (B, 1, 8, 8) in [0, 1]."""
    from tqdm.auto import tqdm

    both = torch.cat([cond, torch.zeros_like(cond)])  # (2B, E): conditioned, then ∅
    bar = tqdm(total=steps, desc="sampling", unit="step", disable=not progress, leave=False)

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        bar.update(1)
        if guidance == 1.0:
            return decoder(x, t, cond)
        e_cond, e_uncond = decoder(torch.cat([x, x]), torch.cat([t, t]), both).chunk(2)  # (B, ...) each
        return guided_eps(e_cond, e_uncond, guidance)

    x = schedule.sample_ddim(eps, (cond.shape[0], 1, 8, 8), steps, cond.device, generator, clip=1.0)
    bar.close()
    return ((x + 1) / 2).clamp(0, 1)


class TextToImage(nn.Module):
    """CLIP (frozen) + prior + decoder; ``forward(prompts)`` is prompt → predicted image embedding."""

    def __init__(self, clip: CLIP, cfg: TextToImageConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.clip = clip.eval()
        e = clip.text_encoder.mlp[-1].out_features
        self.prior = RegressionPrior(e, cfg.prior_hidden_dim)
        self.decoder = GuidedUNet(
            base_channels=cfg.base_channels,
            channel_mults=cfg.channel_mults,
            time_embed_dim=cfg.time_embed_dim,
            cond_dim=e,
        )
        self.schedule = NoiseSchedule()

    def forward(self, prompts: list[str]) -> torch.Tensor:
        """B prompts → (B, E) image embeddings predicted by the prior."""
        return self.prior(self.clip.encode_text(prompts))

    @torch.no_grad()
    def sample(
        self,
        cond: torch.Tensor,
        guidance: float = 3.0,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """Images (B, 1, 8, 8) in [0, 1] for image embeddings cond (B, E)."""
        steps = self.cfg.sample_steps
        return sample_guided(self.decoder, self.schedule, cond, guidance, steps, generator, progress)


def prior_captions(copies: int, generator: torch.Generator) -> tuple[list[int], list[str]]:
    """Every training caption, plus ``copies`` versions of each with its other words dropped at rate ½.

    The digit word is always kept. Word dropout teaches the prior that the digit word carries the
    meaning, so that unseen phrasings (bags of the same words) land near the right class.
    """
    labels, texts = [], []
    for c in range(10):
        for tpl in TRAIN_TEMPLATES:
            for numeral in (False, True):
                words = caption(c, tpl, numeral).split()
                digit = words.index(str(c) if numeral else DIGIT_WORDS[c])
                labels.append(c)
                texts.append(" ".join(words))
                for keep in (torch.rand(copies, len(words), generator=generator) < 0.5).tolist():
                    labels.append(c)
                    texts.append(" ".join(w for i, w in enumerate(words) if keep[i] or i == digit))
    return labels, texts


def fit_text_to_image(
    model: TextToImage, seed: int = 0, log: Callable[[str], None] | None = None
) -> dict[str, list[float]]:
    """Train the prior and the decoder on the digits train split (the CLIP is already trained); losses."""
    dev = next(model.decoder.parameters()).device
    d = load_digits(images=True).to(dev)
    g = torch.Generator().manual_seed(seed + 21)
    torch.manual_seed(seed + 21)
    with torch.no_grad():
        z_img = model.clip.encode_image(d.x_train)  # (N, E)
        # 1 − cos(p, z) averaged over a class's images is 1 − p·mean(z): one target row per caption
        class_mean = torch.stack([z_img[d.y_train == c].mean(0) for c in range(10)])  # (10, E)
        labels, texts = prior_captions(model.cfg.prior_word_dropout_copies, g)
        z_txt = model.clip.encode_text(texts)  # (M, E)
    prior_losses = train_prior(model.prior, z_txt, class_mean[labels], model.cfg.prior_steps)
    if log:
        log(f"prior: cosine loss {prior_losses[-1]:.3f}; decoder: {model.cfg.decoder_steps} steps")
    dec_losses = train_decoder(model.decoder, model.schedule, d.x_train * 2 - 1, z_img, model.cfg, g)
    return {"prior": prior_losses, "decoder": dec_losses}


def build_text_to_image(
    cfg: TextToImageConfig | None = None,
    seed: int = 0,
    device: str = "cpu",
    clip: CLIP | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[TextToImage, dict[str, list[float]]]:
    """Train (a CLIP unless given,) the prior and the decoder; (model in eval mode, losses)."""
    cfg = cfg or TextToImageConfig()
    if clip is None:
        clip, _ = build_trained_clip(seed, device, CLIPConfig(steps=cfg.clip_steps))
    model = TextToImage(clip, cfg).to(device)
    losses = fit_text_to_image(model, seed, log)
    return model.eval(), losses


def _weights_path(cfg: TextToImageConfig, seed: int) -> Path:
    key = hashlib.sha1(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:10]
    return cache_dir() / f"text-to-image-v1-{key}-seed{seed}.pt"


def load_or_train(
    cfg: TextToImageConfig | None = None,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> TextToImage:
    """The trained model from ``$XDG_CACHE_HOME/deltalab`` if cached for (cfg, seed), else train and cache it."""
    cfg = cfg or TextToImageConfig()
    path = _weights_path(cfg, seed)
    if path.exists():
        try:
            model = TextToImage(CLIP(digit_tokenizer()), cfg)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.to(device).eval()
        except Exception as e:  # noqa: BLE001 - any unreadable cache (UnpicklingError, truncation, ...) is rebuilt
            warnings.warn(
                f"text-to-image cache {path} is unreadable ({type(e).__name__}); retraining and rewriting it",
                stacklevel=2,
            )
    model, _ = build_text_to_image(cfg, seed, device, log=log)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with contextlib.suppress(OSError):  # a read-only cache still gets its images, just not the cache
        atomic_write(path, lambda f: torch.save(state, f))
    return model


def generate(
    prompt: str,
    n: int = 16,
    guidance: float = 3.0,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    cfg: TextToImageConfig | None = None,
) -> torch.Tensor:
    """``n`` images (n, 1, 8, 8) in [0, 1] drawn for ``prompt``; trains and caches the model on first use.

    Raises ValueError (listing the vocabulary) for a word CLIP does not know, before any training.
    ``cfg`` (default ``TextToImageConfig()``) picks the model; each (cfg, seed) is cached separately.
    """
    digit_tokenizer().encode([str(prompt)])  # unknown words → ValueError listing the vocabulary
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"n must be a whole number in 1..{MAX_SAMPLES}, got {n!r}")
    if not (isinstance(guidance, (int, float)) and math.isfinite(guidance) and guidance >= 0):
        raise ValueError(f"guidance must be a finite number >= 0, got {guidance!r}")
    log = (lambda msg: print(f"  [generate] {msg}", file=sys.stderr, flush=True)) if progress else None
    model = load_or_train(cfg, seed=seed, device=device, log=log)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        cond = model([prompt]).expand(n, -1)  # (n, E)
    return model.sample(cond, guidance, g, progress).cpu()


def grid_canvas(images: torch.Tensor, ncols: int = 8) -> np.ndarray:
    """Images (B, 1, H, W) in [0, 1] tiled row-major on a grid with 1-pixel gaps: (rows·(H+1)+1, …)."""
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"expected images of shape (B, 1, H, W), got {tuple(images.shape)}")
    b, _, h, w = images.shape
    ncols = max(1, min(ncols, b))
    nrows = -(-b // ncols)
    canvas = np.zeros((nrows * (h + 1) + 1, ncols * (w + 1) + 1))
    arr = images[:, 0].detach().clamp(0, 1).cpu().numpy()
    for i in range(b):
        r, c = divmod(i, ncols)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = arr[i]
    return canvas


def save_grid(images: torch.Tensor, path: str | os.PathLike[str], ncols: int = 8, scale: int = 8) -> Path:
    """Write images (B, 1, 8, 8) in [0, 1] as one PNG grid (dark ink on white), atomically; the path."""
    import matplotlib.pyplot as plt

    big = np.kron(grid_canvas(images, ncols), np.ones((scale, scale)))
    out = Path(path)
    fmt = out.suffix[1:].lower() or "png"
    atomic_write(out, lambda f: plt.imsave(f, big, cmap="gray_r", vmin=0, vmax=1, format=fmt))
    return out
