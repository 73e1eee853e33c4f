"""Seeded random streams and subsets: each (dataset, split, seed) draws from its own stream, so train and test are
disjoint draws and a subset of N images is the same on every call."""
from __future__ import annotations

import numpy as np
import torch

SPLIT_CODE = {"train": 0, "test": 1, "unlabeled": 2}
DATASET_CODE = {"shapes": 11, "digits": 12, "cifar10": 13, "stl10": 14, "folder": 15}


def dataset_rng(name: str, split: str, seed: int) -> np.random.Generator:
    """Independent streams per (dataset, split, seed): train and test are disjoint draws."""
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF,
                                                         DATASET_CODE[name], SPLIT_CODE[split]]))


def seeded_subset(n: int, size: int | None, seed: int) -> torch.Tensor | None:
    """Sorted indices of a seeded random subset of ``size`` out of ``n`` (None: keep everything)."""
    if size is None or size >= n:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:size].sort().values
