"""Caps on what one run may ask for — configuration, not code.

``RunConfig.validate`` checks every numeric field against ``DEFAULT`` (sane bounds on any machine); classroom mode
serves a room from one laptop with the tighter ``CLASSROOM`` caps, which a teacher can change at start-up. One
table, so the CLI, the Train page and the classroom refuse the same values with the same message.
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


DEFAULT = Limits()
# What fits a 2-core machine serving a class (issue #17's defaults).
CLASSROOM = Limits(epochs=20, batch_size=512, image_size=64, projector_dim=4096, train_images=10_000,
                   queued_per_owner=2)
