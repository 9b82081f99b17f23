"""RAM: glimpse sensor, canvas placement, forward/backward of both variants, bad configs."""

import pytest
import torch

from deltalab.models.ram import RAM, RAMConfig, glimpse, place_on_canvas, ram_loss


def test_glimpse_reads_the_right_pixels() -> None:
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, :2, :2] = 1.0  # top-left 2×2 block
    top_left = torch.tensor([[-0.75, -0.75]])  # centre of the top-left 2×2 block
    g = glimpse(img, top_left, size=2, scales=1)
    torch.testing.assert_close(g, torch.ones(1, 4))
    assert glimpse(img, torch.tensor([[0.75, 0.75]]), 2, 1).abs().sum() == 0
    assert glimpse(img, top_left, 2, 3).shape == (1, 12)


def test_place_on_canvas_keeps_the_digit() -> None:
    x = torch.rand(5, 1, 8, 8)
    c = place_on_canvas(x, 20, torch.Generator().manual_seed(0))
    assert c.shape == (5, 1, 20, 20)
    torch.testing.assert_close(c.sum((1, 2, 3)), x.sum((1, 2, 3)))
    with pytest.raises(ValueError, match="got 4"):
        place_on_canvas(x, 4)


@pytest.mark.parametrize("random_glimpses", [False, True])
def test_forward_backward(random_glimpses: bool) -> None:
    torch.manual_seed(0)
    m = RAM(RAMConfig(patch=4, scales=2, glimpses=3, hidden_size=16), random_glimpses=random_glimpses)
    x = torch.rand(6, 1, 16, 16)
    logits, lp, bl, locs = m(x)
    assert logits.shape == (6, 10) and locs.shape == (6, 3, 2)
    assert lp.shape == bl.shape == ((6, 0) if random_glimpses else (6, 2))
    loss = ram_loss(logits, lp, bl, torch.randint(0, 10, (6,)))
    assert torch.isfinite(loss)
    loss.backward()
    if not random_glimpses:
        assert m.loc_mean.weight.grad is not None and m.loc_mean.weight.grad.abs().sum() > 0


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="std must be > 0, got 0"):
        RAMConfig(std=0)
    with pytest.raises(ValueError, match="glimpses must be >= 1, got 0"):
        RAMConfig(glimpses=0)
