"""The training loop: device, optimiser, schedule, bf16 autocast on CUDA, checkpoints, and logging via a Recorder.

The loop knows nothing about SQLite or processes: it reports through a ``Recorder`` (``worker.RunRecorder`` writes
to the run store; ``Recorder`` itself records nothing, for benchmarks and tests of the bare loop).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from . import dist, preflight
from .augment import TwoViewAugment
from .backbones import build_backbone
from .config import ConfigError, RunConfig
from .data import ImageSet, load_dataset
from .data.batching import epoch_batches, fit_batch_size
from .diagnostics import all_diagnostics
from .methods import METHODS, Method, build_method
from .online_probe import OnlineProbe, has_labels
from .optim import build_optimizer, lr_at, set_lr


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


class Recorder:
    """Where a training run reports. This base records nothing."""

    def log_metrics(self, step: int, epoch: float, values: dict[str, float]) -> None: ...
    def snapshot(self, step: int, matrices: dict[str, torch.Tensor], stats: dict[str, float]) -> None: ...
    def checkpoint(self, step: int, state: dict[str, Any]) -> None: ...
    def prune_checkpoints(self, keep: Callable[[list[int]], set[int]]) -> None: ...
    def should_stop(self) -> bool:
        return False
    def on_epoch_end(self, epoch: int, step: int, model: "TrainState") -> None: ...


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then MPS, then CPU. An explicit device that is not available is a ConfigError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: CUDA is not available on this machine; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device: MPS is not available on this machine; use --device cpu or auto")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_model(cfg: RunConfig, num_classes: int, in_channels: int = 3) -> Method:
    backbone = build_backbone(cfg.method.backbone, in_channels)
    return build_method(cfg.method, backbone, num_classes)


@dataclass
class TrainState:
    """Everything a checkpoint holds besides the config."""

    model: Method
    optimizer: torch.optim.Optimizer | None
    step: int = 0
    epoch: int = 0           # epochs completed
    batch_in_epoch: int = 0  # batches done in the current (incomplete) epoch
    probe: OnlineProbe | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict() if self.optimizer else None,
                "probe": self.probe.state_dict() if self.probe else None,
                "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None and state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
        if self.probe is not None and state.get("probe"):
            self.probe.load_state_dict(state["probe"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])


class Trainer:
    def __init__(self, cfg: RunConfig, recorder: Recorder | None = None, *, train_set: ImageSet | None = None):
        self.cfg = cfg.validate()
        self.recorder = recorder or Recorder()
        self.device = resolve_device(cfg.device)
        if dist.is_distributed() and self.device.type == "cuda":
            self.device = torch.device("cuda", dist.local_rank())
        seed_everything(cfg.seed)
        d = cfg.data
        if train_set is None:   # refuse a set that cannot fit before decoding it (preflight.py)
            preflight.check_memory(cfg, preflight.training_images(cfg))
        self.train_set = train_set or load_dataset(d.dataset, d.train_split, root=d.root, image_size=d.image_size,
                                                   size=d.train_size, download=d.download, seed=cfg.seed)
        if self.train_set.images.shape[-1] != d.image_size:
            raise ConfigError(f"image_size: the dataset has {self.train_set.images.shape[-1]} px images, "
                              f"expected {d.image_size}")
        self.world = dist.world_size()
        if cfg.optim.batch_size % self.world:
            raise ConfigError(f"batch_size: {cfg.optim.batch_size} does not split over {self.world} processes; "
                              f"use a multiple of {self.world}")
        # What the user should know before the first step (a lowered batch): the CLI prints it, the log keeps it.
        self.notices: list[str] = list(getattr(self.train_set, "notices", []))
        min_batch = 2 if METHODS[cfg.method.name].needs_batch_stats else 1
        self.batch_size, notice = fit_batch_size(cfg.optim.batch_size, len(self.train_set),
                                                 explicit=not cfg.optim.fit_batch, world=self.world,
                                                 min_batch=min_batch)
        self.notices += [notice] if notice else []
        self.local_batch = self.batch_size // self.world
        self.batch_bounds = epoch_batches(len(self.train_set), self.batch_size, world=self.world,
                                          min_batch=min_batch)
        self.steps_per_epoch = len(self.batch_bounds)
        self.total_steps = self.steps_per_epoch * cfg.optim.epochs
        # On CUDA the whole uint8 dataset lives on the GPU, and augmentation runs there too (airbench's recipe).
        self.images = self.train_set.images.to(self.device)
        self.labels = self.train_set.labels.to(self.device)
        self.augment = TwoViewAugment.from_config(cfg.augment, d.image_size).to(self.device)
        model = build_model(cfg, self.train_set.num_classes).to(self.device)
        # channels_last: faster convolutions on CUDA and (≈+18–50 % for small nets) on CPU.
        model = model.to(memory_format=torch.channels_last)
        self.ddp_model: nn.Module = model
        if self.world > 1 and model.trainable:
            model = dist.convert_batchnorm(model, self.device)
            # find_unused_parameters: without it, methods with a frozen EMA encoder (BYOL, MoCo) got gradients
            # that differ from the single-process ones (measured in tests/test_distributed.py).
            self.ddp_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
        self.state = TrainState(model, build_optimizer(model, cfg.optim) if model.trainable else None)
        if cfg.log.online_probe and has_labels(self.train_set.labels, self.train_set.num_classes):
            self.state.probe = OnlineProbe(model.backbone, self.train_set.num_classes,
                                           partly_labelled=bool((self.train_set.labels < 0).any()))
        self.autocast = self.device.type == "cuda"  # bf16 on CPU is ~20× slower (REFERENCE.md)
        # cuDNN's benchmark mode stays off: on an H200 it made the recipe's steps slower, not faster (ResNet-18,
        # batch 512, bf16: 61–86 vs 36–37 ms per step in two rounds each; BENCHMARKS.md, issue 18).

    @property
    def model(self) -> Method:
        return self.state.model

    def load_checkpoint(self, state: dict[str, Any]) -> None:
        self.state.load_state_dict(state)

    def kept_checkpoints(self, steps: list[int]) -> set[int]:
        """Retention: of the checkpoints at ``steps``, keep the last ``keep_last``, every ``keep_every``-th epoch's
        and the final one (the recorder deletes the rest, each only after a newer one is safely written)."""
        log, per_epoch = self.cfg.log, self.steps_per_epoch
        kept = set(sorted(steps)[-log.keep_last:])
        kept |= {s for s in steps if log.keep_every and s % (log.keep_every * per_epoch) == 0}
        return kept | {s for s in steps if s == self.total_steps}

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        return torch.randperm(len(self.train_set), generator=g)

    def _batches(self, epoch: int, start: int):
        order = self._epoch_order(epoch)
        for i in range(start, self.steps_per_epoch):
            begin, size = self.batch_bounds[i]
            local = size // self.world
            lo = begin + dist.rank() * local
            yield i, order[lo: lo + local].to(self.device)

    def fit(self, progress: bool = False) -> dict[str, Any]:
        """Train to the configured number of epochs (continuing from a loaded checkpoint) and return a summary."""
        cfg, st = self.cfg, self.state
        warmup = round(cfg.optim.warmup_epochs * self.steps_per_epoch)
        bar = None
        if progress and dist.is_main_process():
            from tqdm import tqdm
            bar = tqdm(total=self.total_steps, initial=st.step, unit="step", dynamic_ncols=True)
        last: dict[str, float] = {}
        pairs_per_s = float("nan")
        status = "finished"
        window_start, window_pairs = time.perf_counter(), 0
        try:
            while st.epoch < cfg.optim.epochs:
                self.ddp_model.train()
                for i, idx in self._batches(st.epoch, st.batch_in_epoch):
                    if dist.any_rank(self.recorder.should_stop(), self.device):
                        status = "cancelled"
                        break
                    lr = lr_at(st.step, self.total_steps, warmup, cfg.optim.lr)
                    out = self._step(idx, lr)
                    st.step += 1
                    st.batch_in_epoch = i + 1
                    window_pairs += len(idx) * self.world
                    epoch_f = st.epoch + st.batch_in_epoch / self.steps_per_epoch
                    # The first and the last step too: a run's final heatmap and metrics are what lessons check.
                    ends = st.step in (1, self.total_steps)
                    log_now = st.step % cfg.log.log_every == 0 or ends
                    snapshot_now = st.step % cfg.log.snapshot_every == 0 or ends
                    if log_now or snapshot_now:
                        now = time.perf_counter()
                        pairs_per_s = window_pairs / max(now - window_start, 1e-9)
                        window_start, window_pairs = now, 0
                        last = self._log(out, lr, pairs_per_s, epoch_f, snapshot_now)
                    if bar is not None:
                        bar.set_postfix(epoch=f"{epoch_f:.2f}", loss=f"{float(out.loss.detach()):.4g}",
                                        pairs_s=f"{pairs_per_s:.0f}", refresh=False)
                        bar.update(1)
                if status == "cancelled":
                    break
                st.epoch += 1
                st.batch_in_epoch = 0
                if st.epoch % cfg.log.checkpoint_every == 0 or st.epoch == cfg.optim.epochs:
                    self.recorder.checkpoint(st.step, st.state_dict())
                    self.recorder.prune_checkpoints(self.kept_checkpoints)
                self.recorder.on_epoch_end(st.epoch, st.step, st)
            if status == "cancelled":
                self.recorder.checkpoint(st.step, st.state_dict())
                self.recorder.prune_checkpoints(self.kept_checkpoints)
        finally:
            if bar is not None:
                bar.close()
        return {"status": status, "step": st.step, "epoch": st.epoch, "total_steps": self.total_steps,
                "pairs_per_s": pairs_per_s, **{k: v for k, v in last.items() if k in ("loss",)}}

    def _step(self, idx: torch.Tensor, lr: float):
        st, model = self.state, self.state.model
        views = self.augment(self.images[idx], num_views=model.num_views)
        views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        y = self.labels[idx] if model.needs_labels else None
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.ddp_model(*views, y=y)
        if dist.any_rank(not torch.isfinite(out.loss.detach()), self.device):
            raise Diverged(f"loss became {float(out.loss.detach())} at step {st.step + 1}; lower --lr or check --scale")
        if st.optimizer is not None:
            set_lr(st.optimizer, lr)
            st.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            st.optimizer.step()
            model.on_step_end(min(1.0, (st.step + 1) / self.total_steps))
        if st.probe is not None:
            st.probe.step(self.labels[idx])
        return out

    def _log(self, out, lr: float, pairs_per_s: float, epoch: float, snapshot: bool) -> dict[str, float]:
        diag, xcorr = all_diagnostics(out.z1, out.z2)
        values = {"loss": float(out.loss.detach()), "lr": lr, "pairs_per_s": pairs_per_s,
                  **out.terms, **out.metrics, **diag, **(self.state.probe.read() if self.state.probe else {})}
        self.recorder.log_metrics(self.state.step, epoch, values)
        if snapshot:
            k = self.cfg.log.snapshot_size
            matrices = {"xcorr": xcorr[:k, :k]}
            if out.matrix is not None:
                matrices["matrix"] = out.matrix.detach().float()[:k, :k]
            self.recorder.snapshot(self.state.step, matrices, values)
        return values


def train(cfg: RunConfig, recorder: Recorder | None = None, progress: bool = False) -> dict[str, Any]:
    """Train one run in this process (no store unless a recorder is given)."""
    return Trainer(cfg, recorder).fit(progress=progress)
