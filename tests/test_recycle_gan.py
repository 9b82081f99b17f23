"""Unit tests for Recycle-GAN's toned / flickering clips and the motion-compensated flicker measure."""

import pytest
import torch

from deltalab.data.video import (
    make_toned_clips,
    motion_compensated_change,
    render,
    shift_frames,
    square_tracks,
)


def test_toned_clips_shapes_and_what_varies_over_time():
    a, b, tracks = make_toned_clips(6, frames=5, size=8, style="flicker", seed=0)
    assert a.shape == b.shape == (6, 5, 1, 8, 8) and tracks.shape == (6, 5, 2)
    mask = render(tracks, 8, "a")  # (N, T, 1, H, W): the 2×2 square
    bright = a.amax(dim=(2, 3, 4))  # (N, T): the lamp's brightness, new every frame
    assert torch.equal(a > 0, mask > 0) and (bright >= 0.4).all() and (bright <= 1).all()
    assert (bright.std(dim=1) > 0).all()  # it flickers
    tone = b.amin(dim=(2, 3, 4))  # (N, T): the toned square's grey level, one per clip
    assert (tone <= 0.6).all() and torch.allclose(tone, tone[:, :1].expand_as(tone))
    assert torch.equal(b < 1, render(tracks, 8, "b") < 1)  # same scene, restyled geometry
    b2, a2, tracks2 = make_toned_clips(6, 5, 8, "toned", seed=0)
    assert torch.equal(a2, a) and torch.equal(b2, b) and torch.equal(tracks2, tracks)  # deterministic


def test_motion_compensated_change_is_zero_for_a_rigid_consistent_clip():
    tracks = square_tracks(64, 6, 8, torch.Generator().manual_seed(1))
    interior = ((tracks >= 1) & (tracks <= 5)).all(dim=(1, 2))  # never clipped by the border
    clips = render(tracks, 8, "b")  # toned with a fixed tone: consistent over time
    change = motion_compensated_change(clips, tracks)
    assert change.shape == (64,) and torch.all(change[interior] == 0)
    flick = clips.clone()
    flick[:, 1::2] = 1 - (1 - flick[:, 1::2]) * 0.5  # every other frame lighter: flicker
    assert (motion_compensated_change(flick, tracks)[interior] > 0).all()


def test_shift_frames_moves_content_and_fills():
    x = torch.zeros(2, 1, 4, 4)
    x[:, 0, 1, 1] = 1.0
    out = shift_frames(x, torch.tensor([[1, 0], [-1, 1]]), fill=0.5)
    assert out[0, 0, 2, 1] == 1 and out[1, 0, 0, 2] == 1
    assert (out[0, 0, 0] == 0.5).all() and (out[1, 0, 3] == 0.5).all() and (out[1, 0, :, 0] == 0.5).all()
    with pytest.raises(ValueError, match="steps"):
        shift_frames(x, torch.tensor([[2, 0], [0, 0]]), fill=0.0)


def test_bad_toned_arguments():
    with pytest.raises(ValueError, match="'c'"):
        make_toned_clips(2, 4, 8, "c")
