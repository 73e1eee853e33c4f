"""Evaluating a model in memory (the trainer's) or a stored run's checkpoint: every probe, the baselines, the
protocol, and the rows and files that record them."""
from __future__ import annotations

from typing import Any

import torch

from ..config import RunConfig
from ..errors import ConfigError, RunNotFound
from .baselines import _baselines
from .embedding_file import _save_embedding
from .features import _feature_module, extract_features
from .probes import chance, targets, probe_all
from .protocol import (DEFAULT_K, DEFAULT_TEMPERATURE, KNN_PROTOCOL, LINEAR_MAX_ITER, LINEAR_PROBE_PROTOCOL,
                       LINEAR_WEIGHT_DECAY, NORMALISATION, Progress, emit_range)


def eval_sets(cfg: RunConfig, train_size: int | None, test_size: int | None):
    from ..data import load_dataset

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


def _protocol(cfg: RunConfig, features: str, feature_dim: int, train, test, k: int, temperature: float,
              step: int, epoch: int | None) -> dict[str, Any]:
    return {"features": features, "feature_dim": feature_dim, "step": step, "epoch": epoch,
            "method": cfg.method.name, "backbone": cfg.method.backbone,
            "dataset": cfg.data.dataset, "image_size": cfg.data.image_size, "seed": cfg.seed,
            "train_split": "train", "test_split": "test", "n_train": len(train), "n_test": len(test),
            "normalisation": NORMALISATION,
            "knn": {"k": k, "temperature": temperature, **KNN_PROTOCOL},
            "linear": {"weight_decay": LINEAR_WEIGHT_DECAY, "max_iter": LINEAR_MAX_ITER, **LINEAR_PROBE_PROTOCOL},
            "targets": ["class", *test.factors], "chance": chance(targets(test)),
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
    train, test = datasets or eval_sets(cfg, train_size, test_size)
    if k > len(train):
        raise ConfigError(f"k: {k} is larger than the evaluation training set ({len(train)} images); "
                          f"lower --k or raise --train-size")
    with torch.random.fork_rng(devices=[]):   # evaluation during training must not move the trainer's RNG
        emit(0.05, f"extracting {features} features of {len(train)} + {len(test)} images")
        ftr = extract_features(model, train.images, which=features, device=device, image_size=cfg.data.image_size,
                               progress=emit_range(progress, 0.05, 0.25))
        fte = extract_features(model, test.images, which=features, device=device, image_size=cfg.data.image_size)
        if not (torch.isfinite(ftr).all() and torch.isfinite(fte).all()):
            raise ConfigError(f"step {step}: the model's features are not finite (the run diverged); "
                              f"evaluate an earlier checkpoint with --step")
        emit(0.3, "kNN and linear probes on every label")
        metrics = probe_all(ftr, targets(train), fte, targets(test), k=k, temperature=temperature,
                            device=device, progress=emit_range(progress, 0.3, 0.55))
        base = {}
        if baselines:
            emit(0.55, "baselines: raw pixels and the random backbone (cached per dataset)")
            base = _baselines(store.root if store is not None else None, cfg, train, test, k=k,
                              temperature=temperature, device=device, progress=emit_range(progress, 0.55, 0.75))
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
            # the size that was asked for, not len(test): thumbnails re-load the split with it, and a folder with
            # unreadable files would otherwise re-load a different subset
            asked = test_size if test_size is not None else cfg.data.test_size
            path = _save_embedding(store, run_id, cfg, step, features, fte, test, asked,
                                   umap=embed in (True, "umap"), progress=emit_range(progress, 0.75, 1.0))
            result["embedding"] = str(path)
    emit(1.0, "evaluation done")
    return result


def _check_checkpoint(store, run_id: str, step: int | None) -> None:
    """One-line errors for runs that cannot be evaluated (before any data is loaded)."""
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
    from ..train import build_model

    state = store.load_checkpoint(run_id, step)
    model = build_model(cfg, num_classes)
    model.load_state_dict(state["model"])
    return model, int(state["step"]), int(state.get("epoch", 0))


def evaluate_run(store, run_id: str, step: int | None = None, *, features: str = "backbone", k: int = DEFAULT_K,
                 temperature: float = DEFAULT_TEMPERATURE, train_size: int | None = None,
                 test_size: int | None = None, embed: bool | str = True, baselines: bool = True,
                 device: str | None = None, progress: Progress = None) -> dict[str, Any]:
    """Evaluate a stored run's checkpoint (latest unless ``step``) and store the results; see the module docstring."""
    from ..train import resolve_device

    cfg = store.config(run_id)      # RunNotFound for an unknown id
    _check_checkpoint(store, run_id, step)
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k: must be a positive whole number, got {k!r}")
    sets = eval_sets(cfg, train_size, test_size)
    if k > len(sets[0]):   # before any progress output: bad input stays a one-line error
        raise ConfigError(f"k: {k} is larger than the evaluation training set ({len(sets[0])} images); "
                          f"lower --k or raise --train-size")
    model, step_, epoch = _load_run_model(store, run_id, cfg, step, sets[0].num_classes)
    dev = resolve_device(device or "auto")
    model = model.to(dev).to(memory_format=torch.channels_last)
    return evaluate_model(model, cfg, step=step_, epoch=epoch, store=store, run_id=run_id, features=features, k=k,
                          temperature=temperature, embed=embed, baselines=baselines, device=dev, datasets=sets,
                          test_size=test_size, progress=progress)
