import pytest
import torch

from deltalab.eval.subspace import principal_angles
from deltalab.models.autoencoder import (
    AETrainConfig,
    Autoencoder,
    LinearAutoencoder,
    fit_linear_autoencoder,
    gaussian_noise,
    masking_noise,
    train_autoencoder,
)
from deltalab.theory.purification import purification_closed_form, purification_loss


def test_linear_ae_finds_the_principal_subspace_of_a_low_rank_gaussian():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=g, dtype=torch.float64) * torch.tensor(
        [3.0, 2.0, 1.0, 0.2, 0.1, 0.05], dtype=torch.float64
    )
    x = x - x.mean(0)
    torch.manual_seed(0)
    model = LinearAutoencoder(6, 2).double()
    fit_linear_autoencoder(model, x, max_iter=100)
    pcs = torch.linalg.eigh(x.T @ x).eigenvectors[:, -2:]  # sample top-2 principal directions
    assert principal_angles(model.decoder.weight.detach(), pcs).max() < 1e-4


def test_purification_closed_form_is_a_stationary_point_and_matches_the_inverse_formula():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)  # D > N: rank-deficient
    w = purification_closed_form(x, 0.7)
    ref = x @ x.T @ torch.linalg.inv(x @ x.T + 0.7 * torch.eye(5, dtype=torch.float64))
    assert torch.allclose(w, ref, atol=1e-12)
    w_var = w.clone().requires_grad_(True)
    purification_loss(w_var, x, 0.7).backward()
    assert w_var.grad.abs().max() < 1e-10


@pytest.mark.parametrize("build", [lambda: Autoencoder(64, 32), lambda: LinearAutoencoder(64, 8)])
def test_autoencoders_train_and_keep_shapes(build):
    torch.manual_seed(0)  # the model's init and the noise draw from the global generator
    model = build()
    x = torch.rand(64, 64, generator=torch.Generator().manual_seed(0))
    losses = train_autoencoder(model, x, AETrainConfig(steps=60, batch_size=16), gaussian_noise(0.1))
    assert model(x).shape == x.shape and all(torch.isfinite(torch.tensor(losses)))
    # minibatch losses are noisy: compare the means of the first and last ten steps
    assert sum(losses[-10:]) < 0.9 * sum(losses[:10])


def test_masking_noise_zeroes_about_p():
    x = torch.ones(200, 50)
    out = masking_noise(0.3)(x, torch.Generator().manual_seed(0))
    assert abs((out == 0).float().mean().item() - 0.3) < 0.02


def test_masking_noise_with_a_fill_sets_about_p_to_it():
    x = torch.zeros(200, 50)
    out = masking_noise(0.3, fill=0.5)(x, torch.Generator().manual_seed(0))
    assert abs((out == 0.5).float().mean().item() - 0.3) < 0.02 and set(out.unique().tolist()) == {0.0, 0.5}


def test_emphasis_weighs_only_the_kept_inputs_and_is_a_no_op_at_one():
    # a corruption that changes nothing: every input is "kept", so kept_weight 0 leaves a zero loss
    x = torch.rand(32, 8)
    torch.manual_seed(0)
    model = Autoencoder(8, 4)
    losses = train_autoencoder(
        model, x, AETrainConfig(steps=2, batch_size=8), lambda v, g: v, kept_weight=0.0
    )
    assert losses == [0.0, 0.0]
    runs = []
    for w in (None, 1.0):  # the default and kept_weight=1 train identically
        torch.manual_seed(0)
        m = Autoencoder(8, 4)
        kw = {} if w is None else {"kept_weight": w}
        runs.append(train_autoencoder(m, x, AETrainConfig(steps=5, batch_size=8), masking_noise(0.3), **kw))
    assert runs[0] == runs[1]


def test_bad_values_raise_with_the_value():
    with pytest.raises(ValueError, match="9"):
        LinearAutoencoder(8, 9)
    with pytest.raises(ValueError, match="1.5"):
        masking_noise(1.5)
    with pytest.raises(ValueError, match="2"):
        train_autoencoder(Autoencoder(4, 2), torch.rand(4, 4), AETrainConfig(steps=1), kept_weight=2.0)
    with pytest.raises(ValueError, match="-1"):
        purification_closed_form(torch.randn(3, 3), -1)
