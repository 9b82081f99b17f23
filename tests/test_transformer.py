"""Transformer models: every registered model trains a step (forward, backward, shape, no NaN)."""

import pytest
import torch

from deltalab.models.registry import create_model
from deltalab.models.transformer import SequenceTransformer, TransformerConfig
from deltalab.models.vit import ViT, ViTConfig

SHAPES = {
    "transformer-encoder": [(40,), (1, 40)],
    "decoder-only": [(40,), (2, 12)],
    "vit": [(1, 8, 8), (64,)],
}


@pytest.mark.parametrize("name,in_shape", [(n, s) for n, ss in SHAPES.items() for s in ss])
def test_registered_models_forward_backward(name, in_shape):
    torch.manual_seed(0)
    model = create_model(name, in_shape, 5, embed_dim=16, num_heads=2, num_layers=1)
    x = torch.randn(3, *in_shape)
    out = model(x)
    assert out.shape == (3, 5)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("pos", ["learned", "rope", "none"])
@pytest.mark.parametrize("causal", [False, True])
def test_sequence_transformer_shapes(pos, causal):
    m = SequenceTransformer(
        TransformerConfig(vocab_size=7, embed_dim=16, num_heads=2, causal=causal, pos=pos)
    )
    assert m(torch.randint(0, 7, (2, 9))).shape == (2, 9, 7)


def test_causal_model_does_not_look_ahead():
    torch.manual_seed(0)
    m = SequenceTransformer(TransformerConfig(vocab_size=7, embed_dim=16, num_heads=2, causal=True)).eval()
    x = torch.randint(0, 7, (1, 8))
    y = x.clone()
    y[0, 5:] = (y[0, 5:] + 1) % 7
    torch.testing.assert_close(m(x)[:, :5], m(y)[:, :5])


def test_config_and_shape_errors():
    with pytest.raises(ValueError, match="pos must be"):
        TransformerConfig(pos="sinusoid")
    with pytest.raises(ValueError, match="exactly one"):
        TransformerConfig(vocab_size=0, in_features=0)
    m = SequenceTransformer(TransformerConfig(vocab_size=7, embed_dim=16, num_heads=2, max_len=4))
    with pytest.raises(ValueError, match="max_len"):
        m(torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        m(torch.zeros(1, 4, 3))
    with pytest.raises(ValueError, match="patch_size must divide"):
        ViT(ViTConfig(patch_size=3))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        create_model("vit", (63,), 10)
    with pytest.raises(ValueError, match="expected images"):
        ViT(ViTConfig())(torch.zeros(2, 1, 9, 9))
