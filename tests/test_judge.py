import math

import pytest
import torch
from scipy.stats import wasserstein_distance

from deltalab.data.toy2d import ring_centers, sample_ring
from deltalab.eval.generative import mode_coverage, sliced_wasserstein, sliced_wasserstein_floor
from deltalab.eval.judge import JUNK, DigitsJudge, JudgeConfig, judge_scores, junk_images, train_judge


class _Fixed(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits


def test_judge_scores_counts():
    logits = torch.full((4, 11), -20.0)
    logits[0, 3] = logits[1, 3] = 20.0  # confident 3s
    logits[2, 5], logits[2, 6] = 1.0, 1.0  # unsure
    logits[3, JUNK] = 20.0  # junk
    s = judge_scores(_Fixed(logits), torch.zeros(4, 1, 8, 8), labels=torch.tensor([3, 4, 5, 0]))
    assert s["confident_frac"] == pytest.approx(0.5)
    assert s["junk_frac"] == pytest.approx(0.25)
    assert s["agreement"] == pytest.approx(
        0.75
    )  # 3, 5 (tie → first max), 0 (junk row: argmax of flat digit probs)
    assert s["class_entropy_bits"] == pytest.approx(1.5)


def test_judge_shapes_and_junk():
    j = DigitsJudge()
    assert j(torch.rand(5, 64)).shape == (5, 11)
    with pytest.raises(ValueError, match=r"\(5, 1, 4, 4\)"):
        j(torch.rand(5, 1, 4, 4))
    x = torch.rand(6, 1, 8, 8)
    assert junk_images(x, torch.arange(6), torch.Generator().manual_seed(0)).shape == x.shape


def test_mode_coverage_on_data_and_collapse():
    x, _ = sample_ring(4000, generator=torch.Generator().manual_seed(0))
    c = mode_coverage(x, ring_centers(), std=0.05)
    assert c["modes_held"] == 8 and c["near_frac"] > 0.98
    assert 0.9 < c["spread_ratio"] < 1.0  # the 3σ cut trims the tails a little
    collapsed = ring_centers()[[0]].expand(100, 2)
    c = mode_coverage(collapsed, ring_centers(), std=0.05)
    assert c["modes_held"] == 1 and c["near_frac"] == 1.0 and c["spread_ratio"] == 0.0


def test_sliced_wasserstein_matches_1d_and_floor():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 1, generator=g), torch.randn(500, 1, generator=g) + 0.5
    # in 1-D every projection is ±1, so SW equals the exact W1
    assert sliced_wasserstein(a, b, 8, g) == pytest.approx(wasserstein_distance(a[:, 0], b[:, 0]), rel=1e-5)
    assert sliced_wasserstein(a, a, 8, g) == 0.0
    floor = sliced_wasserstein_floor(
        lambda n, s: torch.randn(n, 2, generator=torch.Generator().manual_seed(s)), 500
    )
    assert 0 < floor < 0.15 and math.isfinite(floor)
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        sliced_wasserstein(torch.zeros(3, 2), torch.zeros(4, 2))


def test_training_the_judge_leaves_the_callers_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = train_judge(JudgeConfig(epochs=1))
    after = torch.rand(3)
    b = train_judge(JudgeConfig(epochs=1))
    assert torch.equal(after, expected)  # a claim's draws do not depend on whether the judge was trained
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))  # its own seed
