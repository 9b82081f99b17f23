"""The one training loop of the library.

Supervised training on in-memory tensors: minibatches from a per-epoch permutation that depends
only on ``(seed, epoch)`` (so a resumed run sees exactly the batches an uninterrupted one does),
evaluation every N steps or each epoch, early stopping with best-state restore, atomic
checkpoints holding model, optimizer, scheduler, RNG states and position, a guard against
non-finite losses, a progress bar (only on a TTY unless asked), a JSON-lines metrics log, and
DistributedDataParallel when launched by ``torchrun`` (its RANK / WORLD_SIZE / LOCAL_RANK
environment is how the Trainer knows; gloo on CPU).

Under DDP each rank takes every WORLD_SIZE-th example of the same global batch, so the averaged
gradient equals the single-process gradient on that batch.

Training that draws its own batches for a fixed number of steps uses :func:`deltalab.train.steps.fit_steps`
(which shares :func:`~deltalab.train.steps.optimizer_step` with this loop); algorithms whose loop *is*
the lesson (GAN alternation, RL) keep their own loop in their module.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from deltalab.train.config import TrainConfig
from deltalab.train.interrupt import DeferredInterrupt
from deltalab.train.seed import resolve_device, rng_state, set_rng_state
from deltalab.train.steps import optimizer_step

Batch = tuple[torch.Tensor, ...]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the step."""


def accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of rows whose arg-max matches the integer target."""
    return (output.argmax(dim=-1) == target).float().mean().item()


def _as_tensors(data: Sequence[torch.Tensor] | torch.utils.data.TensorDataset) -> Batch:
    tensors = tuple(data.tensors) if isinstance(data, torch.utils.data.TensorDataset) else tuple(data)
    if not tensors or any(not isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("data must be a tuple of tensors (x, y, ...) or a TensorDataset")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"data tensors differ in length: {[len(t) for t in tensors]}")
    return tensors


def _state_dict_mismatch(e: RuntimeError) -> str:
    """torch's multi-line load_state_dict error as one line: the first few offending keys."""
    lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()]
    text = "; ".join(lines) if lines else str(e).strip()
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass
class _DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> _DistInfo:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


@dataclass
class Trainer:
    """Train ``model`` with ``config``.

    criterion: ``(output, target) -> loss`` (default cross-entropy) used when ``compute_loss`` is None.
    compute_loss: ``(model, batch) -> loss`` for anything else (autoencoders, sequence masks...).
    metrics: name → ``(output, target) -> float`` computed at evaluation (default: accuracy when
        the criterion is cross-entropy).
    optimizer / scheduler: built from the config when not given; the scheduler steps every step.
    """

    model: nn.Module
    config: TrainConfig = field(default_factory=TrainConfig)
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy
    compute_loss: Callable[[nn.Module, Batch], torch.Tensor] | None = None
    metrics: Mapping[str, Callable[[torch.Tensor, torch.Tensor], float]] | None = None

    def __post_init__(self) -> None:
        cfg = self.config
        self.dist = _DistInfo.from_env()
        self.device = resolve_device(cfg.device)
        if self.dist.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.model.to(self.device)
        if self.optimizer is None:
            from deltalab.optim import create_optimizer

            self.optimizer = create_optimizer(
                cfg.optimizer, self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
            )
        if self.metrics is None:
            self.metrics = {"acc": accuracy} if self.criterion is F.cross_entropy else {}
        self.step = 0
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.diverged = False
        self.stopped_early = False
        self.best: dict[str, Any] | None = None
        self._bad_evals = 0
        self._batch_in_epoch = 0
        self._net: nn.Module = self.model
        if self.dist.world > 1:
            self._setup_ddp()

    # ---- distributed -------------------------------------------------------------------------
    def _setup_ddp(self) -> None:
        import torch.distributed as dist

        if self.config.batch_size % self.dist.world:
            raise ValueError(
                f"batch_size {self.config.batch_size} must be divisible by WORLD_SIZE {self.dist.world}"
            )
        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        ids = [self.device.index] if self.device.type == "cuda" else None
        self._net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def close(self) -> None:
        """Release DDP: drop the wrapper and optimizer *before* destroying the process group
        (otherwise a gloo rank crashes at exit in ~29% of runs, PITFALLS.md)."""
        if self.dist.world > 1:
            import torch.distributed as dist

            self._net = self.model
            self.optimizer = None
            if dist.is_initialized():
                dist.barrier()
                dist.destroy_process_group()

    # ---- data --------------------------------------------------------------------------------
    def _order(self, n: int, epoch: int) -> torch.Tensor:
        if not self.config.shuffle:
            return torch.arange(n)
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=g)

    def _batch(self, data: Batch, idx: torch.Tensor) -> Batch:
        if self.dist.world > 1:
            idx = idx[self.dist.rank :: self.dist.world]
        if self.device.type == "cpu":
            return tuple(t[idx] for t in data)
        return tuple(t[idx].to(self.device, non_blocking=True) for t in data)

    def loss_on(self, batch: Batch) -> torch.Tensor:
        if self.compute_loss is not None:
            return self.compute_loss(self._net, batch)
        x, y = batch[0], batch[1]
        return self.criterion(self._net(x), y)

    # ---- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, data: Sequence[torch.Tensor], prefix: str = "val_", batch_size: int = 1024
    ) -> dict[str, float]:
        """Mean loss (and metrics) over ``data`` in eval mode; the model's mode is restored."""
        tensors = _as_tensors(data)
        was_training = self.model.training
        self.model.eval()
        n = len(tensors[0])
        total, outputs = 0.0, []
        for s in range(0, n, batch_size):
            b = tuple(t[s : s + batch_size].to(self.device) for t in tensors)
            if self.compute_loss is not None:
                total += self.compute_loss(self.model, b).item() * len(b[0])
            else:
                out = self.model(b[0])
                total += self.criterion(out, b[1]).item() * len(b[0])
                outputs.append(out)
        res = {f"{prefix}loss": total / n}
        if outputs and self.metrics:
            out = torch.cat(outputs)
            target = tensors[1].to(self.device)
            for name, fn in self.metrics.items():
                res[f"{prefix}{name}"] = float(fn(out, target))
        self.model.train(was_training)
        return res

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        lower = "loss" in self.config.monitor
        return value < self.best["value"] if lower else value > self.best["value"]

    def _after_eval(self, row: dict[str, float]) -> bool:
        """Record ``row``; update the best state; True when early stopping says stop."""
        self.history.append(row)
        if self.config.log and self.dist.rank == 0:
            with open(self.config.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        value = row.get(self.config.monitor)
        if value is None:
            return False
        if self._improved(value):
            self.best = {
                "value": value,
                "step": self.step,
                "state": copy.deepcopy(self.model.state_dict())
                if (self.config.restore_best or self.config.patience)
                else None,
            }
            self._bad_evals = 0
        else:
            self._bad_evals += 1
        return self.config.patience is not None and self._bad_evals >= self.config.patience

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self._batch_in_epoch,
            "rng": rng_state(),
            "config": asdict(self.config),
            "history": self.history,
            "best_value": None if self.best is None else self.best["value"],
            "best_step": None if self.best is None else self.best["step"],
            "best_state": None if self.best is None else self.best["state"],
            "bad_evals": self._bad_evals,
        }

    def save(self, path: str | Path | None = None) -> None:
        path = path or self.config.checkpoint
        if path is None:
            raise ValueError("no checkpoint path: set TrainConfig.checkpoint or pass one")
        if self.dist.rank == 0:
            save_checkpoint(self.state_dict(), path)

    def load(self, path: str | Path | None = None) -> None:
        """Restore everything ``save`` wrote, so that ``fit`` continues exactly."""
        path = path or self.config.checkpoint
        state = load_checkpoint(path, map_location=self.device)  # type: ignore[arg-type]
        saved = state.get("config") or {}
        # What would silently change the run (or break the optimizer state) must match the checkpoint.
        for name in ("optimizer", "lr", "weight_decay", "batch_size", "seed", "shuffle"):
            mine = getattr(self.config, name)
            if name in saved and saved[name] != mine:
                raise CheckpointError(
                    f"checkpoint {path} was trained with {name}={saved[name]!r}, this run asks for "
                    f"{name}={mine!r}; resume with the same {name}, or start fresh without --resume"
                )
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as e:
            raise CheckpointError(
                f"checkpoint {path} does not fit this model: {_state_dict_mismatch(e)}"
            ) from e
        if self.optimizer is not None and state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch = int(state["step"]), int(state.get("epoch", 0))
        self._batch_in_epoch = int(state.get("batch_in_epoch", 0))
        self.history = list(state.get("history", []))
        self._bad_evals = int(state.get("bad_evals", 0))
        if state.get("best_value") is not None:
            self.best = {
                "value": state["best_value"],
                "step": state["best_step"],
                "state": state.get("best_state"),
            }
        if "rng" in state:
            set_rng_state(state["rng"])

    # ---- the loop ----------------------------------------------------------------------------
    def fit(
        self, train: Sequence[torch.Tensor], val: Sequence[torch.Tensor] | None = None, resume: bool = False
    ) -> list[dict[str, float]]:
        """Train; return the evaluation history (one dict per evaluation)."""
        cfg = self.config
        data = _as_tensors(train)
        val_data = _as_tensors(val) if val is not None else None
        if resume:
            if cfg.checkpoint is None:
                raise ValueError("resume=True needs TrainConfig.checkpoint")
            self.load()  # a missing file is a CheckpointError: resuming nothing is never silent
        n = len(data[0])
        per_epoch = math.ceil(n / cfg.batch_size)
        total = (
            cfg.epochs * per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * per_epoch)
        )
        show = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
        bar = None
        if show and self.dist.rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=self.step, desc="train", file=sys.stderr, leave=False)
        self.model.train()
        stop = self.step >= total
        interrupt = DeferredInterrupt()
        try:
            running, seen = 0.0, 0
            while not stop and self.epoch < cfg.epochs:
                epoch = self.epoch
                order = self._order(n, epoch)
                for b in range(self._batch_in_epoch, per_epoch):
                    batch = self._batch(data, order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
                    loss = self.loss_on(batch)
                    value = loss.item()  # one host sync per step, shared by the guard and the log
                    if not math.isfinite(value):
                        msg = f"loss became {value} at step {self.step} (epoch {epoch})"
                        if cfg.on_nonfinite == "raise":
                            raise NonFiniteLossError(
                                msg + "; lower the learning rate or pass on_nonfinite='stop'"
                            )
                        self.diverged, stop = True, True
                        break
                    optimizer_step(
                        loss,
                        self.optimizer,
                        clip=cfg.grad_clip,
                        params=self.model.parameters(),
                        scheduler=self.scheduler,
                    )
                    self.step += 1
                    end_of_epoch = b + 1 == per_epoch
                    # The position of the *next* batch: what a checkpoint taken now must resume from.
                    self.epoch, self._batch_in_epoch = (epoch + 1, 0) if end_of_epoch else (epoch, b + 1)
                    running += value
                    seen += 1
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{running / seen:.4f}", refresh=False)
                    if (cfg.eval_every and self.step % cfg.eval_every == 0) or (
                        not cfg.eval_every and end_of_epoch
                    ):
                        row = {"step": self.step, "epoch": epoch, "train_loss": running / seen}
                        running, seen = 0.0, 0
                        if val_data is not None:
                            row.update(self.evaluate(val_data))
                        stop = self._after_eval(row)
                        self.stopped_early = stop
                    if cfg.checkpoint and (
                        self.step % cfg.checkpoint_every == 0 if cfg.checkpoint_every else end_of_epoch
                    ):
                        self.save()
                    if interrupt.requested:
                        if cfg.checkpoint:
                            self.save()  # between two steps: the state a resume continues exactly from
                        raise KeyboardInterrupt(
                            f"interrupted at step {self.step}"
                            + (f"; checkpoint saved to {cfg.checkpoint}" if cfg.checkpoint else "")
                        )
                    if stop or self.step >= total:
                        stop = True
                        break
        finally:
            interrupt.restore()
        if bar is not None:
            bar.close()
        if cfg.restore_best and self.best is not None and self.best.get("state") is not None:
            self.model.load_state_dict(self.best["state"])
        if cfg.checkpoint:
            self.save()
        return self.history
