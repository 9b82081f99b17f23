"""Encoder–decoder with and without attention: shapes, teacher forcing, greedy decoding, gradients."""

import pytest
import torch

from deltalab.nn.seq2seq import Seq2Seq


@pytest.mark.parametrize("attention", [True, False])
def test_forward_backward_and_greedy(attention: bool) -> None:
    torch.manual_seed(0)
    m = Seq2Seq(7, hidden_size=8, embed_dim=4, attention=attention)
    src, tgt = torch.randint(0, 7, (3, 5)), torch.randint(0, 7, (3, 5))
    tin = m.teacher_inputs(tgt)
    assert torch.all(tin[:, 0] == 7) and torch.equal(tin[:, 1:], tgt[:, :-1])
    logits = m(src, tin)
    assert logits.shape == (3, 5, 7) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    out = m.greedy(src, 5)
    assert out.shape == (3, 5) and out.max() < 7


@pytest.mark.parametrize("attention", [True, False])
def test_greedy_equals_teacher_forcing_on_its_own_output(attention: bool) -> None:
    torch.manual_seed(1)
    m = Seq2Seq(6, hidden_size=8, embed_dim=4, attention=attention)
    src = torch.randint(0, 6, (4, 6))
    out = m.greedy(src, 6)
    with torch.no_grad():
        assert torch.equal(m(src, m.teacher_inputs(out)).argmax(-1), out)


def test_bad_values() -> None:
    with pytest.raises(ValueError, match="even"):
        Seq2Seq(5, hidden_size=7)
    with pytest.raises(ValueError, match=r"\(B, S\)"):
        Seq2Seq(5, hidden_size=8).encode(torch.zeros(3, dtype=torch.long))
