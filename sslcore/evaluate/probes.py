"""Probes over every target: the class label and each named factor (colour, background, size, …)."""
from __future__ import annotations

import torch

from .knn import knn_predict
from .linear import linear_probe
from .protocol import Progress


def targets(dataset) -> dict[str, torch.Tensor]:
    return {"class": dataset.labels, **{name: y for name, y in dataset.factors.items()}}


def probe_all(train_x: torch.Tensor, train_targets: dict[str, torch.Tensor], test_x: torch.Tensor,
              test_targets: dict[str, torch.Tensor], *, k: int, temperature: float, linear: bool = True,
              device: str | torch.device | None = None, progress: Progress = None) -> dict[str, float]:
    """kNN (one shared neighbour search) and linear accuracy for every target: {"knn/<t>": .., "linear/<t>": ..}."""
    out: dict[str, float] = {}
    preds = knn_predict(train_x, train_targets, test_x, k=k, temperature=temperature, device=device)
    for name, p in preds.items():
        out[f"knn/{name}"] = float((p == test_targets[name]).float().mean())
    if linear:
        if progress is not None:
            progress(0.0, f"linear probes ({len(train_targets)} targets, one joint L-BFGS fit)")
        accs = linear_probe(train_x, train_targets, test_x, test_targets, device=device)
        out |= {f"linear/{name}": acc for name, acc in accs.items()}
    return {key: out[key] for name in train_targets for key in (f"knn/{name}", f"linear/{name}") if key in out}


def chance(targets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Majority-class rate of each test target: what a probe that learnt nothing would score."""
    return {name: float(torch.bincount(y).max()) / max(1, y.numel()) for name, y in targets.items() if y.numel()}
