"""Arrays in, tensors out: the shared input handling of the probes (device choice, dtype, label checks)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError


def _compute_device(*tensors: torch.Tensor, device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if tensors[0].device.type != "cpu":
        return tensors[0].device
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _as_tensor(x: Any, dtype=torch.float32) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    return torch.as_tensor(x).to(dtype)


def _check_labels(y: torch.Tensor, what: str) -> None:
    if y.numel() and int(y.min()) < 0:
        raise ConfigError(f"labels: the {what} set has unlabeled images (label −1, e.g. stl10 'unlabeled'); "
                          f"kNN and linear probes need a labelled train and test split")
