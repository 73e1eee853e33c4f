"""The fine-tuning protocol: the pre-trained backbone and a new linear head trained together on the labelled images,
next to the same architecture trained from scratch with the same budget.

The Keras SimCLR STL-10 example's protocol (REFERENCE.md: baseline 59.9 %, online probe 56.7 %, fine-tuned 65.3 %)::

    model = linear_head ∘ backbone                  (backbone from the run's checkpoint, or untrained for the baseline)
    for epoch in 1..E:  for each labelled batch (x, y):
        loss = cross_entropy(model(weak_augment(x)), y);  Adam step on every parameter
    accuracy = top-1 of model(x) on the test split     (eval mode, no augmentation)

Same epochs, batch, lr, augmentation and seed for both, so the gap is what pre-training bought.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import PRESET_SOURCES, TwoViewAugment
from ..errors import ConfigError
from .baselines import random_backbone
from .features import extract_features
from .protocol import NORMALISATION, Progress, emit_range
from .run_eval import _check_checkpoint, _load_run_model, eval_sets, evaluate_model
from .stored import latest_results

FINETUNE_LR = 1e-3          # keras.optimizers.Adam's default, as the example
FINETUNE_BATCH = 128
FINETUNE_AUGMENT = "weak"   # the example's classification augmentation (crops of 75–100 %, light jitter)


def finetune_accuracy(backbone: nn.Module, train, test, *, epochs: int, lr: float = FINETUNE_LR,
                      batch_size: int = FINETUNE_BATCH, image_size: int, seed: int = 0,
                      device: torch.device | None = None, progress: Progress = None) -> float:
    """Train ``backbone`` + a new linear head on ``train``'s labelled images; top-1 on ``test``. Moves no global RNG."""
    device = device or torch.device("cpu")
    keep = train.labels >= 0
    images, labels = train.images[keep], train.labels[keep]
    batch = min(batch_size, len(images))
    if batch < 2:
        raise ConfigError(f"dataset: fine-tuning needs at least 2 labelled training images, got {len(images)}")
    emit = progress or (lambda f, m: None)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = nn.Sequential(backbone, nn.Linear(backbone.out_dim, train.num_classes))
        model = model.to(device).to(memory_format=torch.channels_last)
        augment = TwoViewAugment(FINETUNE_AUGMENT, image_size).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        order = torch.Generator().manual_seed(seed)
        steps = len(images) // batch        # whole batches only: a last batch of 1 cannot pass BatchNorm
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(len(images), generator=order)
            for i in range(steps):
                idx = perm[i * batch:(i + 1) * batch]
                x = augment(images[idx].to(device), num_views=1)[0].contiguous(memory_format=torch.channels_last)
                loss = F.cross_entropy(model(x), labels[idx].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            emit((epoch + 1) / epochs, f"fine-tuning: epoch {epoch + 1}/{epochs}, loss {float(loss.detach()):.3f}")
        holder = nn.Module()
        holder.backbone = model      # extract_features: eval mode, the training normalisation, batched
        logits = extract_features(holder, test.images, device=device, image_size=image_size)
    return float((logits.argmax(1) == test.labels).float().mean())


def finetune_run(store, run_id: str, step: int | None = None, *, epochs: int | None = None, lr: float = FINETUNE_LR,
                 batch_size: int = FINETUNE_BATCH, baseline: bool = True, train_size: int | None = None,
                 test_size: int | None = None, device: str | None = None,
                 progress: Progress = None) -> dict[str, Any]:
    """Fine-tune a stored run's checkpoint (latest unless ``step``) and, with ``baseline``, the same backbone from
    scratch; report both next to the checkpoint's frozen linear / kNN accuracy and store them under the eval key
    ``"finetune"`` (metric rows ``eval/finetune/class``, ``eval/supervised_scratch/class``)."""
    from ..train import resolve_device

    cfg = store.config(run_id)
    _check_checkpoint(store, run_id, step)
    epochs = cfg.optim.epochs if epochs is None else epochs
    if not isinstance(epochs, int) or isinstance(epochs, bool) or not 1 <= epochs <= 10_000:
        raise ConfigError(f"epochs: fine-tuning epochs must be a whole number from 1 to 10000, got {epochs!r}")
    if not 0 < lr <= 10:
        raise ConfigError(f"lr: must be in (0, 10], got {lr!r}")
    if not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"batch_size: must be a whole number ≥ 2, got {batch_size!r}")
    sets = eval_sets(cfg, train_size, test_size)
    train, test = sets
    dev = resolve_device(device or "auto")
    model, step_, epoch = _load_run_model(store, run_id, cfg, step, train.num_classes)
    emit = progress or (lambda f, m: None)
    frozen = latest_results(store, run_id, step_)
    if frozen is None or (frozen["protocol"].get("n_train"), frozen["protocol"].get("n_test")) != (len(train),
                                                                                                   len(test)):
        # The frozen protocols on the same images, before fine-tuning changes the checkpoint's weights. Not
        # stored: the run's own evaluation at this step (other sizes) stays what Embeddings shows.
        frozen = evaluate_model(model.to(dev), cfg, step=step_, epoch=epoch, embed=False, baselines=False,
                                device=dev, datasets=sets, progress=emit_range(progress, 0.0, 0.1))
    common = dict(epochs=epochs, lr=lr, batch_size=batch_size, image_size=cfg.data.image_size, seed=cfg.seed,
                  device=dev)
    emit(0.1, f"fine-tuning the step-{step_} backbone for {epochs} epochs")
    tuned = finetune_accuracy(model.backbone, train, test, **common,
                              progress=emit_range(progress, 0.1, 0.55 if baseline else 1.0))
    results = {"finetune/class": tuned}
    if baseline:
        emit(0.55, f"supervised baseline: untrained {cfg.method.backbone}, same budget")
        results["supervised_scratch/class"] = finetune_accuracy(random_backbone(cfg).backbone, train, test, **common,
                                                                progress=emit_range(progress, 0.55, 1.0))
    for key in ("linear/class", "knn/class"):
        if key in frozen["metrics"]:
            results[key] = frozen["metrics"][key]
    protocol = {"features": "finetune", "step": step_, "epoch": epoch, "method": cfg.method.name,
                "backbone": cfg.method.backbone, "dataset": cfg.data.dataset, "image_size": cfg.data.image_size,
                "seed": cfg.seed, "train_split": "train (labelled images)", "test_split": "test",
                "n_train": int((train.labels >= 0).sum()), "n_test": len(test), "normalisation": NORMALISATION,
                "finetune": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "optimizer": "Adam",
                             "augment": f"{FINETUNE_AUGMENT}: {PRESET_SOURCES[FINETUNE_AUGMENT]}",
                             "head": "linear on the backbone's features, trained with the backbone",
                             "source": "Keras SimCLR STL-10 example's fine-tuning (keras.io/examples/vision/"
                                       "semisupervised_simclr)"},
                "supervised_scratch": "the same backbone architecture from random init (seed of the run), "
                                      "same epochs, lr, batch and augmentation" if baseline else None,
                "frozen": "linear / kNN of the same checkpoint, the evaluate protocol (frozen backbone)"}
    store.add_eval(run_id, step_, "finetune", protocol, results)
    store.log_metrics(run_id, step_, float(epoch), {f"eval/{k}": v for k, v in results.items()
                                                    if k.startswith(("finetune", "supervised_scratch"))})
    emit(1.0, "fine-tuning done")
    return {"run_id": run_id, "step": step_, "epoch": epoch, "protocol": protocol, "metrics": results}


def format_finetune(result: dict[str, Any]) -> str:
    p, m = result["protocol"], result["metrics"]
    ft = p["finetune"]
    lines = [f"run {result['run_id']} at step {result['step']} — {p['dataset']} test ({p['n_test']} images), "
             f"class accuracy",
             f"  fine-tuned            {m['finetune/class']:6.1%}   backbone + linear head, {ft['epochs']} epochs, "
             f"Adam lr {ft['lr']:g}, batch {ft['batch_size']}, {FINETUNE_AUGMENT} augmentation"]
    if "supervised_scratch/class" in m:
        lines.append(f"  supervised, scratch   {m['supervised_scratch/class']:6.1%}   same architecture and budget, "
                     f"random init")
    if "linear/class" in m:
        lines.append(f"  linear probe (frozen) {m['linear/class']:6.1%}")
    if "knn/class" in m:
        lines.append(f"  kNN (frozen)          {m['knn/class']:6.1%}")
    return "\n".join(lines)
