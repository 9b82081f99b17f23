"""Fast checks of the diffusion training options the ddpm / latent-diffusion recipes use."""

import pytest
import torch

from deltalab.models.diffusion import MLPDenoiser, NoiseSchedule, train_diffusion


def _train(**kw) -> tuple[MLPDenoiser, list[float]]:
    torch.manual_seed(0)
    model = MLPDenoiser(2, hidden_dim=32, num_layers=2)
    data = torch.randn(256, 2) * 0.1 + 1.0
    losses = train_diffusion(
        model, NoiseSchedule(), data, 60, 32, 5e-3, torch.Generator().manual_seed(0), **kw
    )
    return model, losses


def test_fused_adam_is_the_same_update():
    """fused=True only changes how the step runs: the losses and weights match the default to float noise."""
    (m0, l0), (m1, l1) = _train(), _train(fused=True)
    assert l1 == pytest.approx(l0, rel=1e-4, abs=1e-6)
    for p0, p1 in zip(m0.parameters(), m1.parameters(), strict=True):
        assert torch.allclose(p0, p1, atol=1e-5)


def test_weight_decay_shrinks_the_weights_and_betas_change_the_run():
    (m0, _), (m1, _) = _train(), _train(weight_decay=5.0)
    norm = lambda m: sum(p.pow(2).sum() for p in m.parameters()).item()  # noqa: E731
    assert norm(m1) < norm(m0)
    (_, l0), (_, l2) = _train(), _train(betas=(0.9, 0.99))
    assert l0 != l2
    with pytest.raises(ValueError, match="weight_decay"):
        _train(weight_decay=-1.0)


def test_stratified_t_covers_every_stratum_and_keeps_the_distribution():
    """Low-discrepancy t: with b = T uniform draws each t exactly once; with t_probs each batch
    puts ≈ b·p(t) draws on each t, and over many batches the histogram matches p(t)."""
    sched = NoiseSchedule(timesteps=10)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        t = sched.draw_t(10, generator=g, stratified=True)
        assert sorted(t.tolist()) == list(range(10))
    probs = torch.tensor([0.05, 0.05, 0.1, 0.2, 0.3, 0.1, 0.1, 0.05, 0.03, 0.02])
    counts = torch.zeros(10)
    for _ in range(400):
        t = sched.draw_t(20, probs, g, stratified=True)
        c = torch.bincount(t, minlength=10).float()
        assert (c - 20 * probs).abs().max() <= 1.0 + 1e-6  # every batch within one draw of b·p(t)
        counts += c
    assert torch.allclose(counts / counts.sum(), probs, atol=0.005)
    (_, l0), (_, l1) = _train(), _train(stratified_t=True)
    assert l0 != l1 and all(v == v for v in l1)
