"""Weighted kNN (solo-learn's ``WeightedKNNClassifier``): L2-normalised features, cosine similarity, the k most
similar training images vote with weight exp(sim / T); test queries chunked so chunk × N_train ≤ 5e6."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .inputs import _as_tensor, _check_labels, _compute_device
from .protocol import DEFAULT_K, DEFAULT_TEMPERATURE, KNN_MAX_DISTANCE_MATRIX


def knn_neighbors(query_x: torch.Tensor, train_x: torch.Tensor, k: int, *, chunk: int | None = None,
                  device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` training rows most cosine-similar to each query: ``(sims, idx)``, Q×k, most similar first (CPU)."""
    query_x, train_x = _as_tensor(query_x), _as_tensor(train_x)
    n_train = train_x.shape[0]
    if not 1 <= k <= n_train:
        raise ConfigError(f"k: must be between 1 and the training set size ({n_train}), got {k}; lower --k")
    dev = _compute_device(train_x, device=device)
    train_n = F.normalize(train_x.to(dev), dim=1)
    chunk = chunk or max(1, KNN_MAX_DISTANCE_MATRIX // n_train)
    sims_out, idx_out = [], []
    with torch.inference_mode():
        for i in range(0, query_x.shape[0], chunk):
            q = F.normalize(query_x[i:i + chunk].to(dev), dim=1)
            s, j = torch.topk(q @ train_n.T, k, dim=1, largest=True, sorted=True)
            sims_out.append(s.cpu())
            idx_out.append(j.cpu())
    if not sims_out:
        return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
    return torch.cat(sims_out), torch.cat(idx_out)


def _vote(sims: torch.Tensor, neighbour_labels: torch.Tensor, num_classes: int, temperature: float) -> torch.Tensor:
    weights = (sims / temperature).exp()
    votes = torch.zeros(sims.shape[0], num_classes, dtype=weights.dtype, device=weights.device)
    votes.scatter_add_(1, neighbour_labels, weights)
    return votes.argmax(1)


def knn_predict(train_x: torch.Tensor, train_ys: dict[str, torch.Tensor] | torch.Tensor, test_x: torch.Tensor, *,
                k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE, chunk: int | None = None,
                device: str | torch.device | None = None) -> dict[str, torch.Tensor] | torch.Tensor:
    """Weighted-kNN predictions for one label vector, or for several at once ({name: labels} → {name: preds}),
    sharing one nearest-neighbour search (the factor probes use this)."""
    single = not isinstance(train_ys, dict)
    ys = {"_": train_ys} if single else train_ys
    train_x, test_x = _as_tensor(train_x), _as_tensor(test_x)
    if temperature <= 0:
        raise ConfigError(f"temperature: must be positive, got {temperature}")
    ys = {name: _as_tensor(y, torch.long) for name, y in ys.items()}
    for name, y in ys.items():
        if y.shape[0] != train_x.shape[0]:
            raise ConfigError(f"labels: {name} has {y.shape[0]} labels for {train_x.shape[0]} training features")
        _check_labels(y, "train")
    n_train = train_x.shape[0]
    if not 1 <= k <= n_train:
        raise ConfigError(f"k: {k} is larger than the training set ({n_train} images); lower --k "
                          f"(or evaluate on more training images)" if k > n_train else f"k: must be ≥ 1, got {k}")
    dev = _compute_device(train_x, device=device)
    train_n = F.normalize(train_x.to(dev), dim=1)
    chunk = chunk or max(1, KNN_MAX_DISTANCE_MATRIX // n_train)
    ys_dev = {name: y.to(dev) for name, y in ys.items()}
    ncls = {name: int(y.max()) + 1 if y.numel() else 1 for name, y in ys.items()}
    preds: dict[str, list[torch.Tensor]] = {name: [] for name in ys}
    with torch.inference_mode():
        for i in range(0, test_x.shape[0], chunk):
            q = F.normalize(test_x[i:i + chunk].to(dev), dim=1)
            sims, idx = torch.topk(q @ train_n.T, k, dim=1, largest=True, sorted=False)
            for name, y in ys_dev.items():
                preds[name].append(_vote(sims, y[idx], ncls[name], temperature).cpu())
    out = {name: torch.cat(p) if p else torch.empty(0, dtype=torch.long) for name, p in preds.items()}
    return out["_"] if single else out


def knn_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                 k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE, num_classes: int | None = None,
                 chunk: int | None = None, device: str | torch.device | None = None) -> float:
    """Top-1 accuracy of the weighted kNN classifier (solo-learn): see the module docstring."""
    test_y = _as_tensor(test_y, torch.long)
    _check_labels(test_y, "test")
    train_y = _as_tensor(train_y, torch.long)
    if num_classes is not None and train_y.numel() and int(train_y.max()) >= num_classes:
        raise ConfigError(f"num_classes: {num_classes} is too small for label {int(train_y.max())}")
    pred = knn_predict(train_x, train_y, test_x, k=k, temperature=temperature, chunk=chunk, device=device)
    return float((pred == test_y).float().mean()) if test_y.numel() else float("nan")
