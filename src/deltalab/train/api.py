"""``deltalab.train(...)``: train a registered model on a registered data set (what the CLI calls)."""

from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path
from typing import Any

from deltalab.data import load
from deltalab.data.base import DATASETS
from deltalab.files import check_output_file
from deltalab.models import create_model
from deltalab.models.registry import MODELS
from deltalab.optim import OPTIMIZERS
from deltalab.train.checkpoint import load_checkpoint
from deltalab.train.seed import seed_everything
from deltalab.train.trainer import TrainConfig, Trainer


def train(
    model: str = "mlp",
    data: str = "digits",
    *,
    resume: bool = False,
    overwrite: bool = False,
    validation: float = 0.1,
    **config: Any,
) -> dict[str, Any]:
    """Train ``model`` on ``data`` with the Trainer; return the final metrics.

    ``config`` holds any ``TrainConfig`` field (``epochs``, ``lr``, ``optimizer``, ``checkpoint``,
    ...); a checkpoint is written at the end of every epoch by default (``checkpoint_every`` steps
    otherwise), on Ctrl-C and at the end, and ``resume=True`` continues from it exactly (a missing
    checkpoint is an error). An existing checkpoint is replaced only with ``overwrite=True``. A ``validation`` fraction of the training split is held out for the
    per-epoch evaluation; the test split is evaluated once at the end. Everything that can be
    checked (names, values, the checkpoint path) is checked before training starts.
    """
    known = {f.name for f in fields(TrainConfig)}
    unknown = [k for k in config if k not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown training setting {unknown[0]!r}{hint}")
    if not 0 < validation < 1:
        raise ValueError(f"validation must be a fraction in (0, 1), got {validation}")
    cfg = TrainConfig(**config)
    OPTIMIZERS.get(cfg.optimizer)  # an unknown name fails here, with suggestions, not after loading data
    MODELS.get(model)
    DATASETS.get(data)
    if cfg.checkpoint is not None:
        check_output_file(cfg.checkpoint, "--checkpoint")
        if Path(cfg.checkpoint).exists() and not (resume or overwrite):
            raise ValueError(
                f"--checkpoint {cfg.checkpoint} exists; pass --resume to continue it, "
                "or --overwrite to start afresh and replace it"
            )
    if resume:
        if cfg.checkpoint is None:
            raise ValueError("resume needs a checkpoint path (--checkpoint)")
        load_checkpoint(cfg.checkpoint)  # missing or corrupt: a clear error now
    if cfg.log is not None:
        check_output_file(cfg.log, "--log")
    seed_everything(cfg.seed)
    split = load(data)
    if split.num_classes < 2:
        raise ValueError(f"data set {data!r} has no class labels; `deltalab train` trains classifiers")
    rest, val = split.validation(validation, seed=cfg.seed)
    net = create_model(model, tuple(split.x_train.shape[1:]), split.num_classes)
    trainer = Trainer(net, cfg)
    trainer.fit((rest.x_train, rest.y_train), val, resume=resume)
    final = {
        "model": model,
        "data": data,
        "optimizer": cfg.optimizer,
        "steps": trainer.step,
        "epochs": trainer.epoch,
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    final.update(trainer.history[-1] if trainer.history else {})
    final.update(trainer.evaluate((split.x_test, split.y_test), prefix="test_"))
    trainer.close()
    return final
