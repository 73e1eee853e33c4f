"""The baselines every number is read against: raw pixels and the untrained backbone, cached per dataset."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import torch

from ..config import RunConfig
from .features import _pick_device, extract_features, raw_pixel_features
from .probes import targets, probe_all
from .protocol import CACHE_VERSION, LINEAR_MAX_ITER, LINEAR_WEIGHT_DECAY, Progress, emit_range

# How many times baselines were actually computed in this process (tests check the cache with it).
baseline_computations = 0


def baseline_cache_path(root: Path, cfg: RunConfig, n_train: int, n_test: int, k: int, temperature: float) -> Path:
    key = {"v": CACHE_VERSION, "dataset": cfg.data.dataset, "root": cfg.data.root, "image_size": cfg.data.image_size,
           "n_train": n_train, "n_test": n_test, "seed": cfg.seed, "backbone": cfg.method.backbone, "k": k,
           "temperature": temperature, "wd": LINEAR_WEIGHT_DECAY, "iters": LINEAR_MAX_ITER}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(root) / ".cache" / "baselines" / f"{cfg.data.dataset}-{digest}.json"


def random_backbone(cfg: RunConfig) -> torch.nn.Module:
    """The untrained backbone of the random-backbone baseline (seeded by the run's seed, global RNG untouched),
    wrapped as ``.backbone`` so ``extract_features`` takes it like a trained model."""
    from ..backbones import build_backbone

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
    tr_t, te_t = targets(train), targets(test)
    p = emit_range(progress, 0.0, 0.5)
    raw = probe_all(raw_pixel_features(train.images), tr_t, raw_pixel_features(test.images), te_t, k=k,
                    temperature=temperature, device=device, progress=p)
    holder = random_backbone(cfg)
    dev = _pick_device(device, torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    ftr = extract_features(holder, train.images, device=dev)
    fte = extract_features(holder, test.images, device=dev)
    rnd = probe_all(ftr, tr_t, fte, te_t, k=k, temperature=temperature, device=device,
                    progress=emit_range(progress, 0.5, 1.0))
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
