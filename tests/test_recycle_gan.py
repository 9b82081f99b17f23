"""Unit tests for Recycle-GAN's toned / flickering clips and the motion-compensated flicker measure."""

import pytest
import torch
import torch.nn.functional as F

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


def test_window_generator_cannot_move_content():
    from deltalab.models.recycle_gan import WindowGenerator

    torch.manual_seed(0)
    for anchor, window in (("down", (slice(3, 5), slice(4, 6))), ("up", (slice(2, 4), slice(3, 5)))):
        gen = WindowGenerator(8, anchor, fill=0.0)
        x = torch.rand(2, 1, 8, 8)
        y = x.clone()
        outside = torch.ones(8, 8, dtype=torch.bool)
        outside[window] = False
        y[:, 0, outside] = torch.rand(2, int(outside.sum()))  # change everything but the window
        with torch.no_grad():
            out_x, out_y = gen(x), gen(y)
        assert out_x.shape == (2, 1, 8, 8) and out_x.min() >= 0 and out_x.max() <= 1
        assert torch.allclose(out_x[:, 0, 3, 4], out_y[:, 0, 3, 4])  # pixel (3, 4) sees its window only
        assert not torch.allclose(out_x, out_y)
    with pytest.raises(ValueError, match="anchor"):
        WindowGenerator(8, "left")


def test_window_generators_can_render_restyle_and_back():
    """The 2×2 windows hold the a → b (thicken, invert) map exactly and the b → a map wherever the
    square is off the top/left border (there the "up" window sees one real row or column): a
    min/max over the window, padded like each domain's background, reproduces them."""
    from deltalab.data.restyle import restyle

    tracks = square_tracks(64, 3, 8, torch.Generator().manual_seed(0))
    a = render(tracks, 8, "a").flatten(0, 1)
    b = restyle(a)
    thick = F.max_pool2d(F.pad(a, (0, 1, 0, 1), value=0.0), 2, 1)  # "down" window, black border
    assert torch.equal(1 - thick, b)
    thin = -F.max_pool2d(-F.pad(1 - b, (1, 0, 1, 0), value=0.0), 2, 1)  # "up", white border
    inside = (tracks >= 1).all(dim=2).flatten()
    assert inside.sum() > 20 and torch.equal(thin[inside], a[inside])


def test_clip_flicker_zero_for_any_steady_tone_positive_for_flicker():
    from deltalab.experiments.cyclegan import clip_flicker

    flick, toned, tracks = make_toned_clips(16, 5, 8, "flicker", seed=2)
    other = 1 - (1 - render(tracks, 8, "b")) * 0.7  # the same scenes in another steady tone (0.3)
    steady = clip_flicker(other, toned, tracks)
    assert steady.shape == (16, 4)
    interior = ((tracks >= 1) & (tracks <= 5)).all(dim=(1, 2))
    assert torch.all(steady[interior] < 1e-6)
    assert clip_flicker(toned, toned, tracks).abs().max() == 0
    lamp = 1 - (1 - render(tracks, 8, "b")) * flick.amax(dim=(2, 3, 4), keepdim=True)  # tone follows the lamp
    assert (clip_flicker(lamp, toned, tracks)[interior].mean(1) > 0.01).all()


def test_domain_judge_on_toned_frames_rejects_blank():
    from deltalab.experiments.cyclegan import DOMAIN_A, DOMAIN_B, train_domain_judge

    a, b, _ = make_toned_clips(64, 4, 8, "flicker", seed=3)
    b_unpaired, _, _ = make_toned_clips(64, 4, 8, "toned", seed=4)
    torch.manual_seed(0)
    judge = train_domain_judge(  # the claim's 1200 steps: at 600 it called 81% of real B frames B
        a.flatten(0, 1), 1200, torch.Generator().manual_seed(0), x_b=b_unpaired.flatten(0, 1)
    )
    with torch.no_grad():
        assert (judge(b.flatten(0, 1)).argmax(1) == DOMAIN_B).float().mean() > 0.8
        assert (judge(a.flatten(0, 1)).argmax(1) == DOMAIN_A).float().mean() > 0.8
        assert (judge(torch.ones(4, 1, 8, 8)).argmax(1) != DOMAIN_B).all()


def test_train_cyclegan_shared_fakes_change_no_number():
    """One generator pass for both updates and frozen D weights in the G step give the same nets
    as the textbook loop (fakes recomputed under no_grad for D, D's gradients computed and dropped)."""
    from deltalab.models.cyclegan import CycleGAN, CycleGANConfig, train_cyclegan
    from deltalab.models.gan import discriminator_loss, generator_loss

    fa = render(square_tracks(32, 2, 8, torch.Generator().manual_seed(1)), 8, "a").flatten(0, 1)
    fb = render(square_tracks(32, 2, 8, torch.Generator().manual_seed(2)), 8, "b").flatten(0, 1)
    cfg = CycleGANConfig(steps=3, batch_size=8, lr=1e-3, lambda_id=1.0)
    nets = []
    for new in (True, False):
        torch.manual_seed(0)
        model = CycleGAN(1, hidden_channels=8)
        g = torch.Generator().manual_seed(0)
        sa = lambda n: fa[torch.randint(0, 64, (n,), generator=g)]  # noqa: E731
        sb = lambda n: fb[torch.randint(0, 64, (n,), generator=g)]  # noqa: E731
        if new:
            train_cyclegan(model, sa, sb, cfg)
        else:
            opt_g = torch.optim.Adam(
                [*model.G_ab.parameters(), *model.G_ba.parameters()], 1e-3, betas=(0.5, 0.999)
            )
            opt_d = torch.optim.Adam(
                [*model.D_a.parameters(), *model.D_b.parameters()], 1e-3, betas=(0.5, 0.999)
            )
            for _ in range(3):
                a, b = sa(8), sb(8)
                with torch.no_grad():
                    fake_b, fake_a = model.G_ab(a), model.G_ba(b)
                d = discriminator_loss(model.D_b(b), model.D_b(fake_b)) + discriminator_loss(
                    model.D_a(a), model.D_a(fake_a)
                )
                opt_d.zero_grad(set_to_none=True)
                d.backward()
                opt_d.step()
                fake_b, fake_a = model.G_ab(a), model.G_ba(b)
                loss = generator_loss(model.D_b(fake_b)) + generator_loss(model.D_a(fake_a))
                loss = loss + 10 * (
                    (model.G_ba(fake_b) - a).abs().mean() + (model.G_ab(fake_a) - b).abs().mean()
                )
                loss = loss + (model.G_ab(b) - b).abs().mean() + (model.G_ba(a) - a).abs().mean()
                opt_g.zero_grad(set_to_none=True)
                loss.backward()
                opt_g.step()
        nets.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(nets[0], nets[1], atol=1e-6)
