"""train.fit.fit_classifier: the opt-in one-cycle schedule anneals the rate to ~0; the default stays constant."""

import torch
from torch import nn

from deltalab.train.fit import fit_classifier


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(40, 4, generator=g), torch.randint(0, 3, (40,), generator=g)


def test_one_cycle_warms_up_and_anneals_to_zero():
    x, y = _data()
    tr = fit_classifier(nn.Linear(4, 3), x, y, epochs=3, lr=0.1, batch_size=8, one_cycle=True)
    assert isinstance(tr.scheduler, torch.optim.lr_scheduler.OneCycleLR)
    # The schedule spans exactly the run: its last annealed rate (~lr/2.5e5) is the last one used.
    assert tr.scheduler.total_steps == tr.step == 15
    assert tr.scheduler.optimizer.param_groups[0]["max_lr"] == 0.1


def test_default_rate_is_constant():
    x, y = _data()
    tr = fit_classifier(nn.Linear(4, 3), x, y, epochs=2, lr=0.1, batch_size=8)
    assert tr.scheduler is None and tr.optimizer.param_groups[0]["lr"] == 0.1


def test_seed_fixes_the_batch_order():
    x, y = _data()
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(0)
        model = nn.Linear(4, 3)
        fit_classifier(model, x, y, epochs=1, lr=0.1, batch_size=8, seed=seed)
        runs.append(model.weight.detach().clone())
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
