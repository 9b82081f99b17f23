import pytest
import torch

from deltalab.models.gan import (
    Discriminator,
    GANConfig,
    Generator,
    LatentCode,
    discriminator_step,
    train_gan,
)
from deltalab.optim.averaging import ema_of, ema_updater


def _real(n):
    return torch.randn(n, 2) + 3.0, None


@pytest.mark.parametrize("d_steps", [1, 3])
def test_gan_step_bookkeeping(d_steps):
    torch.manual_seed(0)
    G, D = Generator(4, 2, hidden_dim=16), Discriminator(2, hidden_dim=16)
    cfg = GANConfig(steps=7, batch_size=8, d_steps=d_steps, r1_gamma=0.1)
    hist = train_gan(G, D, _real, cfg, torch.Generator().manual_seed(0))
    assert all(len(v) == 7 for v in hist.values())
    assert cfg.history is hist
    assert all(0 <= v <= 1 for v in hist["d_real"] + hist["d_fake"])


def test_update_counts_match_d_steps(monkeypatch):
    calls = {"n": 0}
    orig = torch.optim.Adam.step

    def counting(self, *a, **k):
        calls["n"] += 1
        return orig(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", counting)
    train_gan(
        Generator(4, 2, hidden_dim=8),
        Discriminator(2, hidden_dim=8),
        _real,
        GANConfig(steps=5, batch_size=4, d_steps=2),
    )
    assert calls["n"] == 5 * (2 + 1)


def test_nonsaturating_generator_moves_toward_data():
    torch.manual_seed(0)
    G, D = Generator(4, 2, hidden_dim=32), Discriminator(2, hidden_dim=32)
    train_gan(
        G,
        D,
        _real,
        GANConfig(steps=300, batch_size=64, lr_g=2e-3, lr_d=2e-3),
        torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        m = G(torch.randn(500, 4)).mean(0)
    assert torch.allclose(m, torch.full((2,), 3.0), atol=1.0)


def test_conditional_models_need_labels_and_shapes():
    G = Generator(8, 64, num_classes=10, out="sigmoid")
    D = Discriminator(64, num_classes=10, spectral_norm=True)
    y = torch.arange(4)
    x = G(torch.randn(4, 8), y)
    assert x.shape == (4, 64) and ((x >= 0) & (x <= 1)).all()
    assert D(x, y).shape == (4,)
    with pytest.raises(ValueError, match="labels"):
        G(torch.randn(4, 8))
    with pytest.raises(ValueError, match="labels"):
        D(x)


@pytest.mark.parametrize("kw", [{"steps": 0}, {"d_steps": 0}, {"r1_gamma": -1.0}, {"r1_every": 0}])
def test_gan_config_rejects_bad_values(kw):
    with pytest.raises(ValueError, match="got"):
        GANConfig(**kw)


def test_cyclegan_loop_and_config():
    from deltalab.models.cyclegan import CycleGAN, CycleGANConfig, train_cyclegan

    torch.manual_seed(0)
    model = CycleGAN(1, hidden_channels=8)
    hist = train_cyclegan(
        model,
        lambda n: torch.rand(n, 1, 8, 8),
        lambda n: torch.rand(n, 1, 8, 8),
        CycleGANConfig(steps=3, batch_size=4, lambda_id=1.0),
    )
    assert all(len(v) == 3 for v in hist.values())
    assert model.G_ab(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)
    assert model.D_a(torch.rand(2, 1, 8, 8)).shape == (2,)
    with pytest.raises(ValueError, match="-1.0"):
        CycleGANConfig(lambda_cyc=-1.0)


def test_progressive_growing_phases_and_fade():
    from deltalab.models.progressive_gan import (
        ProgressiveConfig,
        ProgressiveDiscriminator,
        ProgressiveGenerator,
        train_progressive,
    )

    torch.manual_seed(0)
    G, D = ProgressiveGenerator(4, 8), ProgressiveDiscriminator(8)
    z = torch.randn(3, 4)
    assert G(z, 4).shape == (3, 1, 4, 4) and G(z, 8, 0.5).shape == (3, 1, 8, 8)
    # at α = 0 the 8×8 output is the upsampled 4×4 image
    assert torch.allclose(G(z, 8, 0.0), torch.nn.functional.interpolate(G(z, 4), scale_factor=2))
    assert D(torch.rand(3, 1, 4, 4)).shape == D(torch.rand(3, 1, 8, 8), 0.3).shape == (3,)
    hist = train_progressive(G, D, lambda n: torch.rand(n, 1, 8, 8), ProgressiveConfig(2, 4, 2, batch_size=4))
    assert hist["resolution"] == [4, 4, 8, 8, 8, 8, 8, 8]
    assert hist["alpha"][2:6] == [0.25, 0.5, 0.75, 1.0]
    with pytest.raises(ValueError, match="alpha"):
        G(z, 8, 1.5)


def test_latent_code_is_uniform_and_a_function_of_z():
    code = LatentCode(8, 4)
    z = torch.randn(80_000, 3, generator=torch.Generator().manual_seed(0))
    k = code.code(z)
    shares = torch.bincount(k, minlength=8).float() / k.numel()
    assert k.min() == 0 and k.max() == 7
    assert torch.allclose(shares, torch.full((8,), 1 / 8), atol=0.005)
    assert torch.equal(code(z[:5]), code.embed(k[:5]))
    G = Generator(4, 2, hidden_dim=8, codes=8)
    zz = torch.randn(6, 4)
    assert torch.equal(G(zz), G(zz)) and G(zz).shape == (6, 2)
    with pytest.raises(ValueError, match="got 1"):
        LatentCode(1, 4)


def test_generator_batchnorm_and_ema_follow_the_weights():
    G = Generator(4, 64, hidden_dim=16, out="sigmoid", norm=True)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules()) == 2
    ema = ema_of(G, 0.5)
    ema.update_parameters(G)  # first update copies
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    ema.update_parameters(G)
    for p, q in zip(G.parameters(), ema.module.parameters(), strict=True):
        assert torch.allclose(q, p - 0.5)  # 0.5 · old + 0.5 · (old + 1)
    with pytest.raises(ValueError, match="1.0"):
        ema_of(G, 1.0)


def test_ema_updater_matches_update_parameters_bit_for_bit_with_batchnorm():
    """ema_updater (groups built once) equals AveragedModel.update_parameters exactly, BatchNorm's
    running statistics and integer step counter (a second dtype group) included."""
    torch.manual_seed(0)
    G = Generator(4, 8, hidden_dim=16, out="sigmoid", norm=True)
    ref, fast = ema_of(G, 0.9), ema_of(G, 0.9)
    step = ema_updater(fast, G)
    for _ in range(4):
        G(torch.randn(32, 4))  # train mode: moves the running statistics and the step counter
        with torch.no_grad():
            for p in G.parameters():
                p.add_(torch.randn_like(p))
        ref.update_parameters(G)
        step()
    assert ref.n_averaged.item() == fast.n_averaged.item() == 4
    own = [*ref.module.parameters(), *ref.module.buffers()]
    for a, b in zip(own, [*fast.module.parameters(), *fast.module.buffers()], strict=True):
        assert torch.equal(a, b)


def test_discriminator_step_r1_penalizes_the_real_gradient():
    torch.manual_seed(0)
    D = Discriminator(2, hidden_dim=8)
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    plain, *_ = discriminator_step(D, torch.optim.SGD(D.parameters(), lr=0.0), real, fake)
    pen, *_ = discriminator_step(D, torch.optim.SGD(D.parameters(), lr=0.0), real, fake, r1_gamma=2.0)
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x)
    assert torch.allclose(pen - plain, grad.pow(2).sum(1).mean(), rtol=1e-5)  # γ/2 · E‖∇D‖², γ = 2


def test_lazy_r1_runs_the_penalty_every_kth_update(monkeypatch):
    import deltalab.models.gan as gan

    seen = []
    orig = gan.discriminator_step
    monkeypatch.setattr(gan, "discriminator_step", lambda *a: seen.append(a[4]) or orig(*a))
    train_gan(
        Generator(4, 2, hidden_dim=8),
        Discriminator(2, hidden_dim=8),
        _real,
        GANConfig(steps=6, batch_size=4, r1_gamma=0.5, r1_every=3),
    )
    assert seen == [1.5, 0.0, 0.0, 1.5, 0.0, 0.0]


def test_pixel_norm_gives_unit_rms_features():
    from deltalab.models.progressive_gan import PixelNorm, ProgressiveGenerator

    x = torch.randn(3, 5, 4, 4) * 7
    assert torch.allclose(PixelNorm()(x).pow(2).mean(1), torch.ones(3, 4, 4), atol=1e-5)
    G = ProgressiveGenerator(4, 8, codes=4)
    assert G(torch.randn(2, 4), 8, 0.5).shape == (2, 1, 8, 8)


def test_fade_blend_at_alpha_0_and_1_in_both_nets():
    import torch.nn.functional as F

    from deltalab.models.progressive_gan import ProgressiveDiscriminator, ProgressiveGenerator, fade

    low, high = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    assert torch.equal(fade(low, high, 0.0), low) and torch.equal(fade(low, high, 1.0), high)
    assert torch.allclose(fade(low, high, 0.25), 0.75 * low + 0.25 * high)
    torch.manual_seed(0)
    G, D = ProgressiveGenerator(4, 8), ProgressiveDiscriminator(8)
    z, x = torch.randn(3, 4), torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        h4 = G.block4(G.base(z).view(-1, 8, 4, 4))
        new8 = torch.sigmoid(G.to_rgb8(G.block8(F.interpolate(h4, scale_factor=2))))
        assert torch.allclose(G(z, 8, 1.0), new8)  # α = 1: the new block alone
        # D at α = 0 sees only the pooled image through fromRGB_4, i.e. it is D at 4×4
        assert torch.allclose(D(x, 0.0), D(F.avg_pool2d(x, 2)))
        h = F.avg_pool2d(D.block8(D.from_rgb8(x)), 2)
        assert torch.allclose(D(x, 1.0), D.trunk4(h).squeeze(1))


def test_progressive_phase_end_callback_sees_each_stage_once():
    from deltalab.models.progressive_gan import (
        ProgressiveConfig,
        ProgressiveDiscriminator,
        ProgressiveGenerator,
        train_progressive,
    )

    torch.manual_seed(0)
    G, D = ProgressiveGenerator(4, 8), ProgressiveDiscriminator(8)
    seen = []
    ema = ema_of(G, 0.9)
    real = lambda n: torch.rand(n, 1, 8, 8)  # noqa: E731
    hist = train_progressive(
        G,
        D,
        real,
        ProgressiveConfig(2, 3, 1, batch_size=4),
        ema=ema,
        on_phase_end=lambda p: seen.append((p, len(seen))),
    )
    assert [p for p, _ in seen] == ["4x4", "fade", "8x8"] and len(hist["alpha"]) == 6
    seen.clear()
    train_progressive(
        G, D, real, ProgressiveConfig(2, 0, 2, batch_size=4), on_phase_end=lambda p: seen.append((p, 0))
    )
    assert [p for p, _ in seen] == ["4x4", "8x8"]  # an empty phase is not reported
