"""Adaptive computation time in the Universal Transformer: halting weights, remainder, ponder time."""

import math

import pytest
import torch

from deltalab.models.universal_transformer import UniversalTransformer, UTConfig


def _constant_halting(p: float, max_steps: int, after: bool = False) -> UniversalTransformer:
    """A UT whose halting unit outputs the same p at every position and step (weights 0, bias logit p)."""
    torch.manual_seed(0)
    cfg = UTConfig(embed_dim=8, num_heads=2, max_len=8, max_steps=max_steps, halt_after_update=after)
    m = UniversalTransformer(cfg)
    with torch.no_grad():
        m.halt.weight.zero_()
        m.halt.bias.fill_(math.log(p / (1 - p)))
    return m


@pytest.mark.parametrize("after", [False, True])
def test_halting_weights_sum_to_one_with_remainder(after):
    torch.manual_seed(1)
    m = UniversalTransformer(
        UTConfig(embed_dim=16, num_heads=2, max_len=12, max_steps=5, halt_after_update=after)
    )
    for _ in range(3):  # random halting units: every position's weights (p's, then the remainder) sum to 1
        torch.nn.init.normal_(m.halt.weight, std=1.0)
        m(torch.randint(0, 2, (6, 11)))
        torch.testing.assert_close(m.halt_weights.sum(-1), torch.ones(6, 11))
        assert (m.halt_weights >= 0).all()
        assert ((m.ponder >= 1) & (m.ponder <= 5 + 1)).all()


@pytest.mark.parametrize("after", [False, True])
def test_hand_checked_case(after):
    # p = 0.4 everywhere: Σp = 0.4, 0.8, then 1.2 > 0.99 at step 3, so N = 3, R = 1 − 0.8 = 0.2, ρ = 3.2
    m = _constant_halting(0.4, max_steps=6, after=after)
    m(torch.randint(0, 2, (2, 5)))
    torch.testing.assert_close(m.halt_weights, torch.tensor([0.4, 0.4, 0.2]).expand(2, 5, 3))
    torch.testing.assert_close(m.ponder, torch.full((2,), 3.2))
    # the step cap: with max_steps = 2 the second step takes the remainder 0.6, ρ = 2 + 0.6
    m = _constant_halting(0.4, max_steps=2, after=after)
    m(torch.randint(0, 2, (2, 5)))
    torch.testing.assert_close(m.halt_weights, torch.tensor([0.4, 0.6]).expand(2, 5, 2))
    torch.testing.assert_close(m.ponder, torch.full((2,), 2.6))
    # halting at once (p ≥ 1 − ε): N = 1 and R = 1, so ρ = 2 (Graves' ρ = N + R is never below 1)
    m = _constant_halting(0.995, max_steps=4, after=after)
    m(torch.randint(0, 2, (2, 5)))
    torch.testing.assert_close(m.ponder, torch.full((2,), 2.0))


@pytest.mark.parametrize("after", [False, True])
def test_ponder_ignores_padding(after):
    m = _constant_halting(0.4, max_steps=6, after=after)
    with torch.no_grad():  # halting now depends on the state: padded positions must not count
        m.halt.weight.normal_()
    x = torch.randint(0, 2, (1, 7))
    m(x[:, :4])
    alone = m.ponder.clone()
    pad = torch.zeros(1, 7, dtype=torch.bool)
    pad[0, 4:] = True
    m(x, key_padding_mask=pad)
    torch.testing.assert_close(m.ponder, alone)


def test_ponder_cost_gradient_reaches_halting_unit():
    m = _constant_halting(0.4, max_steps=6)
    m(torch.randint(0, 2, (2, 5)))
    m.ponder.mean().backward()
    # ρ = N + R with R = 1 − Σ earlier p: lowering ρ means raising p, so dρ/db_h < 0
    assert m.halt.bias.grad.item() < 0


@pytest.mark.parametrize("bias", [-1.0, 1.0])
def test_halt_bias_option(bias):
    m = UniversalTransformer(UTConfig(embed_dim=8, num_heads=2, halt_bias=bias))
    assert m.halt.bias.item() == bias


def test_fixed_depth_reads_last_state():
    m = UniversalTransformer(UTConfig(embed_dim=8, num_heads=2, max_steps=3, act=False))
    m(torch.randint(0, 2, (2, 4)))
    torch.testing.assert_close(m.ponder, torch.full((2,), 3.0))
    torch.testing.assert_close(m.halt_weights.sum(-1), torch.ones(2, 4))


def test_output_is_the_act_weighted_sum_of_states():
    # hand-checked on the readout: with p = 0.4 the pooled state is 0.4·h¹ + 0.4·h² + 0.2·h³ (Graves' sum)
    m = _constant_halting(0.4, max_steps=6, after=True)
    x = torch.randint(0, 2, (2, 5))
    logits = m(x)
    h = m.embed(x) + m.pos[:5]
    states = []
    for s in range(3):
        h = m.block(h + m.step_emb[s])
        states.append(h)
    y = 0.4 * states[0] + 0.4 * states[1] + 0.2 * states[2]
    torch.testing.assert_close(logits, m._readout(y, torch.ones(2, 5)))


def _windowed(max_steps: int, act: bool = False) -> UniversalTransformer:
    torch.manual_seed(0)
    cfg = UTConfig(
        embed_dim=8, num_heads=2, max_len=12, max_steps=max_steps, act=act, window=1, readout="last"
    )
    return UniversalTransformer(cfg).eval()


def test_local_window_limits_what_the_last_position_sees():
    # window 1, causal: after s applications position i has seen tokens i − s..i only
    m = _windowed(max_steps=2)
    x = torch.randint(0, 2, (1, 8))
    base = m(x)
    for j in range(8):
        y = x.clone()
        y[0, j] = 1 - y[0, j]
        changed = not torch.allclose(m(y), base)
        assert changed == (j >= 5), j  # the last position (7) sees 5..7 after two steps


@pytest.mark.parametrize("act", [False, True])
def test_last_readout_ignores_right_padding(act):
    m = _windowed(max_steps=4, act=act)
    x = torch.randint(0, 2, (1, 9))
    alone = m(x[:, :5])
    pad = torch.zeros(1, 9, dtype=torch.bool)
    pad[0, 5:] = True
    torch.testing.assert_close(m(x, key_padding_mask=pad), alone)
    if act:
        m(x[:, :5])
        alone_ponder = m.ponder.clone()
        m(x, key_padding_mask=pad)
        torch.testing.assert_close(m.ponder, alone_ponder)


def test_window_and_readout_are_checked():
    with pytest.raises(ValueError):
        UTConfig(window=0)
    with pytest.raises(ValueError):
        UTConfig(readout="first")


def test_gate_interpolates_between_carrying_and_replacing_the_state():
    """z → 1 (b_z large): the gated model is the ungated one; z → 0: every step carries the embedding."""
    cfg = dict(embed_dim=8, num_heads=2, max_len=8, max_steps=3, act=False, readout="last")
    torch.manual_seed(0)
    plain = UniversalTransformer(UTConfig(**cfg))
    assert plain.gate is None
    x = torch.randint(0, 2, (4, 6))
    for bias, expected in ((60.0, plain(x)), (-60.0, None)):
        gated = UniversalTransformer(UTConfig(**cfg, gate=True, gate_bias=bias))
        gated.load_state_dict(plain.state_dict(), strict=False)  # the same block, embeddings and head
        with torch.no_grad():
            gated.gate.weight.zero_()
        if expected is None:  # nothing replaced: the readout sees the last position's embedding
            h0 = plain.embed(x) + plain.pos[:6]
            expected = plain.head(plain.norm(h0[:, -1]))
        torch.testing.assert_close(gated(x), expected)


def test_gate_is_trained():
    torch.manual_seed(0)
    m = UniversalTransformer(UTConfig(embed_dim=8, num_heads=2, max_len=8, max_steps=3, gate=True))
    m(torch.randint(0, 2, (4, 6))).sum().backward()
    assert m.gate.weight.grad is not None and m.gate.weight.grad.abs().sum() > 0
