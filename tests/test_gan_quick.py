"""Unit tests for the speed options of the GAN loops and the progressive GAN's minibatch std and widths."""

import torch
import torch.nn.functional as F

from deltalab.models.gan import Discriminator, GANConfig, Generator, frozen, generator_loss, train_gan
from deltalab.models.progressive_gan import (
    MinibatchStd,
    ProgressiveConfig,
    ProgressiveDiscriminator,
    ProgressiveGenerator,
    train_progressive,
)


def test_frozen_skips_d_weight_grads_and_keeps_g_grads():
    torch.manual_seed(0)
    G, D = Generator(4, 3, hidden_dim=8), Discriminator(3, hidden_dim=8)
    z = torch.randn(5, 4)
    generator_loss(D(G(z))).backward()
    plain = [p.grad.clone() for p in G.parameters()]
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    with frozen(list(D.parameters())):
        assert not any(p.requires_grad for p in D.parameters())
        generator_loss(D(G(z))).backward()
    assert all(p.requires_grad and p.grad is None for p in D.parameters())  # restored, never computed
    assert all(torch.equal(a, p.grad) for a, p in zip(plain, G.parameters(), strict=True))


def test_foreach_adam_gives_the_same_training():
    def run(foreach):
        torch.manual_seed(0)
        G, D = Generator(4, 2, hidden_dim=8), Discriminator(2, hidden_dim=8)
        real = lambda n: (torch.randn(n, 2, generator=g) + 2.0, None)  # noqa: E731
        g = torch.Generator().manual_seed(1)
        train_gan(G, D, real, GANConfig(steps=5, batch_size=8, r1_gamma=0.1, foreach=foreach), g)
        return torch.cat([p.flatten() for p in G.parameters()])

    assert torch.allclose(run(None), run(True), atol=1e-6)


def test_fused_adam_trains_the_same_gan_up_to_rounding():
    def run(**kw):
        torch.manual_seed(0)
        G, D = Generator(4, 2, hidden_dim=8), Discriminator(2, hidden_dim=8)
        g = torch.Generator().manual_seed(1)
        real = lambda n: (torch.randn(n, 2, generator=g) + 2.0, None)  # noqa: E731
        train_gan(G, D, real, GANConfig(steps=5, batch_size=8, r1_gamma=0.1, **kw), g)
        return torch.cat([p.flatten() for p in G.parameters()])

    assert torch.allclose(run(foreach=True), run(fused=True), atol=1e-5)
    torch.manual_seed(0)
    G, D = ProgressiveGenerator(4, 8), ProgressiveDiscriminator(8, minibatch_std=True)
    cfg = ProgressiveConfig(1, 1, 1, batch_size=4, fused=True)
    assert len(train_progressive(G, D, lambda n: torch.rand(n, 1, 8, 8), cfg)["d_loss"]) == 3


def test_minibatch_std_appends_the_batch_spread():
    x = torch.randn(6, 3, 4, 4)
    y = MinibatchStd()(x)
    assert y.shape == (6, 4, 4, 4) and torch.equal(y[:, :3], x)
    assert torch.allclose(y[:, 3], x.std(0).mean().expand(6, 4, 4))
    # zero up to the rounding of the batch mean (the two-pass formula, models.progressive_gan)
    assert torch.allclose(MinibatchStd()(x[:1].expand(6, 3, 4, 4))[:, 3], torch.zeros(6, 4, 4), atol=1e-6)
    D = ProgressiveDiscriminator(8, minibatch_std=True)
    assert D(torch.rand(5, 1, 4, 4)).shape == D(torch.rand(5, 1, 8, 8), 0.5).shape == (5,)


def test_progressive_on_step_and_betas():
    torch.manual_seed(0)
    G, D = ProgressiveGenerator(4, 8), ProgressiveDiscriminator(8, minibatch_std=True)
    steps = []
    cfg = ProgressiveConfig(2, 2, 1, batch_size=4, betas=(0.0, 0.99), foreach=True)
    hist = train_progressive(G, D, lambda n: torch.rand(n, 1, 8, 8), cfg, on_step=steps.append)
    assert steps == [1, 2, 3, 4, 5] and len(hist["d_loss"]) == 5
    assert all(p.requires_grad for p in D.parameters())


def test_progressive_width_at_8x8_and_the_alpha_1_shortcut():
    torch.manual_seed(0)
    G = ProgressiveGenerator(4, 8, codes=4, channels_8=3)
    D = ProgressiveDiscriminator(8, minibatch_std=True, channels_8=3)
    assert G.block8[0].out_channels == 3 and G.to_rgb8.in_channels == 3
    assert D.from_rgb8[0].out_channels == 3 and D.block8[0].in_channels == 3 and D.block8[0].out_channels == 8
    z, x = torch.randn(5, 4), torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        # α = 1 skips the old path: bitwise the blend (1 − 1) · old + 1 · new of the general formula
        zc = torch.cat([z, G.code(z)], dim=1)
        h4 = G.block4(G.base(zc).view(-1, 8, 4, 4))
        old = F.interpolate(torch.sigmoid(G.to_rgb4(h4)), scale_factor=2)
        new = torch.sigmoid(G.to_rgb8(G.block8(F.interpolate(h4, scale_factor=2))))
        assert torch.equal(G(z, 8, 1.0), 0.0 * old + 1.0 * new)
        h = F.avg_pool2d(D.block8(D.from_rgb8(x)), 2)
        skip = D.from_rgb4(F.avg_pool2d(x, 2))
        assert torch.equal(D(x, 1.0), D.trunk4(0.0 * skip + 1.0 * h).squeeze(1))
        assert G(z, 8, 0.5).shape == (5, 1, 8, 8) and D(x, 0.5).shape == (5,)
    # at α = 1 the old output paths get no gradient (their weight in the blend is 0)
    D(G(z, 8, 1.0), 1.0).sum().backward()
    assert G.to_rgb4.weight.grad is None and D.from_rgb4[0].weight.grad is None
    assert G.to_rgb8.weight.grad is not None and D.from_rgb8[0].weight.grad is not None
