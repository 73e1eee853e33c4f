"""Caps on what one run may ask for — configuration, not code.

``RunConfig.validate`` checks every numeric field: the resource caps against ``DEFAULT`` (sane bounds on any
machine), the rest against ``RANGES``. Classroom mode serves a room from one laptop with the tighter ``CLASSROOM``
caps, which a teacher can change at start-up. One table, so the CLI, the Train page and the classroom refuse the same
values with the same message.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    epochs: int = 100_000
    batch_size: int = 65_536
    image_size: int = 1024
    projector_dim: int = 65_536
    train_images: int | None = None          # None: no cap beyond memory
    queued_per_owner: int | None = None      # classroom: runs one person may have queued or running at once
    # The decoded training set (uint8 N×3×S×S) may take at most this share of the memory available when it loads:
    # the model, two augmented views per image and the evaluation need the rest.
    memory_fraction: float = 0.5


DEFAULT = Limits()
# What fits a 2-core machine serving a class (issue #17's defaults).
CLASSROOM = Limits(epochs=20, batch_size=512, image_size=64, projector_dim=4096, train_images=10_000,
                   queued_per_owner=2)

# Sane ranges of the other numeric fields, (lowest, highest), both included unless named in OPEN_BELOW. A value
# outside is a typo on any machine (lr 1e3, temperature 0, a seed torch cannot take), so these are not per-room caps.
RANGES: dict[str, tuple[float, float]] = {
    "lr": (0.0, 100.0), "weight_decay": (0.0, 10.0), "momentum": (0.0, 1.0), "warmup_epochs": (0.0, 100_000.0),
    "temperature": (0.0, 100.0), "lambd": (0.0, 1_000.0), "scale": (0.0, 10_000.0), "ema": (0.0, 1.0),
    "strength": (0.0, 3.0), "vicreg_weights": (0.0, 10_000.0), "focal_gamma": (0.0, 10.0),
    "projector_layers": (1, 16), "queue_size": (1, 1_000_000), "num_views": (2, 16), "nproc": (1, 64),
    "seed": (0, 2**32 - 1), "train_size": (1, 10_000_000), "test_size": (1, 10_000_000),
    "log_every": (1, 1_000_000), "snapshot_every": (1, 1_000_000), "snapshot_size": (1, 128),
    "eval_every": (0, 100_000), "checkpoint_every": (1, 100_000), "keep_last": (1, 1_000), "keep_every": (0, 100_000),
}
OPEN_BELOW = {"lr", "temperature", "scale"}        # must be > lowest
OPEN_ABOVE = {"ema"}                               # must be < highest (an EMA rate of 1 never updates the target)
NAME_MAX_CHARS = 200
