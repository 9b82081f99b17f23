import pytest
import torch
from scipy.stats import ks_2samp

from deltalab.models.diffusion import MLPDenoiser, NoiseSchedule, lognormal_t_probs, train_diffusion
from deltalab.models.latent_diffusion import LatentAutoencoder, LatentDiffusion
from deltalab.optim.averaging import ema_of


def test_linear_schedule_alpha_bar_values():
    s = NoiseSchedule()
    ref = {0: 0.9999, 99: 0.8970, 499: 0.07859, 999: 4.036e-5}
    for t, v in ref.items():
        assert s.alpha_bars[t].item() == pytest.approx(v, rel=2e-4)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)


@pytest.mark.parametrize("t", [9, 99, 499])
def test_closed_form_equals_iterated_noising_in_distribution(t):
    s = NoiseSchedule()
    n = 3000
    x0 = torch.tensor([[1.5, -0.5]]).expand(n, 2)
    g = torch.Generator().manual_seed(t)
    it = s.iterate_noising(x0, t, generator=g)
    cf = s.q_sample(x0, torch.full((n,), t), torch.randn(n, 2, generator=g))
    ab = s.alpha_bars[t].item()
    for d in range(2):
        assert ks_2samp(it[:, d].numpy(), cf[:, d].numpy()).pvalue > 1e-3
        assert it[:, d].mean().item() == pytest.approx(ab**0.5 * x0[0, d].item(), abs=0.06)
        assert it[:, d].std().item() == pytest.approx((1 - ab) ** 0.5, rel=0.06)


@pytest.mark.parametrize("kw", [{"timesteps": 0}, {"beta_start": 0.0}, {"beta_start": 0.1, "beta_end": 0.01}])
def test_schedule_rejects_bad_values(kw):
    with pytest.raises(ValueError, match="got"):
        NoiseSchedule(**kw)


def test_samplers_shapes_and_ddim_steps_validation():
    s = NoiseSchedule(timesteps=50)
    model = MLPDenoiser(2, hidden_dim=16, num_layers=1)
    g = torch.Generator().manual_seed(0)
    assert s.sample_ancestral(model, (7, 2), generator=g).shape == (7, 2)
    assert s.sample_ddim(model, (7, 2), steps=10, generator=g).shape == (7, 2)
    with pytest.raises(ValueError, match="51"):
        s.sample_ddim(model, (7, 2), steps=51)


def test_perfect_denoiser_recovers_point_mass():
    """With data = one point c, the exact ε is (x_t − √ᾱ c)/√(1 − ᾱ); both samplers must land on c."""
    s = NoiseSchedule(timesteps=200)
    c = torch.tensor([0.7, -1.2])

    def eps(x, t):
        ab = s.alpha_bars[t].float()[:, None]
        return (x - ab.sqrt() * c) / (1 - ab).sqrt()

    g = torch.Generator().manual_seed(0)
    assert torch.allclose(s.sample_ddim(eps, (5, 2), steps=20, generator=g), c.expand(5, 2), atol=1e-3)
    assert torch.allclose(s.sample_ancestral(eps, (5, 2), generator=g), c.expand(5, 2), atol=1e-3)
    x = s.sample_ddim(eps, (5, 2), steps=20, generator=g, eta=1.0)  # strided ancestral
    assert torch.allclose(x, c.expand(5, 2), atol=1e-3)


def test_training_lowers_loss_on_2d():
    torch.manual_seed(0)
    s = NoiseSchedule()
    data = torch.randn(512, 2) * 0.1 + 1.0
    losses = train_diffusion(
        MLPDenoiser(2, hidden_dim=32, num_layers=2), s, data, 300, 128, 2e-3, torch.Generator().manual_seed(0)
    )
    assert sum(losses[-30:]) / 30 < 0.8 * sum(losses[:30]) / 30


def test_latent_diffusion_sample_shape_and_ae_validation():
    ae = LatentAutoencoder(64, latent_dim=4)
    ldm = LatentDiffusion(ae, MLPDenoiser(4, hidden_dim=16, num_layers=1), torch.zeros(4), torch.ones(4))
    x = ldm.sample(NoiseSchedule(timesteps=20), 3, steps=5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 8, 8) and torch.isfinite(x).all()
    with pytest.raises(ValueError, match="64"):
        LatentAutoencoder(64, latent_dim=64)


def test_ddim_rejects_bad_eta():
    with pytest.raises(ValueError, match="1.5"):
        NoiseSchedule(timesteps=20).sample_ddim(
            MLPDenoiser(2, hidden_dim=4, num_layers=1), (5, 2), steps=5, eta=1.5
        )


def test_strided_ancestral_matches_gaussian_data_distribution():
    """For data N(m, v) the exact ε is known; η = 1 over all T steps must return N(m, v).

    (With 50 strided steps the plug-in x̂_0 under-disperses: variance 0.20 instead of 0.25.)"""
    s = NoiseSchedule()
    m, v = 0.5, 0.25

    def eps(x, t):
        ab = s.alpha_bars[t].float()[:, None]
        return (1 - ab).sqrt() * (x - ab.sqrt() * m) / (ab * v + 1 - ab)

    x = s.sample_ddim(eps, (4000, 1), steps=1000, generator=torch.Generator().manual_seed(1), eta=1.0)
    assert x.mean().item() == pytest.approx(m, abs=0.03) and x.var().item() == pytest.approx(v, rel=0.08)


def test_lognormal_t_probs_is_a_distribution_peaked_at_the_mean_sigma():
    s = NoiseSchedule()
    p = lognormal_t_probs(s, mean=0.3, std=0.8, uniform_mix=0.2)
    sigma = ((1 - s.alpha_bars) / s.alpha_bars).sqrt()
    assert p.shape == (1000,) and p.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert p.min().item() >= 0.2 / 1000 - 1e-9  # the uniform share keeps every t trained
    assert sigma[p.argmax()].log().item() == pytest.approx(0.3, abs=0.2)
    with pytest.raises(ValueError, match="-1"):
        lognormal_t_probs(s, 0.0, -1.0)


def test_train_diffusion_warmup_ema_and_validation():
    torch.manual_seed(0)
    s = NoiseSchedule()
    data = torch.randn(512, 2) * 0.1 + 1.0
    model = MLPDenoiser(2, hidden_dim=32, num_layers=2)
    ema = ema_of(model, 0.9)
    g = torch.Generator().manual_seed(0)
    losses = train_diffusion(
        model, s, data, 200, 64, 5e-3, g, warmup=20, ema=ema, t_probs=lognormal_t_probs(s, 0, 1)
    )
    assert len(losses) == 200 and sum(losses[-20:]) < sum(losses[:20])
    assert ema.n_averaged.item() == 200
    assert not torch.equal(ema.module.net[0].weight, model.net[0].weight)
    with pytest.raises(ValueError, match="warmup=10"):
        train_diffusion(model, s, data, 10, 64, warmup=10)


def test_iid_floor_is_what_a_perfect_sampler_scores_and_a_shifted_one_exceeds():
    """A perfect (iid) sampler sits near 1x the floor; make_moons pairs would put it well above."""
    from deltalab.data.toy2d import sample_toy2d
    from deltalab.eval.generative import sliced_wasserstein
    from deltalab.experiments.diffusion import iid_floor

    ref = sample_toy2d("moons", 500, seed=1)[0]
    pool = sample_toy2d("moons", 50_000, seed=2)[0]
    floor = iid_floor(pool, ref, repeats=5, seed=0)
    g = torch.Generator().manual_seed(3)
    ratios = [
        sliced_wasserstein(pool[torch.randint(0, 50_000, (500,), generator=g)], ref, generator=g) / floor
        for _ in range(8)
    ]
    assert 0.8 < sum(ratios) / 8 < 1.25 and max(ratios) < 1.8
    shifted = pool[torch.randint(0, 50_000, (500,), generator=g)] + torch.tensor([0.2, 0.0])
    assert sliced_wasserstein(shifted, ref, generator=g) / floor > 2.0
