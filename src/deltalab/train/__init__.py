"""Training: the Trainer (the one supervised loop), checkpoints, seeding and devices."""

from deltalab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from deltalab.train.seed import resolve_device, seed_everything
from deltalab.train.trainer import NonFiniteLossError, TrainConfig, Trainer, accuracy

__all__ = [
    "CheckpointError",
    "NonFiniteLossError",
    "TrainConfig",
    "Trainer",
    "accuracy",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
]
