"""``video:*``: small synthetic clips of a moving square, rendered in two styles.

A 2×2 square starts at a random position with a random velocity (each component in {−1, +1}
pixels per frame) and bounces off the borders of an H×W frame. Style ``a`` draws it bright on a
dark background; style ``b`` is the same scene restyled like the digits domain (thickened by a
pixel and inverted, ``data.restyle``). Because a clip's scene is known, its rendering in the other
style is known too: the Recycle-GAN claim trains on unpaired clips and uses the pairing only to
*measure* temporal consistency.

Shapes: N clips, T frames, clips (N, T, 1, H, W) in [0, 1].
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
