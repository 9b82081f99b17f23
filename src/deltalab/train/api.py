"""``deltalab.train(...)``: train a registered model on a registered data set (what the CLI calls)."""

from __future__ import annotations

from typing import Any

from deltalab.data import load
from deltalab.models import create_model
from deltalab.train.seed import seed_everything
from deltalab.train.trainer import TrainConfig, Trainer


def train(
    model: str = "mlp",
    data: str = "digits",
    *,
    optimizer: str = "adamw",
    lr: float = 1e-3,
    epochs: int = 10,
    batch_size: int = 64,
    checkpoint: str | None = None,
    resume: bool = False,
    device: str = "cpu",
    seed: int = 0,
    progress: bool | None = None,
    log: str | None = None,
    validation: float = 0.1,
) -> dict[str, Any]:
    """Train ``model`` on ``data`` with the Trainer; return the final metrics.

    A ``validation`` fraction of the training split is held out for the per-epoch evaluation;
    the test split is evaluated once at the end.
    """
    seed_everything(seed)
    split = load(data)
    if split.num_classes < 2:
        raise ValueError(f"data set {data!r} has no class labels; `deltalab train` trains classifiers")
    rest, val = split.validation(validation, seed=seed)
    net = create_model(model, tuple(split.x_train.shape[1:]), split.num_classes)
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        seed=seed,
        device=device,
        checkpoint=checkpoint,
        progress=progress,
        log=log,
        checkpoint_every=0,
    )
    trainer = Trainer(net, cfg)
    trainer.fit((rest.x_train, rest.y_train), val, resume=resume)
    final = {
        "model": model,
        "data": data,
        "optimizer": optimizer,
        "steps": trainer.step,
        "epochs": trainer.epoch,
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    final.update(trainer.history[-1] if trainer.history else {})
    final.update(trainer.evaluate((split.x_test, split.y_test), prefix="test_"))
    trainer.close()
    return final
