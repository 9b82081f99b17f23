import pytest
import torch

from deltalab.models.unet import UNet, sinusoidal_embedding


@pytest.mark.parametrize(
    ("size", "mults"), [(8, (1, 2)), (8, (1, 2, 2)), (4, (1, 2)), (16, (1, 2, 4)), (8, (1,))]
)
def test_unet_shapes_forward_backward(size, mults):
    model = UNet(in_channels=1, base_channels=8, channel_mults=mults, time_embed_dim=16)
    x = torch.randn(3, 1, size, size)
    out = model(x, torch.tensor([0, 10, 999]))
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unet_conditioning_and_null_path():
    model = UNet(base_channels=8, time_embed_dim=16, cond_dim=5)
    torch.nn.init.normal_(model.out[-1].weight)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 400])
    a, b = model(x, t, torch.randn(2, 5)), model(x, t, None)
    assert a.shape == b.shape == x.shape and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="cond_dim"):
        UNet(base_channels=8, time_embed_dim=16)(x, t, torch.randn(2, 5))


def test_unet_rejects_indivisible_size():
    with pytest.raises(ValueError, match=r"\(2, 1, 6, 6\)"):
        UNet(base_channels=8, channel_mults=(1, 2, 2), time_embed_dim=16)(
            torch.randn(2, 1, 6, 6), torch.zeros(2).long()
        )


def test_sinusoidal_embedding_values():
    e = sinusoidal_embedding(torch.tensor([0, 5]), 8)
    assert e.shape == (2, 8)
    assert torch.allclose(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert e[1, 0].item() == pytest.approx(torch.sin(torch.tensor(5.0)).item())
    with pytest.raises(ValueError, match="7"):
        sinusoidal_embedding(torch.tensor([1]), 7)
