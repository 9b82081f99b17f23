"""Circuits: residual decomposition reproduces logits, ablation, circuit ranks; the UT model."""

import pytest
import torch

from deltalab.analysis.circuits import (
    AttnOnlyConfig,
    AttnOnlyTransformer,
    copying_score,
    ov_circuit,
    prefix_matching_scores,
    qk_circuit,
)
from deltalab.data.seq import induction
from deltalab.models.universal_transformer import UniversalTransformer, UTConfig


def _model() -> AttnOnlyTransformer:
    torch.manual_seed(0)
    return AttnOnlyTransformer(AttnOnlyConfig(vocab_size=8, max_len=16, embed_dim=16, num_heads=2)).double()


def test_decomposition_reproduces_logits():
    m = _model()
    tok = torch.randint(0, 8, (3, 12))
    terms = m.residual_terms(tok)
    torch.testing.assert_close(m.unembed(sum(terms.values())), m(tok), atol=1e-10, rtol=0)
    torch.testing.assert_close(
        m(tok, head_mask=torch.ones(2, 2, dtype=torch.float64)), m(tok), atol=1e-10, rtol=0
    )


def test_circuit_shapes_ranks_and_scores():
    m = _model()
    attn = m.layers[0]
    assert qk_circuit(attn, 1).shape == (16, 16)
    assert torch.linalg.matrix_rank(ov_circuit(attn, 1)) <= attn.head_dim
    assert -1.0 <= copying_score(m, 1, 0) <= 1.0
    tok = induction(4, 6, vocab=8, generator=torch.Generator().manual_seed(0)).x
    s = prefix_matching_scores(m, tok, 6)
    assert s.shape == (2, 2) and ((s >= 0) & (s <= 1)).all()
    with pytest.raises(ValueError, match="2\\*block"):
        prefix_matching_scores(m, tok, 5)
    with pytest.raises(ValueError, match="head_mask"):
        m(tok, head_mask=torch.ones(3, 2))


def test_each_head_writes_at_most_d_head_rank():
    """The circuits claim's rank statement, with d_head = 4 < E = 16 so that it can fail (in the
    experiment one head per layer makes d_head = E and the rank bound vacuous)."""
    torch.manual_seed(0)
    m = AttnOnlyTransformer(AttnOnlyConfig(vocab_size=8, max_len=16, embed_dim=16, num_heads=4)).double()
    tok = torch.randint(0, 8, (5, 12))
    terms = m.residual_terms(tok)
    for l, attn in enumerate(m.layers):
        assert attn.head_dim == 4
        for h in range(4):
            assert torch.linalg.matrix_rank(ov_circuit(attn, h)) == attn.head_dim
            out = terms[f"L{l}.H{h}"].reshape(-1, 16)  # (B·T, E): every position's write
            assert torch.linalg.matrix_rank(out, rtol=1e-8) == attn.head_dim


@pytest.mark.parametrize("act", [True, False])
def test_universal_transformer_forward_backward(act):
    torch.manual_seed(0)
    m = UniversalTransformer(UTConfig(embed_dim=16, num_heads=2, max_steps=4, act=act))
    x = torch.randint(0, 2, (3, 7))
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[0, 5:] = True
    out = m(x, key_padding_mask=pad)
    assert out.shape == (3, 2) and m.ponder.shape == (3,)
    assert ((m.ponder >= 1) & (m.ponder <= 4 + 1e-6)).all()
    (out.sum() + m.ponder.mean()).backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    with pytest.raises(ValueError, match="max_steps"):
        UTConfig(max_steps=0)
