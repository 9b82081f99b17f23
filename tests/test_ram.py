"""RAM: glimpse sensor, canvas placement, the leave-one-out baseline and REINFORCE loss, forward/backward
of both variants with several trajectories per image, bad configs."""

import pytest
import torch

from deltalab.models.ram import (
    RAM,
    RAMConfig,
    glimpse,
    leave_one_out_baseline,
    place_on_canvas,
    ram_loss,
    reinforce_loss,
)


def test_glimpse_reads_the_right_pixels() -> None:
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, :2, :2] = 1.0  # top-left 2×2 block
    top_left = torch.tensor([[-0.75, -0.75]])  # centre of the top-left 2×2 block
    g = glimpse(img, top_left, size=2, scales=1)
    torch.testing.assert_close(g, torch.ones(1, 4))
    assert glimpse(img, torch.tensor([[0.75, 0.75]]), 2, 1).abs().sum() == 0
    assert glimpse(img, top_left, 2, 3).shape == (1, 12)


def test_glimpse_matches_torch_affine_grid() -> None:
    """The sampling grid built by broadcasting equals torch's affine_grid with θ = [[g/W, 0, x], [0, g/H, y]]."""
    g = torch.Generator().manual_seed(0)
    images, loc = torch.rand(5, 2, 16, 12, generator=g), torch.rand(5, 2, generator=g) * 2 - 1
    theta = torch.zeros(5, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = 4 / 12, 4 / 16, loc
    grid = torch.nn.functional.affine_grid(theta, [5, 1, 4, 4], align_corners=False)
    expected = torch.nn.functional.grid_sample(images, grid, align_corners=False).flatten(1)
    torch.testing.assert_close(glimpse(images, loc, size=4, scales=1), expected, rtol=1e-6, atol=1e-6)


def test_coarse_scale_is_a_block_average() -> None:
    # a 4×4 image with one bright pixel; scale 1 of a 2-px glimpse at the centre covers all 16 pixels,
    # averaged over 2×2 blocks: the block holding the pixel reads 1/4, the others 0
    img = torch.zeros(1, 1, 4, 4)
    img[0, 0, 0, 1] = 1.0  # row 0, column 1: the top-left 2×2 block
    g = glimpse(img, torch.zeros(1, 2), size=2, scales=2)
    torch.testing.assert_close(g[0, 4:], torch.tensor([0.25, 0.0, 0.0, 0.0]))
    assert g[0, :4].abs().sum() == 0  # the finest 2×2 patch at the centre misses the pixel


def test_glimpse_at_the_returned_centre_sees_the_digit() -> None:
    x = torch.rand(3, 1, 8, 8)
    c, centres = place_on_canvas(x, 24, torch.Generator().manual_seed(1), return_centres=True)
    torch.testing.assert_close(glimpse(c, centres, 8, 1), x.flatten(1))


def test_reinforce_loss_pushes_the_mean_towards_rewarded_locations() -> None:
    # one location dimension, baseline 0.5: the sample at +1 was rewarded (R=1), the one at −1 not
    mean = torch.zeros(2, 1, requires_grad=True)
    loc = torch.tensor([[1.0], [-1.0]])
    log_probs = -((loc - mean) ** 2) / 2
    loss = reinforce_loss(log_probs, torch.tensor([1.0, 0.0]), torch.full((2,), 0.5))
    loss.backward()
    # descent raises both means: towards the rewarded +1, away from the unrewarded −1
    assert mean.grad[0, 0] < 0 and mean.grad[1, 0] < 0
    # zero when every reward equals its baseline
    torch.testing.assert_close(
        reinforce_loss(torch.ones(2, 3), torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0])),
        torch.tensor(0.0),
    )


def test_leave_one_out_baseline_by_hand() -> None:
    # two images, three trajectories each (image-major rows)
    reward = torch.tensor([1.0, 0.0, 2.0, -3.0, 3.0, 0.0])
    b = leave_one_out_baseline(reward, 3)
    torch.testing.assert_close(b, torch.tensor([1.0, 1.5, 0.5, 1.5, -1.5, 0.0]))
    # each advantage is M/(M−1) × (R − the image's mean reward): an image that every trajectory gets
    # equally right (or wrong) teaches the policy nothing
    r = reward.view(2, 3)
    torch.testing.assert_close((reward - b).view(2, 3), 1.5 * (r - r.mean(1, keepdim=True)))
    flat = leave_one_out_baseline(torch.tensor([5.0, 5.0, 5.0, 5.0]), 2)
    torch.testing.assert_close(flat, torch.full((4,), 5.0))
    with pytest.raises(ValueError, match="got 1"):
        leave_one_out_baseline(reward, 1)


def test_samples_share_the_first_glimpse() -> None:
    torch.manual_seed(0)
    m = RAM(RAMConfig(patch=4, scales=2, glimpses=3, hidden_size=16))
    x = torch.rand(2, 1, 16, 16)
    _, lp, locs = m(x, samples=3)
    assert lp.shape == (6, 2) and locs.shape == (6, 3, 2)
    assert (locs[:, 0] == 0).all()  # first glimpse at the centre
    assert not torch.equal(locs[0, 1], locs[1, 1])  # trajectories on the same image differ
    # with the policy mean (no sampling) the M trajectories of one image coincide and match samples=1
    logits_m, _, locs_m = m(x, sample=False, samples=3)
    logits_1, _, locs_1 = m(x, sample=False)
    torch.testing.assert_close(logits_m[::3], logits_1)
    torch.testing.assert_close(locs_m[1::3], locs_1)


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
    logits, lp, locs = m(x, samples=2)
    assert logits.shape == (12, 10) and locs.shape == (12, 3, 2)
    assert lp.shape == ((12, 0) if random_glimpses else (12, 2))
    loss = ram_loss(logits, lp, torch.randint(0, 10, (6,)).repeat_interleave(2), 2)
    assert torch.isfinite(loss)
    loss.backward()
    if not random_glimpses:
        assert m.loc_mean.weight.grad is not None and m.loc_mean.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="samples must be >= 1, got 0"):
        m(x, samples=0)


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="std must be > 0, got 0"):
        RAMConfig(std=0)
    with pytest.raises(ValueError, match="glimpses must be >= 1, got 0"):
        RAMConfig(glimpses=0)
