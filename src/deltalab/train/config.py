"""The Trainer's configuration: a typed dataclass, one docstring line per field (the CLI help)."""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
from dataclasses import dataclass
from typing import Any


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
    """checkpoint file, written atomically every checkpoint_every steps (default: every epoch), on Ctrl-C and at the end"""
    checkpoint_every: int = 0
    """steps between checkpoints; 0 writes one at the end of every epoch"""
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
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if self.grad_clip is not None and not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(f"grad_clip must be a finite number > 0 or None, got {self.grad_clip}")
        if self.on_nonfinite not in ("raise", "stop"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'stop', got {self.on_nonfinite!r}")
        if self.eval_every < 0 or self.checkpoint_every < 0:
            raise ValueError("eval_every and checkpoint_every must be >= 0")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")


def field_docs(cls: type) -> dict[str, str]:
    """Each dataclass field's docstring line (the string right under it), by field name.

    The CLI takes its help text from here, so a field's help is written once, beside the field.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(getattr(nxt, "value", None), ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def config_fields(cls: type) -> dict[str, tuple[Any, Any, str]]:
    """``{name: (annotation text, default, help)}`` for a dataclass config."""
    from dataclasses import MISSING, fields

    docs = field_docs(cls)
    return {
        f.name: (str(f.type), None if f.default is MISSING else f.default, docs.get(f.name, ""))
        for f in fields(cls)
    }
