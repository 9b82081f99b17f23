"""The Trainer's configuration: a typed dataclass, one docstring line per field (the CLI help)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    """How to train. Each field's line is its CLI help."""

    epochs: int = 10
    """passes over the training data"""
    max_steps: int | None = None
    """stop after this many optimizer steps (None: run all epochs)"""
    batch_size: int = 64
    """examples per optimizer step (the global batch under torchrun)"""
    lr: float = 1e-3
    """learning rate"""
    optimizer: str = "adamw"
    """optimizer name (see deltalab.optim.OPTIMIZERS)"""
    weight_decay: float = 0.0
    """weight decay passed to the optimizer"""
    eval_every: int = 0
    """steps between evaluations; 0 evaluates at the end of every epoch"""
    patience: int | None = None
    """early stopping: evaluations without improvement of `monitor` before stopping (None: off)"""
    monitor: str = "val_loss"
    """metric that early stopping and best-state restore watch (lower is better if it names a loss)"""
    restore_best: bool = False
    """load the best evaluated state at the end"""
    checkpoint: str | None = None
    """checkpoint file (written atomically at checkpoint_every and at the end)"""
    checkpoint_every: int = 0
    """steps between checkpoints; 0 writes only at the end"""
    on_nonfinite: str = "raise"
    """'raise' a NonFiniteLossError naming the step, or 'stop' and mark the run diverged"""
    grad_clip: float | None = None
    """clip the global gradient norm to this value"""
    shuffle: bool = True
    """draw a fresh permutation each epoch (False: data order as given)"""
    seed: int = 0
    """seed of the batch order"""
    device: str = "cpu"
    """cpu or cuda[:N]"""
    progress: bool | None = None
    """show a progress bar (None: only when stderr is a terminal)"""
    log: str | None = None
    """append one JSON line of metrics per evaluation to this file"""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.on_nonfinite not in ("raise", "stop"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'stop', got {self.on_nonfinite!r}")
        if self.eval_every < 0 or self.checkpoint_every < 0:
            raise ValueError("eval_every and checkpoint_every must be >= 0")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
