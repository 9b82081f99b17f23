"""Unit tests for the speed options of the GAN loops and the progressive GAN's minibatch std."""

import torch

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
    G, D = Generator(4, 3, hidden=8), Discriminator(3, hidden=8)
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
        G, D = Generator(4, 2, hidden=8), Discriminator(2, hidden=8)
        real = lambda n: (torch.randn(n, 2, generator=g) + 2.0, None)  # noqa: E731
        g = torch.Generator().manual_seed(1)
        train_gan(G, D, real, GANConfig(steps=5, batch_size=8, r1_gamma=0.1, foreach=foreach), g)
        return torch.cat([p.flatten() for p in G.parameters()])

    assert torch.allclose(run(None), run(True), atol=1e-6)


def test_minibatch_std_appends_the_batch_spread():
    x = torch.randn(6, 3, 4, 4)
    y = MinibatchStd()(x)
    assert y.shape == (6, 4, 4, 4) and torch.equal(y[:, :3], x)
    assert torch.allclose(y[:, 3], x.std(0).mean().expand(6, 4, 4))
    assert torch.allclose(MinibatchStd()(x[:1].expand(6, 3, 4, 4))[:, 3], torch.zeros(6, 4, 4))
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
