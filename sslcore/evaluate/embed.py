"""2-D embeddings of features for the Embeddings page: exact PCA, and UMAP with its numba warm-up."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .inputs import _as_tensor
from .protocol import UMAP_SETTINGS, Progress


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
