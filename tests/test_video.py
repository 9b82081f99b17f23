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
    p_a, p_b, model = TemporalPredictor(8), TemporalPredictor(8), CycleGAN(1, hidden_channels=8)
    loss = recycle_loss_fn(p_a, p_b, a, b, 3, torch.Generator().manual_seed(0))(model)
    loss.backward()
    for net in (p_a, p_b, model.G_ab, model.G_ba):
        assert all(p.grad is not None for p in net.parameters())


def test_norm_generator_and_predictor_shapes_range_backward():
    from deltalab.models.cyclegan import CycleGAN

    torch.manual_seed(0)
    model, pred = CycleGAN(1, hidden_channels=8, norm=True), TemporalPredictor(8, norm=True)
    x = torch.rand(3, 1, 8, 8)
    out = model.G_ab(x)
    assert out.shape == (3, 1, 8, 8) and out.min() >= 0 and out.max() <= 1
    nxt = pred(x, model.G_ba(x))
    assert nxt.shape == (3, 1, 8, 8) and torch.isfinite(nxt).all()
    (out.mean() + nxt.mean()).backward()
    assert all(p.grad is not None for p in [*model.G_ab.parameters(), *pred.parameters()])


def test_norm_generators_do_not_collapse_on_sparse_frames():
    """The sigmoid generators turn the sparse square frames blank within ~100 cycle steps; the
    instance-norm tanh design keeps the square (output spread like the real B frames)."""
    from deltalab.models.cyclegan import CycleGAN, CycleGANConfig, train_cyclegan

    fa = make_clips(64, 4, 8, "a", seed=1)[0].flatten(0, 1)
    fb = make_clips(64, 4, 8, "b", seed=2)[0].flatten(0, 1)
    g = torch.Generator().manual_seed(0)
    spreads = {}
    for norm in (False, True):
        torch.manual_seed(8)
        model = CycleGAN(1, hidden_channels=16, norm=norm)
        cfg = CycleGANConfig(steps=120, batch_size=32, lr=1e-3)
        train_cyclegan(
            model,
            lambda n: fa[torch.randint(0, 256, (n,), generator=g)],
            lambda n: fb[torch.randint(0, 256, (n,), generator=g)],
            cfg,
        )
        with torch.no_grad():
            spreads[norm] = model.G_ab(fa).std().item()
    assert spreads[False] < 0.05 < 0.2 < spreads[True]  # real B frames: std ~0.35


def test_domain_judge_rejects_blank_frames():
    from deltalab.experiments.cyclegan import DOMAIN_B, train_domain_judge

    a, b = make_clips(64, 4, 8, "a", seed=3)
    judge = train_domain_judge(a.flatten(0, 1), 300, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (judge(b.flatten(0, 1)).argmax(1) == DOMAIN_B).float().mean() > 0.8
        assert (judge(torch.ones(4, 1, 8, 8)).argmax(1) != DOMAIN_B).all()
