"""Every registered model: forward, backward, output shape, no NaN (parametrized over MODELS)."""

import fnmatch

import pytest
import torch

from deltalab.models.registry import MODELS, create_model

# input shapes for models that do not take (1, 8, 8) digits images
IN_SHAPES = {"mnist1d-*": (1, 40)}


def in_shape_for(name: str) -> tuple[int, ...]:
    for pattern, shape in IN_SHAPES.items():
        if fnmatch.fnmatchcase(name, pattern):
            return shape
    return (1, 8, 8)


@pytest.mark.parametrize("name", MODELS.names())
def test_forward_backward_shapes(name):
    torch.manual_seed(0)
    shape = in_shape_for(name)
    model = create_model(name, shape, 7)
    x = torch.rand(5, *shape)
    out = model(x)
    assert out.shape == (5, 7)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", ["cnn", "nin", "inception", "resnet"])
def test_image_models_take_flat_square_inputs(name):
    model = create_model(name, (64,), 10)
    assert model(torch.rand(3, 64)).shape == (3, 10)


@pytest.mark.parametrize("name", ["mnist1d-cnn", "mnist1d-gru", "mnist1d-mlp", "mnist1d-logistic"])
def test_mnist1d_models_take_flat_sequences(name):
    assert create_model(name, (40,), 10)(torch.rand(3, 40)).shape == (3, 10)


def test_bad_shapes_and_options_raise():
    with pytest.raises(ValueError, match="in_shape"):
        create_model("cnn", (63,), 10)
    with pytest.raises(ValueError, match="num_layers"):
        create_model("resnet", (1, 8, 8), 10, num_layers=7)
    with pytest.raises(ValueError, match="'avg'"):
        create_model("cnn", (1, 8, 8), 10, head="avg")
    with pytest.raises(ValueError, match=r"\(T,\) or \(1, T\)"):
        create_model("mnist1d-cnn", (3, 40), 10)


def test_plain_resnet_has_no_shortcuts():
    plain = create_model("resnet", (1, 8, 8), 10, num_layers=8, residual=False)
    res = create_model("resnet", (1, 8, 8), 10, num_layers=8)
    assert all(getattr(m, "shortcut", None) is None for m in plain if hasattr(m, "conv1"))
    assert sum(1 for m in res if getattr(m, "shortcut", None) is not None) == 3
