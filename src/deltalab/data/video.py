"""``video:*``: small synthetic clips of a moving square, rendered in two pairs of styles.

``video:a`` / ``video:b`` (``make_clips``): a 2×2 square starts at a random position with a random
velocity (each component in {−1, +1} pixels per frame) and bounces off the borders of an H×W frame. Style ``a`` draws it bright on a
dark background; style ``b`` is the same scene restyled like the digits domain (thickened by a
pixel and inverted, ``data.restyle``). Because a clip's scene is known, its rendering in the other
style is known too: the Recycle-GAN claim trains on unpaired clips and uses the pairing only to
*measure* temporal consistency. The map a → b is deterministic per frame, so a frame-wise
translator that learns it is temporally consistent by construction.

``video:flicker`` / ``video:toned`` (``make_toned_clips``, the Recycle-GAN claim's domains): the
same bouncing squares, where a frame alone does not determine its translation. ``flicker`` is style ``a`` lit by a flickering lamp: the
square's brightness is drawn anew every frame, uniform in [``low``, 1]. ``toned`` is style ``b``
with a per-clip tone: the thickened square is drawn at one grey level, uniform in [0, ``grey_max``]
and held for the whole clip (background white). Any tone is an equally valid rendering of a scene;
a faithful translation of a clip keeps one tone while the square moves, whereas a frame-wise
translator sees only the current brightness and may carry the lamp's flicker into the tone. Since
the motion is known, ``motion_compensated_change`` measures exactly that flicker: the mean change
between consecutive frames after shifting the earlier one by the square's known step (a true
``toned`` clip has zero change except where the thickened square is clipped by the border).

Shapes: N clips, T frames, clips (N, T, 1, H, W) in [0, 1]; tracks (N, T, 2).
"""

from __future__ import annotations

import torch

from deltalab.data.restyle import restyle


def square_tracks(n: int, frames: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(N, T, 2) top-left corners of a bouncing 2×2 square."""
    if frames < 1 or size < 3:
        raise ValueError(f"need frames >= 1 and size >= 3, got frames={frames}, size={size}")
    pos = torch.randint(0, size - 1, (n, 2), generator=generator)
    vel = torch.randint(0, 2, (n, 2), generator=generator) * 2 - 1
    out = []
    for _ in range(frames):
        out.append(pos.clone())
        nxt = pos + vel
        bounce = (nxt < 0) | (nxt > size - 2)
        vel = torch.where(bounce, -vel, vel)
        pos = pos + vel
    return torch.stack(out, dim=1)


def render(tracks: torch.Tensor, size: int, style: str) -> torch.Tensor:
    """Clips (N, T, 1, H, W) of the tracks in style ``a`` (bright square) or ``b`` (restyled)."""
    if style not in ("a", "b"):
        raise ValueError(f"style must be 'a' or 'b', got {style!r}")
    n, t, _ = tracks.shape
    ys = torch.arange(size).view(1, 1, size, 1)
    xs = torch.arange(size).view(1, 1, 1, size)
    r, c = tracks[..., 0, None, None], tracks[..., 1, None, None]  # (N, T, 1, 1)
    clip = ((ys >= r) & (ys < r + 2) & (xs >= c) & (xs < c + 2)).float().unsqueeze(2)  # (N, T, 1, H, W)
    if style == "b":
        clip = restyle(clip.view(n * t, 1, size, size)).view(n, t, 1, size, size)
    return clip


def make_clips(
    n: int, frames: int = 4, size: int = 8, style: str = "a", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """n clips in ``style`` and the same scenes in the other style: (clips, partner), (N, T, 1, H, W)."""
    tracks = square_tracks(n, frames, size, torch.Generator().manual_seed(seed))
    other = "b" if style == "a" else "a"
    return render(tracks, size, style), render(tracks, size, other)


def render_flicker(
    tracks: torch.Tensor, size: int, generator: torch.Generator, low: float = 0.4
) -> torch.Tensor:
    """``video:flicker`` clips (N, T, 1, H, W): style ``a`` with a brightness uniform in [low, 1] per frame."""
    if not 0.0 <= low <= 1.0:
        raise ValueError(f"low must be in [0, 1], got {low}")
    n, t, _ = tracks.shape
    brightness = low + (1.0 - low) * torch.rand(n, t, 1, 1, 1, generator=generator)  # new each frame
    return render(tracks, size, "a") * brightness


def render_toned(
    tracks: torch.Tensor, size: int, generator: torch.Generator, grey_max: float = 0.6
) -> torch.Tensor:
    """``video:toned`` clips (N, T, 1, H, W): style ``b`` whose square has one grey level per clip."""
    if not 0.0 <= grey_max <= 1.0:
        raise ValueError(f"grey_max must be in [0, 1], got {grey_max}")
    n = tracks.shape[0]
    grey = grey_max * torch.rand(n, 1, 1, 1, 1, generator=generator)  # held for the whole clip
    thick = 1.0 - render(tracks, size, "b")  # (N, T, 1, H, W): 1 on the thickened square
    return 1.0 - thick * (1.0 - grey)


def make_toned_clips(
    n: int, frames: int = 4, size: int = 8, style: str = "flicker", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n clips in ``style`` (``flicker`` or ``toned``), one rendering of the same scenes in the other
    style, and the tracks: (clips, partner, tracks), clips (N, T, 1, H, W), tracks (N, T, 2)."""
    if style not in ("flicker", "toned"):
        raise ValueError(f"style must be 'flicker' or 'toned', got {style!r}")
    g = torch.Generator().manual_seed(seed)
    tracks = square_tracks(n, frames, size, g)
    flicker, toned = render_flicker(tracks, size, g), render_toned(tracks, size, g)
    return (flicker, toned, tracks) if style == "flicker" else (toned, flicker, tracks)


def shift_frames(x: torch.Tensor, step: torch.Tensor, fill: float) -> torch.Tensor:
    """Frames x (M, C, H, W) moved by step (M, 2) rows/columns in {−1, 0, 1}, ``fill`` shifted in."""
    if step.abs().max() > 1:
        raise ValueError("steps must be in {-1, 0, 1}")
    h, w = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), value=fill)  # (M, C, H+2, W+2)
    out = torch.empty_like(x)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            sel = (step[:, 0] == dr) & (step[:, 1] == dc)
            out[sel] = padded[sel, :, 1 - dr : 1 - dr + h, 1 - dc : 1 - dc + w]
    return out


def motion_compensated_change(clips: torch.Tensor, tracks: torch.Tensor, fill: float = 1.0) -> torch.Tensor:
    """Per clip (N,): mean |x_{t+1} − shift(x_t, p_{t+1} − p_t)| over pixels and frame pairs — how much
    a clip (N, T, 1, H, W) changes beyond the known motion of its square (tracks (N, T, 2))."""
    n, t = clips.shape[:2]
    step = (tracks[:, 1:] - tracks[:, :-1]).reshape(-1, 2).to(clips.device)  # (N·(T−1), 2)
    moved = shift_frames(clips[:, :-1].flatten(0, 1), step, fill).view(n, t - 1, *clips.shape[2:])
    return (clips[:, 1:] - moved).abs().mean(dim=(1, 2, 3, 4))
