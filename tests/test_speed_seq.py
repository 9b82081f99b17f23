"""The speed-ups behind the ssm, transformer and rope claims.

S4D's last-step mode equals the FFT layer read at its last step; the grid's RNNs run as one
block-diagonal RNN equal each RNN alone; ``clip_per_group`` trains models side by side exactly as
one optimizer each would; train_tokens stops once its training loss has converged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.experiments.ssm import rnn_classifier, rnn_grid_logits
from deltalab.nn.ssm import S4DLayer, S4DModel
from deltalab.train.steps import fit_steps

F64 = torch.float64


def test_s4d_layer_last_mode_equals_fft_last_step() -> None:
    torch.manual_seed(0)
    layer = S4DLayer(4, 8).double()
    u = torch.randn(3, 4, 50, dtype=F64)
    full = layer(u)[:, :, -1:]
    last = layer(u, mode="last")
    assert last.shape == (3, 4, 1)
    torch.testing.assert_close(last, full, atol=1e-12, rtol=0)
    g_full = torch.autograd.grad(full.sum(), list(layer.parameters()))
    g_last = torch.autograd.grad(last.sum(), list(layer.parameters()))
    for a, b in zip(g_full, g_last):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_s4d_model_last_mode_equals_default() -> None:
    torch.manual_seed(1)
    for layers in (1, 2):
        m = S4DModel(3, 2, embed_dim=8, d_state=4, num_layers=layers).double()
        x = torch.randn(2, 40, 3, dtype=F64)
        torch.testing.assert_close(m(x, mode="last"), m(x), atol=1e-12, rtol=0)


def test_rnn_grid_equals_each_rnn_alone() -> None:
    models = []
    for s in range(3):
        torch.manual_seed(s)
        models.append(rnn_classifier(5, 6, 4))
    template = nn.RNN(5, 18, batch_first=True)
    x, y = torch.randn(7, 30, 5), torch.randint(0, 4, (7,))
    joint = rnn_grid_logits(models, template, x)  # (3, 7, 4)
    for m, z in zip(models, joint):
        torch.testing.assert_close(z, m(x), atol=1e-5, rtol=0)
    sum(F.cross_entropy(z, y) for z in joint).backward()
    for m in models:
        ref = torch.autograd.grad(F.cross_entropy(m(x), y), list(m.parameters()))
        for p, r in zip(m.parameters(), ref):
            torch.testing.assert_close(p.grad, r, atol=1e-5, rtol=1e-4)


def test_clip_per_group_trains_like_separate_optimizers() -> None:
    def make() -> list[nn.Linear]:
        torch.manual_seed(0)
        return [nn.Linear(4, 1), nn.Linear(4, 1)]

    x, y = torch.randn(16, 4) * 10, torch.randn(16, 1)  # large inputs: the clip is active
    together = make()
    opt = torch.optim.AdamW([{"params": m.parameters(), "lr": lr} for m, lr in zip(together, (0.1, 0.01))])
    fit_steps(lambda: sum(F.mse_loss(m(x), y) for m in together), opt, 5, clip=0.5, clip_per_group=True)
    for m, lr in zip(make(), (0.1, 0.01)):
        alone = torch.optim.AdamW(m.parameters(), lr=lr)
        fit_steps(lambda m=m: F.mse_loss(m(x), y), alone, 5, clip=0.5)
        ref = together[0] if lr == 0.1 else together[1]
        for p, r in zip(m.parameters(), ref.parameters()):
            torch.testing.assert_close(p, r, atol=1e-6, rtol=0)


def test_train_tokens_stops_once_converged() -> None:
    from deltalab.data import seq
    from deltalab.experiments.transformer import lm_task, train_tokens
    from deltalab.models.transformer import SequenceTransformer, TransformerConfig

    def model() -> SequenceTransformer:
        torch.manual_seed(0)
        return SequenceTransformer(
            TransformerConfig(vocab_size=5, max_len=8, embed_dim=8, num_heads=2, causal=True)
        )

    task = lm_task(seq.reversal, 4, 4)
    assert len(train_tokens(model(), task, 30, batch_size=4)) == 30
    assert len(train_tokens(model(), task, 30, batch_size=4, stop_below=100.0)) == 20  # a 20-step mean
    assert len(train_tokens(model(), task, 30, batch_size=4, stop_below=1e-9)) == 30
