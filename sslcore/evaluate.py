"""Evaluation: frozen features, weighted kNN, linear probe, factor probes, baselines, 2-D embeddings (UMAP / PCA).

Every number carries its protocol (which features, k, T, probe settings, how many train/test images, which step).

API (what the pages and the CLI call)
-------------------------------------
``extract_features(model, images, *, which="backbone", device=None, batch_size=512, image_size=None)``
    uint8 N×3×H×W → float32 N×F on the CPU. ``which``: ``"backbone"`` (what SSL papers evaluate) or
    ``"projector"`` (backbone → projector, the space the loss sees). Eval mode, inference mode, channels_last,
    the training normalisation ``(x/255 − 0.5)/0.25``, resized to ``image_size`` when given and different.
``knn_accuracy(train_x, train_y, test_x, test_y, *, k=20, temperature=0.07, num_classes=None, chunk=None)``
    top-1 of solo-learn's ``WeightedKNNClassifier``: L2-normalised features, cosine similarity, the k most similar
    training images vote with weight exp(sim / T). Test queries are chunked so chunk × N_train ≤ 5e6. → float in [0, 1].
``knn_neighbors(query_x, train_x, k)`` → ``(sims, idx)``, both Q×k, most similar first (cosine).
``linear_probe(train_x, train_y, test_x, test_y, *, weight_decay=5e-4, max_iter=100)`` → float in [0, 1];
    the protocol is ``LINEAR_PROBE_PROTOCOL``: standardise with the train mean/std, then a bias-ful linear layer
    (zero init) fitted by full-batch L-BFGS (at most ``max_iter`` iterations) on mean
    cross-entropy + ``weight_decay``/2 · ‖W‖² — multinomial logistic regression, convex, deterministic.
``evaluate_model(model, cfg, *, step, ...)`` / ``evaluate_run(store, run_id, step=None, ...)`` → results dict::

    {"run_id", "step", "epoch",
     "protocol": {"features", "feature_dim", "dataset", "image_size", "seed", "n_train", "n_test", "knn": {…},
                  "linear": {…}, "targets": ["class", "colour", …], "chance": {target: majority rate}, …},
     "metrics":  {"knn/class": .., "linear/class": .., "knn/colour": .., "linear/colour": .., …},
     "baselines": {"raw_pixels": {same keys}, "random_backbone": {same keys}},
     "embedding": "<run_dir>/features/step_00000150.npz" | None}

    ``evaluate_run`` loads the checkpoint (latest unless ``step``), evaluates class label *and every factor*
    (shapes: colour, background, background_colour, size, position, rotation), computes or reads the cached
    baselines, stores rows with ``store.add_eval(run_id, step, key, protocol, results)`` under the keys
    ``"backbone"`` / ``"projector"`` (the features used), ``"baseline/raw_pixels"`` and
    ``"baseline/random_backbone"``, logs ``eval/<metric>`` (backbone) or ``eval/projector/<metric>`` rows into the
    metrics table (so Monitor / Compare draw accuracy curves), and saves the embedding file.
    ``embed``: True / "umap" (UMAP + PCA), "pca" (PCA only, instant), False (no file).
``random_backbone(cfg)`` → the random-backbone baseline's untrained net (seeded by ``cfg.seed``), as ``.backbone``.
``latest_results(store, run_id, step=None, features="backbone")`` → the results dict rebuilt from stored rows, or None.
``eval_history(store, run_id, features="backbone")`` → [{"step", "epoch"?, "metrics", "protocol"}] by step.
``load_embedding(store, run_id, step=None)`` → dict of the saved file: ``features`` (float16 N×F), ``labels``,
    ``factors`` {name: int64 N}, ``umap`` (N×2, NaN if not computed), ``pca`` (N×2), ``indices`` (positions in
    ``load_dataset(meta["dataset"], "test", root=meta["root"], image_size=meta["image_size"], size=meta["test_size"],
    seed=meta["seed"])`` — for thumbnails), ``class_names``, ``factor_names``, ``meta``, ``step``, ``path``.
``ensure_umap(store, run_id, step=None, progress=None)`` adds UMAP coordinates to a saved file that has only PCA.
``embedding_steps(store, run_id)`` → the steps that have a saved embedding.
``umap_2d(x, ...)`` / ``pca_2d(x)``: the 2-D projections themselves.
``warm_up_umap(block=False)`` compiles umap's numba code paths in a background thread (the first fit in a process
    costs ≈ 50 s of JIT); ``umap_is_warm()`` says whether that has happened. An app server calls it at start-up.

``progress`` callbacks everywhere take ``(fraction in [0, 1], message)``.
Bad input (no checkpoint, unlabeled data, k larger than the train set, a failed run) raises ``ConfigError`` or
``RunNotFound`` with a one-line message.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .config import ConfigError, RunConfig

Progress = Callable[[float, str], None] | None

KNN_MAX_DISTANCE_MATRIX = 5_000_000       # solo-learn: chunk × N_train ≤ this
DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.07
LINEAR_WEIGHT_DECAY = 5e-4
LINEAR_MAX_ITER = 100
EMBED_MAX_POINTS = 5000                   # UMAP / PCA / saved features: at most this many test images
# low_memory=False: umap-learn's low-memory NN-descent made a warm 5k-point fit 2× slower (7.7 s vs 3.6 s on 2
# cores, BENCHMARKS.md); at ≤ EMBED_MAX_POINTS points its memory is a few MB.
UMAP_SETTINGS = {"n_neighbors": 15, "n_epochs": 150, "init": "pca", "min_dist": 0.1, "metric": "euclidean",
                 "low_memory": False, "input": "L2-normalised features"}
NORMALISATION = "(x/255 - 0.5)/0.25 (the training normalisation)"
CACHE_VERSION = 1

LINEAR_PROBE_PROTOCOL = {
    "model": "multinomial logistic regression: one linear layer with bias, zero init, on frozen features",
    "standardise": "per-feature train mean / std (std + 1e-6), applied to train and test",
    "optimiser": "full-batch L-BFGS (history 10, Armijo backtracking; float32 matmuls, float64 loss) from zero, "
                 "at most max_iter iterations",
    "loss": "mean cross-entropy + weight_decay/2 · ||W||² (bias not decayed)",
    "targets": "one head per target (class and every factor), fitted jointly by one L-BFGS run on the sum of "
               "their objectives, which separates by head (same optimum as separate fits)",
}
KNN_PROTOCOL = {"similarity": "cosine (L2-normalised features)", "vote": "sum of exp(sim / T) over the k nearest",
                "source": "solo-learn WeightedKNNClassifier"}

__all__ = ["extract_features", "knn_accuracy", "knn_neighbors", "knn_predict", "linear_probe", "evaluate_model",
           "evaluate_run", "latest_results", "eval_history", "load_embedding", "ensure_umap", "embedding_steps",
           "umap_2d", "pca_2d", "warm_up_umap", "format_results", "umap_is_warm", "raw_pixel_features", "random_backbone",
           "baseline_cache_path",
           "LINEAR_PROBE_PROTOCOL", "KNN_PROTOCOL"]

# How many times baselines were actually computed in this process (tests check the cache with it).
baseline_computations = 0


# ----------------------------------------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------------------------------------
def _pick_device(device: str | torch.device | None, fallback: torch.device) -> torch.device:
    if device is None:
        return fallback
    if isinstance(device, torch.device):
        return device
    from .train import resolve_device

    return resolve_device(device)


def _prepare(batch: torch.Tensor, device: torch.device, image_size: int | None) -> torch.Tensor:
    x = batch.to(device, non_blocking=True).float().div_(255)
    if image_size is not None and (x.shape[-1] != image_size or x.shape[-2] != image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    return x.sub_(0.5).div_(0.25).contiguous(memory_format=torch.channels_last)


def _feature_module(model: torch.nn.Module, which: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if which == "backbone":
        return model.backbone
    if which == "projector":
        proj = getattr(model, "projector", None)
        if proj is None:
            raise ConfigError(f"features: method {getattr(model, 'name', type(model).__name__)!r} has no projector; "
                              f"use features=backbone")
        return lambda x: proj(model.backbone(x))
    raise ConfigError(f"features: must be 'backbone' or 'projector', got {which!r}")


def extract_features(model: torch.nn.Module, images: torch.Tensor, *, which: str = "backbone",
                     device: str | torch.device | None = None, batch_size: int = 512,
                     image_size: int | None = None, progress: Progress = None) -> torch.Tensor:
    """Frozen features of uint8 N×3×H×W ``images`` (float32 N×F, on the CPU). See the module docstring."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ConfigError(f"images: expected a uint8 N×C×H×W tensor, got {images.dtype} {tuple(images.shape)}")
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be ≥ 1, got {batch_size}")
    fn = _feature_module(model, which)
    try:
        model_device = next(model.parameters()).device
    except StopIteration:
        model_device = torch.device("cpu")
    device = _pick_device(device, model_device)
    moved = device != model_device
    if moved:
        model.to(device)
    was_training = model.training
    model.eval()
    outs = []
    n = images.shape[0]
    try:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                x = _prepare(images[i:i + batch_size], device, image_size)
                outs.append(fn(x).float().to("cpu"))
                if progress is not None:
                    progress(min(1.0, (i + batch_size) / max(n, 1)), f"features {min(n, i + batch_size)}/{n}")
    finally:
        model.train(was_training)
        if moved:
            model.to(model_device)
    if not outs:
        return torch.empty(0, 0)
    return torch.cat(outs).contiguous()


def raw_pixel_features(images: torch.Tensor, image_size: int | None = None) -> torch.Tensor:
    """The raw-pixel baseline's features: the normalised image, flattened (float32 N×3·H·W)."""
    out = []
    for i in range(0, images.shape[0], 2048):
        out.append(_prepare(images[i:i + 2048], torch.device("cpu"), image_size).contiguous().flatten(1))
    return torch.cat(out) if out else torch.empty(0, 0)


# ----------------------------------------------------------------------------------------------------------------------
# Weighted kNN
# ----------------------------------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------------------------------
# Linear probe
# ----------------------------------------------------------------------------------------------------------------------
def _lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, max_iter: int, *,
           history: int = 10, gtol: float = 1e-6, ftol: float = 1e-10) -> np.ndarray:
    """Plain L-BFGS (two-loop recursion, Armijo backtracking from step 1; the first step is scaled to unit
    length) for smooth convex objectives. Deterministic; float64 numpy vectors."""
    x = x0.astype(np.float64)
    f, g = fun(x)
    mem: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        if not np.isfinite(f) or np.abs(g).max() <= gtol:
            break
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(mem):
            a = rho * s.dot(q)
            alphas.append(a)
            q -= a * y
        if mem:
            s, y, _ = mem[-1]
            q *= s.dot(y) / y.dot(y)
        else:
            q /= max(1.0, float(np.linalg.norm(g)))
        for (s, y, rho), a in zip(mem, reversed(alphas)):
            q += s * (a - rho * y.dot(q))
        d = -q
        slope = g.dot(d)
        if slope >= 0:  # not a descent direction (numerical trouble): restart from the gradient
            mem.clear()
            d = -g / max(1.0, float(np.linalg.norm(g)))
            slope = g.dot(d)
        t = 1.0
        while True:
            x_new = x + t * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * t * slope or t < 1e-10:
                break
            t *= 0.5
        s, y = x_new - x, g_new - g
        sy = s.dot(y)
        if sy > 1e-12 * max(1.0, y.dot(y)):
            mem.append((s, y, 1.0 / sy))
            if len(mem) > history:
                mem.pop(0)
        done = abs(f - f_new) <= ftol * max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x


def _fit_softmax_heads(x: torch.Tensor, ys: list[torch.Tensor], classes: list[int], weight_decay: float,
                       max_iter: int) -> torch.Tensor:
    """Minimise Σ_heads [mean CE(x·W_h + b_h, y_h)] + wd/2·‖W‖² by L-BFGS on an analytic gradient.
    One head per label vector; the objective separates by head, so a joint fit reaches the separate fits' optimum
    while reading the (often large) feature matrix once per evaluation for all heads. Returns [W; b], (F+1)×ΣC.
    No autograd and no torch.optim: nothing to import or warm up (the first torch.optim step imports ≈ 5 s)."""
    n, f = x.shape
    x = x.float().contiguous()
    xt = x.T.contiguous()                       # Xᵀ·D on a transposed view is ~10× slower on CPU
    heads, total, cmax = len(classes), sum(classes), max(classes)
    # column j of the ΣC logits ↔ slot (head, class) in a heads×cmax grid padded with −inf: one log_softmax call
    slots = torch.cat([torch.arange(c) + h * cmax for h, c in enumerate(classes)]).to(x.device)
    onehot = torch.zeros(n, total, dtype=torch.float64, device=x.device)
    rows = torch.arange(n, device=x.device)
    for y, lo in zip(ys, np.cumsum([0, *classes[:-1]]).tolist()):
        onehot[rows, y + lo] = 1
    grid = torch.full((n, heads * cmax), -torch.inf, dtype=torch.float64, device=x.device)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        wb = torch.from_numpy(theta).to(x.device).view(f + 1, total)
        w, b = wb[:-1], wb[-1]
        grid[:, slots] = (x @ w.float()).double() + b                    # float32 matmul, float64 loss
        logp = torch.log_softmax(grid.view(n, heads, cmax), 2).view(n, -1)[:, slots]
        loss = -(logp * onehot).sum() / n + 0.5 * weight_decay * w.square().sum()
        d = (logp.exp() - onehot) / n
        grad = torch.cat([(xt @ d.float()).double() + weight_decay * w, d.sum(0, keepdim=True)])
        return float(loss), grad.cpu().numpy().ravel()

    theta = _lbfgs(fun, np.zeros((f + 1) * total), max_iter)
    return torch.from_numpy(theta).to(x.device).view(f + 1, total)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor | dict[str, torch.Tensor], test_x: torch.Tensor,
                 test_y: torch.Tensor | dict[str, torch.Tensor], *, weight_decay: float = LINEAR_WEIGHT_DECAY,
                 max_iter: int = LINEAR_MAX_ITER, num_classes: int | None = None,
                 device: str | torch.device | None = None, return_predictions: bool = False):
    """Top-1 accuracy of a linear classifier on frozen features (protocol: ``LINEAR_PROBE_PROTOCOL``).

    ``train_y`` / ``test_y`` may be dicts {target: labels}: one head per target, fitted jointly (see
    ``_fit_softmax_heads``), and the result is {target: accuracy}. ``return_predictions`` adds the test predictions.
    """
    single = not isinstance(train_y, dict)
    tr_ys = {"_": train_y} if single else dict(train_y)
    te_ys = {"_": test_y} if single else dict(test_y)
    if set(tr_ys) != set(te_ys):
        raise ConfigError(f"labels: train targets {sorted(tr_ys)} differ from test targets {sorted(te_ys)}")
    train_x, test_x = _as_tensor(train_x), _as_tensor(test_x)
    tr_ys = {k: _as_tensor(v, torch.long) for k, v in tr_ys.items()}
    te_ys = {k: _as_tensor(v, torch.long) for k, v in te_ys.items()}
    for name in tr_ys:
        _check_labels(tr_ys[name], "train")
        _check_labels(te_ys[name], "test")
        if tr_ys[name].shape[0] != train_x.shape[0] or te_ys[name].shape[0] != test_x.shape[0]:
            raise ConfigError(f"labels: {name}: {tr_ys[name].shape[0]}/{te_ys[name].shape[0]} labels for "
                              f"{train_x.shape[0]}/{test_x.shape[0]} train/test features")
    if train_x.shape[0] < 2:
        raise ConfigError(f"train_size: the linear probe needs at least 2 training images, got {train_x.shape[0]}")
    if weight_decay < 0 or max_iter < 1:
        raise ConfigError(f"linear probe: weight_decay must be ≥ 0 and max_iter ≥ 1, got {weight_decay}, {max_iter}")
    names = list(tr_ys)
    classes = [num_classes or int(max(int(tr_ys[k].max()), int(te_ys[k].max()) if te_ys[k].numel() else 0)) + 1
               for k in names]
    dev = _compute_device(train_x, device=device)
    with torch.no_grad():
        xtr = train_x.to(dev, torch.float32)
        mean, std = xtr.mean(0), xtr.std(0, unbiased=False) + 1e-6
        xtr = (xtr - mean) / std
        xte = (test_x.to(dev, torch.float32) - mean) / std
        wb = _fit_softmax_heads(xtr, [tr_ys[k].to(dev) for k in names], classes, weight_decay, max_iter)
        logits = (xte @ wb[:-1].float() + wb[-1].float()).cpu()
    accs, preds = {}, {}
    lo = 0
    for name, c in zip(names, classes):
        preds[name] = logits[:, lo:lo + c].argmax(1)
        lo += c
        accs[name] = float((preds[name] == te_ys[name]).float().mean()) if te_ys[name].numel() else float("nan")
    if single:
        return (accs["_"], preds["_"]) if return_predictions else accs["_"]
    return (accs, preds) if return_predictions else accs


# ----------------------------------------------------------------------------------------------------------------------
# Probes over every target (class + factors)
# ----------------------------------------------------------------------------------------------------------------------
def _targets(dataset) -> dict[str, torch.Tensor]:
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


def _chance(targets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Majority-class rate of each test target: what a probe that learnt nothing would score."""
    return {name: float(torch.bincount(y).max()) / max(1, y.numel()) for name, y in targets.items() if y.numel()}


# ----------------------------------------------------------------------------------------------------------------------
# 2-D embeddings
# ----------------------------------------------------------------------------------------------------------------------
def pca_2d(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Exact 2-D PCA (eigendecomposition of the covariance), signs fixed: deterministic, instant."""
    x = _as_tensor(x).double()
    if x.shape[0] == 0:
        return np.zeros((0, 2), np.float32)
    xc = x - x.mean(0)
    _, vecs = torch.linalg.eigh(xc.T @ xc)
    comps = vecs[:, -2:].flip(1) if vecs.shape[1] >= 2 else torch.cat([vecs, torch.zeros_like(vecs)], 1)
    signs = torch.sign(comps.gather(0, comps.abs().argmax(0, keepdim=True)))
    comps = comps * torch.where(signs == 0, torch.ones_like(signs), signs)
    return (xc @ comps).float().numpy()


_umap_lock = threading.Lock()          # one fit at a time (the warm-up included)
_warm_lock = threading.Lock()
_umap_state: dict[str, Any] = {"warm": False, "thread": None}


def umap_is_warm() -> bool:
    """True once umap's numba code has been compiled in this process (a warm fit of 5k points takes ≈ 1–2 s)."""
    return bool(_umap_state["warm"])


def umap_2d(x: torch.Tensor | np.ndarray, *, n_neighbors: int = UMAP_SETTINGS["n_neighbors"],
            n_epochs: int = UMAP_SETTINGS["n_epochs"], random_state: int | None = None,
            progress: Progress = None) -> np.ndarray:
    """2-D UMAP of L2-normalised ``x`` (euclidean on the unit sphere ≙ cosine without cosine's extra JIT),
    ``init="pca"``. No fixed random_state unless asked (it disables numba parallelism, 2× slower)."""
    x = F.normalize(_as_tensor(x), dim=1).numpy()
    if x.shape[0] <= n_neighbors + 1:
        return pca_2d(x)
    if not umap_is_warm() and progress is not None:
        progress(0.0, "UMAP: compiling numba code on first use in this process (≈ 1 min, once)…")
    import umap  # lazy: the first import costs ≈ 18 s

    with _umap_lock:
        reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, n_epochs=n_epochs, init="pca",
                            min_dist=UMAP_SETTINGS["min_dist"], metric="euclidean", random_state=random_state,
                            low_memory=UMAP_SETTINGS["low_memory"], verbose=False)
        coords = reducer.fit_transform(x)
        _umap_state["warm"] = True
    return np.asarray(coords, dtype=np.float32)


def _warm_up() -> None:
    try:
        x = np.random.default_rng(0).standard_normal((4200, 16)).astype(np.float32)  # ≥ 4,100: NN-descent path
        umap_2d(x, n_epochs=20)
    except Exception:  # noqa: BLE001 - a failed warm-up only means the first real fit pays the JIT
        pass


def warm_up_umap(block: bool = False) -> threading.Thread | None:
    """Compile umap's numba paths in a daemon thread (once per process); ``block`` waits for it.
    Returns the thread (None when already warm)."""
    if umap_is_warm():
        return None
    with _warm_lock:
        t = _umap_state["thread"]
        if t is None:
            t = threading.Thread(target=_warm_up, name="umap-warm-up", daemon=True)
            _umap_state["thread"] = t
            t.start()
    if block:
        t.join()
    return t


# ----------------------------------------------------------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------------------------------------------------------
def _emit(progress: Progress, lo: float, hi: float) -> Progress:
    """A progress callback mapping [0, 1] onto [lo, hi] of the caller's bar."""
    if progress is None:
        return None
    return lambda f, msg: progress(lo + (hi - lo) * max(0.0, min(1.0, f)), msg)


def _eval_sets(cfg: RunConfig, train_size: int | None, test_size: int | None):
    from .data import load_dataset

    d = cfg.data
    train = load_dataset(d.dataset, "train", root=d.root, image_size=d.image_size,
                         size=train_size if train_size is not None else d.train_size, seed=cfg.seed)
    test = load_dataset(d.dataset, "test", root=d.root, image_size=d.image_size,
                        size=test_size if test_size is not None else d.test_size, seed=cfg.seed)
    for s in (train, test):
        if len(s) and int(s.labels.min()) < 0:
            raise ConfigError(f"dataset: the {d.dataset} {s.split} split has no labels (like stl10 'unlabeled'); "
                              f"evaluation needs labelled train and test images")
        if len(s) == 0:
            raise ConfigError(f"dataset: the {d.dataset} {s.split} split is empty; nothing to evaluate")
    return train, test


def baseline_cache_path(root: Path, cfg: RunConfig, n_train: int, n_test: int, k: int, temperature: float) -> Path:
    key = {"v": CACHE_VERSION, "dataset": cfg.data.dataset, "root": cfg.data.root, "image_size": cfg.data.image_size,
           "n_train": n_train, "n_test": n_test, "seed": cfg.seed, "backbone": cfg.method.backbone, "k": k,
           "temperature": temperature, "wd": LINEAR_WEIGHT_DECAY, "iters": LINEAR_MAX_ITER}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(root) / ".cache" / "baselines" / f"{cfg.data.dataset}-{digest}.json"


def random_backbone(cfg: RunConfig) -> torch.nn.Module:
    """The untrained backbone of the random-backbone baseline (seeded by the run's seed, global RNG untouched),
    wrapped as ``.backbone`` so ``extract_features`` takes it like a trained model."""
    from .backbones import build_backbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = build_backbone(cfg.method.backbone).to(memory_format=torch.channels_last)
    holder = torch.nn.Module()
    holder.backbone = net
    return holder


def compute_baselines(cfg: RunConfig, train, test, *, k: int, temperature: float,
                      device: str | torch.device | None = None, progress: Progress = None) -> dict[str, dict]:
    """Raw pixels and the randomly initialised backbone (seeded by the run's seed), on every target."""
    global baseline_computations
    baseline_computations += 1
    tr_t, te_t = _targets(train), _targets(test)
    p = _emit(progress, 0.0, 0.5)
    raw = probe_all(raw_pixel_features(train.images), tr_t, raw_pixel_features(test.images), te_t, k=k,
                    temperature=temperature, device=device, progress=p)
    holder = random_backbone(cfg)
    dev = _pick_device(device, torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    ftr = extract_features(holder, train.images, device=dev)
    fte = extract_features(holder, test.images, device=dev)
    rnd = probe_all(ftr, tr_t, fte, te_t, k=k, temperature=temperature, device=device,
                    progress=_emit(progress, 0.5, 1.0))
    return {"raw_pixels": raw, "random_backbone": rnd}


def _baselines(root: Path | None, cfg: RunConfig, train, test, *, k: int, temperature: float, device,
               progress: Progress) -> dict[str, dict]:
    path = baseline_cache_path(root, cfg, len(train), len(test), k, temperature) if root is not None else None
    if path is not None and path.exists():
        try:
            return json.loads(path.read_text())["baselines"]
        except (OSError, ValueError, KeyError):
            pass
    result = compute_baselines(cfg, train, test, k=k, temperature=temperature, device=device, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"baselines": result, "dataset": cfg.data.dataset, "n_train": len(train),
                                   "n_test": len(test), "image_size": cfg.data.image_size, "seed": cfg.seed,
                                   "backbone": cfg.method.backbone, "created": time.time()}, indent=1))
        os.replace(tmp, path)
    return result


def _protocol(cfg: RunConfig, features: str, feature_dim: int, train, test, k: int, temperature: float,
              step: int, epoch: int | None) -> dict[str, Any]:
    return {"features": features, "feature_dim": feature_dim, "step": step, "epoch": epoch,
            "method": cfg.method.name, "backbone": cfg.method.backbone,
            "dataset": cfg.data.dataset, "image_size": cfg.data.image_size, "seed": cfg.seed,
            "train_split": "train", "test_split": "test", "n_train": len(train), "n_test": len(test),
            "normalisation": NORMALISATION,
            "knn": {"k": k, "temperature": temperature, **KNN_PROTOCOL},
            "linear": {"weight_decay": LINEAR_WEIGHT_DECAY, "max_iter": LINEAR_MAX_ITER, **LINEAR_PROBE_PROTOCOL},
            "targets": ["class", *test.factors], "chance": _chance(_targets(test)),
            "baselines": {"raw_pixels": "the normalised image flattened, same kNN / linear protocol",
                          "random_backbone": f"untrained {cfg.method.backbone} (seed {cfg.seed}), backbone features"}}


def evaluate_model(model: torch.nn.Module, cfg: RunConfig, *, step: int, epoch: int | None = None,
                   store=None, run_id: str | None = None, features: str = "backbone", k: int = DEFAULT_K,
                   temperature: float = DEFAULT_TEMPERATURE, train_size: int | None = None,
                   test_size: int | None = None, embed: bool | str = True, baselines: bool = True,
                   device: str | torch.device | None = None, datasets=None,
                   progress: Progress = None) -> dict[str, Any]:
    """Evaluate an in-memory model (the trainer's, or one loaded from a checkpoint). With ``store`` and ``run_id``
    the results are stored (eval rows, metric rows, the embedding file); see the module docstring."""
    if embed not in (True, False, "umap", "pca"):
        raise ConfigError(f"embed: must be true, false, 'umap' or 'pca', got {embed!r}")
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k: must be a positive whole number, got {k!r}")
    if not temperature > 0:
        raise ConfigError(f"temperature: must be positive, got {temperature!r}")
    _feature_module(model, features)  # unknown feature kind / no projector: fail before any work
    emit = progress or (lambda f, m: None)
    if datasets is None:
        emit(0.0, "loading evaluation images")
    train, test = datasets or _eval_sets(cfg, train_size, test_size)
    if k > len(train):
        raise ConfigError(f"k: {k} is larger than the evaluation training set ({len(train)} images); "
                          f"lower --k or raise --train-size")
    with torch.random.fork_rng(devices=[]):   # evaluation during training must not move the trainer's RNG
        emit(0.05, f"extracting {features} features of {len(train)} + {len(test)} images")
        ftr = extract_features(model, train.images, which=features, device=device, image_size=cfg.data.image_size,
                               progress=_emit(progress, 0.05, 0.25))
        fte = extract_features(model, test.images, which=features, device=device, image_size=cfg.data.image_size)
        if not (torch.isfinite(ftr).all() and torch.isfinite(fte).all()):
            raise ConfigError(f"step {step}: the model's features are not finite (the run diverged); "
                              f"evaluate an earlier checkpoint with --step")
        emit(0.3, "kNN and linear probes on every label")
        metrics = probe_all(ftr, _targets(train), fte, _targets(test), k=k, temperature=temperature,
                            device=device, progress=_emit(progress, 0.3, 0.55))
        base = {}
        if baselines:
            emit(0.55, "baselines: raw pixels and the random backbone (cached per dataset)")
            base = _baselines(store.root if store is not None else None, cfg, train, test, k=k,
                              temperature=temperature, device=device, progress=_emit(progress, 0.55, 0.75))
    protocol = _protocol(cfg, features, int(ftr.shape[1]), train, test, k, temperature, step, epoch)
    result = {"run_id": run_id, "step": step, "epoch": epoch, "protocol": protocol, "metrics": metrics,
              "baselines": base, "embedding": None}
    if store is not None and run_id is not None:
        store.add_eval(run_id, step, features, protocol, metrics)
        for name, values in base.items():
            store.add_eval(run_id, step, f"baseline/{name}", protocol | {"features": name}, values)
        prefix = "eval/" if features == "backbone" else f"eval/{features}/"
        store.log_metrics(run_id, step, float(epoch if epoch is not None else float("nan")),
                          {prefix + key: value for key, value in metrics.items()})
        if embed:
            emit(0.75, "2-D embedding of the test features")
            path = _save_embedding(store, run_id, cfg, step, features, fte, test, len(test),
                                   umap=embed in (True, "umap"), progress=_emit(progress, 0.75, 1.0))
            result["embedding"] = str(path)
    emit(1.0, "evaluation done")
    return result


def _check_checkpoint(store, run_id: str, step: int | None) -> None:
    """One-line errors for runs that cannot be evaluated (before any data is loaded)."""
    from .runs import RunNotFound

    run = store.get(run_id, refresh=False)
    found = store.checkpoints(run_id)
    if not found:
        if run.status in ("failed", "diverged"):
            reason = f": {run.error}" if run.error else ""
            raise ConfigError(f"run {run_id} {run.status} before writing a checkpoint{reason}; nothing to evaluate")
        raise RunNotFound(f"run {run_id} has no checkpoint yet ({run.status}); evaluate it after its first epoch")
    steps = [s for s, _ in found]
    if step is None and run.status in ("failed", "diverged"):
        raise ConfigError(f"run {run_id} {run.status}" + (f" ({run.error})" if run.error else "")
                          + f"; pick a checkpoint explicitly with --step (available: {', '.join(map(str, steps))})")
    if step is not None and step not in steps:
        raise RunNotFound(f"run {run_id} has no checkpoint at step {step}; available: {', '.join(map(str, steps))}")


def _load_run_model(store, run_id: str, cfg: RunConfig, step: int | None, num_classes: int):
    from .train import build_model

    state = store.load_checkpoint(run_id, step)
    model = build_model(cfg, num_classes)
    model.load_state_dict(state["model"])
    return model, int(state["step"]), int(state.get("epoch", 0))


def evaluate_run(store, run_id: str, step: int | None = None, *, features: str = "backbone", k: int = DEFAULT_K,
                 temperature: float = DEFAULT_TEMPERATURE, train_size: int | None = None,
                 test_size: int | None = None, embed: bool | str = True, baselines: bool = True,
                 device: str | None = None, progress: Progress = None) -> dict[str, Any]:
    """Evaluate a stored run's checkpoint (latest unless ``step``) and store the results; see the module docstring."""
    from .train import resolve_device

    cfg = store.config(run_id)      # RunNotFound for an unknown id
    _check_checkpoint(store, run_id, step)
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k: must be a positive whole number, got {k!r}")
    sets = _eval_sets(cfg, train_size, test_size)
    if k > len(sets[0]):   # before any progress output: bad input stays a one-line error
        raise ConfigError(f"k: {k} is larger than the evaluation training set ({len(sets[0])} images); "
                          f"lower --k or raise --train-size")
    model, step_, epoch = _load_run_model(store, run_id, cfg, step, sets[0].num_classes)
    dev = resolve_device(device or "auto")
    model = model.to(dev).to(memory_format=torch.channels_last)
    return evaluate_model(model, cfg, step=step_, epoch=epoch, store=store, run_id=run_id, features=features, k=k,
                          temperature=temperature, embed=embed, baselines=baselines, device=dev, datasets=sets,
                          progress=progress)


def format_results(result: dict[str, Any]) -> str:
    """A plain-text table of a results dict (the CLI's output): every target, the model and both baselines."""
    p = result["protocol"]
    lines = [f"run {result['run_id']} step {result['step']} (epoch {result.get('epoch')}): {p['features']} features "
             f"({p['feature_dim']}-d) of {p['method']}/{p['backbone']}",
             f"protocol: {p['dataset']} {p['image_size']} px, {p['n_train']} train / {p['n_test']} test images, "
             f"seed {p['seed']}; weighted kNN k={p['knn']['k']} T={p['knn']['temperature']} (cosine); linear probe "
             f"L-BFGS {p['linear']['max_iter']} it, wd {p['linear']['weight_decay']}, standardised features"]
    base = result.get("baselines") or {}
    cols = [("model", result["metrics"])] + [(name.replace("_", " "), m) for name, m in base.items()]
    header = f"{'target':18}" + "".join(f"{name:>22}" for name, _ in cols) + f"{'chance':>9}"
    sub = f"{'':18}" + "".join(f"{'kNN':>11}{'linear':>11}" for _ in cols)
    lines += [header, sub]
    for target in p["targets"]:
        row = f"{target:18}"
        for _, m in cols:
            row += "".join(f"{m[f'{kind}/{target}'] * 100:10.1f}%" if f"{kind}/{target}" in m else f"{'—':>11}"
                           for kind in ("knn", "linear"))
        chance = p.get("chance", {}).get(target)
        lines.append(row + (f"{chance * 100:8.1f}%" if chance is not None else ""))
    if result.get("embedding"):
        lines.append(f"embedding: {result['embedding']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------------
# Stored results
# ----------------------------------------------------------------------------------------------------------------------
def latest_results(store, run_id: str, step: int | None = None, features: str = "backbone") -> dict | None:
    """The results dict of the latest stored evaluation (or the one at ``step``), rebuilt from the store."""
    rows = store.evals(run_id)
    steps = sorted({r["step"] for r in rows if r["key"] == features})
    if not steps:
        return None
    step = steps[-1] if step is None else step
    at = {r["key"]: r for r in rows if r["step"] == step}
    if features not in at:
        return None
    main = at[features]
    emb = _embedding_path(store, run_id, step)
    return {"run_id": run_id, "step": step, "epoch": main["protocol"].get("epoch"), "protocol": main["protocol"],
            "metrics": main["results"],
            "baselines": {key.split("/", 1)[1]: r["results"] for key, r in at.items() if key.startswith("baseline/")},
            "embedding": str(emb) if emb.exists() else None}


def eval_history(store, run_id: str, features: str = "backbone") -> list[dict[str, Any]]:
    """Every stored evaluation of ``features`` in step order: [{"step", "epoch", "metrics", "protocol"}]."""
    return [{"step": r["step"], "epoch": r["protocol"].get("epoch"), "metrics": r["results"],
             "protocol": r["protocol"]} for r in store.evals(run_id) if r["key"] == features]


def _embedding_path(store, run_id: str, step: int) -> Path:
    return store.run_dir(run_id) / "features" / f"step_{int(step):08d}.npz"


def embedding_steps(store, run_id: str) -> list[int]:
    folder = store.run_dir(run_id) / "features"
    steps = []
    for p in folder.glob("step_*.npz") if folder.is_dir() else []:
        try:
            steps.append(int(p.stem.split("_", 1)[1]))
        except ValueError:
            continue
    return sorted(steps)


def _save_embedding(store, run_id: str, cfg: RunConfig, step: int, features: str, fte: torch.Tensor, test,
                    n_test: int, *, umap: bool, progress: Progress) -> Path:
    n = len(test)
    if n > EMBED_MAX_POINTS:
        g = torch.Generator().manual_seed(cfg.seed)
        idx = torch.randperm(n, generator=g)[:EMBED_MAX_POINTS].sort().values
    else:
        idx = torch.arange(n)
    x = fte[idx]
    pca = pca_2d(F.normalize(x, dim=1))
    coords = umap_2d(x, progress=progress) if umap else np.full((len(idx), 2), np.nan, np.float32)
    meta = {"run_id": run_id, "step": step, "features": features, "dataset": cfg.data.dataset, "split": "test",
            "root": cfg.data.root, "image_size": cfg.data.image_size, "test_size": n_test, "seed": cfg.seed,
            "class_names": list(test.class_names), "factor_names": {k: list(v) for k, v in test.factor_names.items()},
            "umap": UMAP_SETTINGS if umap else None, "pca": "exact PCA of the L2-normalised features"}
    arrays = {"features": x.half().numpy(), "labels": test.labels[idx].numpy(), "indices": idx.numpy(),
              "umap": coords, "pca": pca, "meta": np.array(json.dumps(meta))}
    arrays |= {f"factor_{name}": y[idx].numpy() for name, y in test.factors.items()}
    path = _embedding_path(store, run_id, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_embedding(store, run_id: str, step: int | None = None) -> dict[str, Any]:
    """Read a saved embedding file back (latest step unless ``step``); see the module docstring."""
    from .runs import RunNotFound

    store.get(run_id, refresh=False)
    steps = embedding_steps(store, run_id)
    if not steps:
        raise RunNotFound(f"run {run_id} has no saved embedding yet; run `python -m sslcore eval {run_id}`")
    step = steps[-1] if step is None else int(step)
    if step not in steps:
        raise RunNotFound(f"run {run_id} has no embedding at step {step}; available: "
                          f"{', '.join(map(str, steps))}")
    path = _embedding_path(store, run_id, step)
    with np.load(path, allow_pickle=False) as z:
        data = {name: z[name] for name in z.files}
    meta = json.loads(str(data.pop("meta")))
    factors = {name[len("factor_"):]: data.pop(name) for name in list(data) if name.startswith("factor_")}
    return {**data, "factors": factors, "class_names": meta["class_names"], "factor_names": meta["factor_names"],
            "meta": meta, "step": step, "path": str(path), "has_umap": bool(np.isfinite(data["umap"]).all())}


def ensure_umap(store, run_id: str, step: int | None = None, progress: Progress = None) -> dict[str, Any]:
    """Load the embedding file, computing and saving UMAP coordinates first if it has only PCA."""
    emb = load_embedding(store, run_id, step)
    if emb["has_umap"]:
        return emb
    coords = umap_2d(emb["features"].astype(np.float32), progress=progress)
    meta = emb["meta"] | {"umap": UMAP_SETTINGS}
    arrays = {"features": emb["features"], "labels": emb["labels"], "indices": emb["indices"], "umap": coords,
              "pca": emb["pca"], "meta": np.array(json.dumps(meta))}
    arrays |= {f"factor_{name}": y for name, y in emb["factors"].items()}
    path = Path(emb["path"])
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return load_embedding(store, run_id, emb["step"])
