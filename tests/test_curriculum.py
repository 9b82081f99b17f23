"""curriculum: bit error on copy and the steps-to-target loop (both arms)."""

import torch

from deltalab.data.seq import copy
from deltalab.experiments.memory import bit_error, steps_to_copy_target


class _Oracle(torch.nn.Module):
    """Outputs +1/−1 logits for the answer bits of a copy batch (perfect, or with the first bit flipped)."""

    def __init__(self, flip: bool) -> None:
        super().__init__()
        self.flip = flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = (x.shape[1] - 1) // 2
        out = torch.zeros(x.shape[0], x.shape[1], x.shape[2] - 1)
        out[:, length + 1 :] = x[:, :length, :-1] * 2 - 1
        if self.flip:
            out[:, length + 1, 0] *= -1
        return out


def test_bit_error_counts_wrong_answer_bits():
    b = copy(16, 5, 4, generator=torch.Generator().manual_seed(0))
    assert bit_error(_Oracle(False), b) == 0.0
    assert abs(bit_error(_Oracle(True), b) - 1 / 20) < 1e-6  # one of 5·4 answer bits per row


def test_steps_to_target_stops_at_the_cap_and_reports_both_arms():
    for curriculum in (True, False):
        steps, reached, curve = steps_to_copy_target(curriculum, 2, 4, cap=50, target=0.0, seed=0)
        assert (steps, reached) == (50, False) and len(curve) == 2  # checked every 25 steps
        assert all(0.0 <= e <= 1.0 for e in curve)
    steps, reached, curve = steps_to_copy_target(False, 2, 4, cap=50, target=1.01, seed=0)
    assert (steps, reached, len(curve)) == (25, True, 1)
