import pytest
import torch

from deltalab.data.restyle import restyle
from deltalab.data.video import make_clips, render, square_tracks
from deltalab.models.recycle_gan import TemporalPredictor, recycle_loss_fn, triples


def test_clips_shapes_motion_and_styles():
    a, b = make_clips(5, frames=6, size=8, style="a", seed=0)
    assert a.shape == b.shape == (5, 6, 1, 8, 8)
    assert (a.sum(dim=(2, 3, 4)) == 4).all()  # one 2×2 square per frame
    assert torch.equal(b, restyle(a.flatten(0, 1)).view_as(a))
    tracks = square_tracks(5, 6, 8, torch.Generator().manual_seed(0))
    steps = (tracks[:, 1:] - tracks[:, :-1]).abs()
    assert (steps <= 1).all() and tracks.min() >= 0 and tracks.max() <= 6
    assert torch.equal(make_clips(5, 6, 8, "a", seed=0)[0], a)  # deterministic


def test_restyle_thickens_and_inverts():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 2, 2] = 1.0
    y = restyle(x)
    assert y[0, 0, 2, 2] == 0 and y[0, 0, 1, 1] == 0 and y[0, 0, 3, 3] == 1 and y[0, 0, 0, 0] == 1
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        restyle(torch.zeros(4, 4))


def test_bad_video_arguments():
    with pytest.raises(ValueError, match="'c'"):
        render(torch.zeros(1, 2, 2, dtype=torch.long), 8, "c")
    with pytest.raises(ValueError, match="frames=0"):
        square_tracks(1, 0, 8, torch.Generator())
    with pytest.raises(ValueError, match="T >= 3"):
        triples(torch.zeros(2, 2, 1, 8, 8), 4, torch.Generator())


def test_recycle_loss_backpropagates_to_all_nets():
    from deltalab.models.cyclegan import CycleGAN

    a, b = make_clips(4, 4, 8, "a", seed=1)[0], make_clips(4, 4, 8, "b", seed=2)[0]
    p_a, p_b, model = TemporalPredictor(8), TemporalPredictor(8), CycleGAN(1, hidden=8)
    loss = recycle_loss_fn(p_a, p_b, a, b, 3, torch.Generator().manual_seed(0))(model)
    loss.backward()
    for net in (p_a, p_b, model.G_ab, model.G_ba):
        assert all(p.grad is not None for p in net.parameters())
