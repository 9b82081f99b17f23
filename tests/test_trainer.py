"""The Trainer: determinism, exact resume, atomic and safe checkpoints, NaN guard, early stopping."""

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from deltalab.train import (
    CheckpointError,
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    load_checkpoint,
    save_checkpoint,
)
from deltalab.train import checkpoint as ckpt_mod


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))


def _params(m):
    return torch.cat([p.detach().flatten() for p in m.parameters()])


def _fit(tmp_path=None, **kw):
    cfg = dict(epochs=3, batch_size=16, lr=0.01, optimizer="adam", progress=False)
    cfg.update(kw)
    m = _model()
    t = Trainer(m, TrainConfig(**cfg))
    t.fit(_data(), val=_data(32, seed=1))
    return m, t


def test_same_seed_same_numbers():
    m1, t1 = _fit()
    m2, t2 = _fit()
    assert torch.equal(_params(m1), _params(m2))
    assert t1.history == t2.history
    assert len(t1.history) == 3 and t1.step == 18


def test_resume_continues_exactly(tmp_path):
    ref, _ = _fit()
    path = tmp_path / "ck.pt"
    # stop mid-epoch (step 8 of 18), then resume in a fresh process-like state
    m = _model()
    t = Trainer(
        m,
        TrainConfig(
            epochs=3,
            batch_size=16,
            lr=0.01,
            optimizer="adam",
            progress=False,
            max_steps=8,
            checkpoint=str(path),
        ),
    )
    t.fit(_data(), val=_data(32, seed=1))
    assert t.step == 8
    torch.manual_seed(123)  # disturb the global RNG: resume must restore it
    m2 = _model(seed=7)
    t2 = Trainer(
        m2,
        TrainConfig(epochs=3, batch_size=16, lr=0.01, optimizer="adam", progress=False, checkpoint=str(path)),
    )
    t2.fit(_data(), val=_data(32, seed=1), resume=True)
    assert t2.step == 18
    torch.testing.assert_close(_params(m2), _params(ref), rtol=0, atol=0)


def test_checkpoint_loads_weights_only(tmp_path):
    path = tmp_path / "ck.pt"
    _fit(checkpoint=str(path))
    state = torch.load(path, weights_only=True)
    assert {"model", "optimizer", "step", "rng"} <= set(state)
    assert state["step"] == 18


def test_crash_mid_write_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint({"model": {"w": torch.ones(2)}, "optimizer": {}, "step": 1}, path)

    def exploding_save(obj, f):
        f.write(b"partial garbage")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(ckpt_mod.torch, "save", exploding_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"model": {}, "optimizer": {}, "step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp file left behind


def test_corrupt_checkpoint_clear_error(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a deltalab checkpoint"):
        load_checkpoint(path)
    torch.save({"hello": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_nan_guard_names_the_step():
    m = _model()
    x, y = _data()
    x[40:] = float("nan")
    t = Trainer(m, TrainConfig(epochs=1, batch_size=16, lr=0.01, shuffle=False, progress=False))
    with pytest.raises(NonFiniteLossError, match="at step 2"):
        t.fit((x, y))
    t2 = Trainer(
        _model(),
        TrainConfig(epochs=1, batch_size=16, lr=0.01, shuffle=False, progress=False, on_nonfinite="stop"),
    )
    t2.fit((x, y))
    assert t2.diverged and t2.step == 2


def test_early_stopping_restores_best():
    x, y = _data(64)
    xv, yv = _data(32, seed=5)
    yv = 1 - yv  # validation labels flipped: validation loss rises as training proceeds
    m = _model()
    t = Trainer(
        m,
        TrainConfig(
            epochs=50, batch_size=16, lr=0.05, optimizer="adam", patience=2, restore_best=True, progress=False
        ),
    )
    t.fit((x, y), val=(xv, yv))
    assert t.stopped_early and len(t.history) < 50
    best = min(h["val_loss"] for h in t.history)
    assert t.evaluate((xv, yv))["val_loss"] == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr must be a finite number > 0"),
        ({"on_nonfinite": "ignore"}, "on_nonfinite"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_config_values(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


def test_metrics_log_jsonl(tmp_path):
    log = tmp_path / "m.jsonl"
    _fit(log=str(log))
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and '"val_acc"' in lines[0]


def test_bad_data_shapes():
    with pytest.raises(ValueError, match="differ in length"):
        Trainer(_model(), TrainConfig(progress=False)).fit((torch.zeros(4, 6), torch.zeros(3).long()))


DIST_SCRIPT = """
import os, sys, torch
from torch import nn
from deltalab.train import Trainer, TrainConfig
torch.manual_seed(0)
m = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
g = torch.Generator().manual_seed(0)
x = torch.randn(64, 6, generator=g); y = (x[:, 0] > 0).long()
t = Trainer(m, TrainConfig(epochs=2, batch_size=16, lr=0.1, optimizer="sgd", progress=False))
t.fit((x, y))
t.close()
if int(os.environ.get("RANK", "0")) == 0:
    torch.save(torch.cat([p.detach().flatten() for p in m.parameters()]), sys.argv[1])
"""


@pytest.mark.dist
def test_ddp_two_ranks_equal_single_process(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "dist_train.py"
    script.write_text(DIST_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "single.pt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert single.returncode == 0, single.stderr
    torchrun = Path(sys.executable).with_name("torchrun")
    dist = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", str(script), str(tmp_path / "dist.pt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert dist.returncode == 0, dist.stderr[-2000:]
    a = torch.load(tmp_path / "single.pt", weights_only=True)
    b = torch.load(tmp_path / "dist.pt", weights_only=True)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_checkpoint_every_epoch_by_default(tmp_path):
    path = tmp_path / "ck.pt"
    saved = []
    real = ckpt_mod.save_checkpoint

    def spy(state, p):
        saved.append(state["step"])
        real(state, p)

    import deltalab.train.trainer as trainer_mod

    orig = trainer_mod.save_checkpoint
    trainer_mod.save_checkpoint = spy
    try:
        _fit(checkpoint=str(path))
    finally:
        trainer_mod.save_checkpoint = orig
    assert saved == [6, 12, 18, 18]  # each epoch's end (6 steps each), then the final save


def test_resume_refuses_a_missing_file_and_other_settings(tmp_path):
    path = tmp_path / "ck.pt"
    t = Trainer(
        _model(),
        TrainConfig(epochs=1, batch_size=16, lr=0.01, optimizer="adam", progress=False, checkpoint=str(path)),
    )
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        t.fit(_data(), resume=True)
    t.fit(_data())
    for change, msg in [
        ({"optimizer": "sgd"}, "optimizer='adam'"),
        ({"lr": 0.1}, "lr=0.01"),
        ({"batch_size": 8}, "batch_size=16"),
    ]:
        cfg = dict(epochs=2, batch_size=16, lr=0.01, optimizer="adam", progress=False, checkpoint=str(path))
        cfg.update(change)
        with pytest.raises(CheckpointError, match=msg):
            Trainer(_model(), TrainConfig(**cfg)).fit(_data(), resume=True)
    other = Trainer(
        nn.Sequential(nn.Linear(6, 3)),
        TrainConfig(epochs=2, batch_size=16, lr=0.01, optimizer="adam", checkpoint=str(path)),
    )
    with pytest.raises(CheckpointError, match="does not fit this model") as e:
        other.fit(_data(), resume=True)
    assert "\n" not in str(e.value)
    path.write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value) and "weights_only=False" not in str(e.value)


def test_save_removes_temp_files_of_a_killed_save(tmp_path):
    path = tmp_path / "ck.pt"
    (tmp_path / ".ck.pt.abc123.tmp").write_bytes(b"half")
    save_checkpoint({"model": {}, "optimizer": {}, "step": 1}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]


_KILL_SCRIPT = """
import os, signal, sys, torch
from torch import nn
sys.path.insert(0, {here!r})
from test_trainer import _data, _model
from deltalab.train import TrainConfig, Trainer
import deltalab.train.trainer as T
kill_at, path, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
real, real_loss = T.save_checkpoint, T.Trainer.loss_on
def loss_on(self, batch):  # Ctrl-C in the middle of step kill_at + 1
    if mode == "sigint" and self.step == kill_at:
        os.kill(os.getpid(), signal.SIGINT)
    return real_loss(self, batch)
T.Trainer.loss_on = loss_on
def save(state, p):
    if mode != "sigint" and state["step"] >= kill_at:
        if mode == "during-save":  # die half-way through writing: a temp file is left behind
            import tempfile
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(p), prefix="." + os.path.basename(p) + ".", suffix=".tmp")
            os.write(fd, b"partial")
        os.kill(os.getpid(), signal.SIGKILL)
    real(state, p)
T.save_checkpoint = save
cfg = TrainConfig(epochs=5, batch_size=16, lr=0.01, optimizer="adam", progress=False, checkpoint=path)
Trainer(_model(), cfg).fit(_data(), val=_data(32, seed=1), resume=os.path.exists(path))
"""


@pytest.mark.parametrize("mode", ["after-step", "during-save", "sigint"])
def test_killed_training_resumes_to_the_same_parameters(tmp_path, mode):
    import subprocess
    import sys

    ref, _ = _fit(epochs=5)
    path = tmp_path / "ck.pt"
    script = tmp_path / "train.py"
    script.write_text(_KILL_SCRIPT.format(here=str(Path(__file__).parent)))
    r = subprocess.run([sys.executable, str(script), "13", str(path), mode], capture_output=True, text=True)
    assert r.returncode != 0  # killed (or interrupted)
    state = load_checkpoint(path)
    # SIGKILL: at most one epoch (6 steps) of work lost; Ctrl-C: the step under way completes and is saved
    assert state["step"] == (12 if mode != "sigint" else 14)
    assert mode != "sigint" or "checkpoint saved" in r.stderr
    m = _model()
    t = Trainer(
        m,
        TrainConfig(epochs=5, batch_size=16, lr=0.01, optimizer="adam", progress=False, checkpoint=str(path)),
    )
    t.fit(_data(), val=_data(32, seed=1), resume=True)
    assert torch.equal(_params(m), _params(ref))
    assert not list(tmp_path.glob(".ck.pt.*.tmp"))
