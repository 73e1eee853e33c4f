"""The saved embedding of a run at a step (``features/step_XXXXXXXX.npz``): test features, labels, factors, PCA and
UMAP coordinates, and where each point's image is — written by evaluation, read by the Embeddings page."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..errors import RunNotFound
from .embed import pca_2d, umap_2d
from .protocol import EMBED_MAX_POINTS, UMAP_SETTINGS, Progress


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
                    n_test: int | None, *, umap: bool, progress: Progress) -> Path:
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
