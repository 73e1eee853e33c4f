"""3-D projections of features for the Embeddings page's 3-D view (TensorBoard's projector has one): exact PCA,
and UMAP with the same settings as the 2-D one. Not saved with the embedding: the page computes them on request.

Also the "instructive query" the page opens on: the image whose nearest neighbours agree most on the class while
differing most in the nuisance factors — so the first picture a student sees shows what the representation
learned rather than an arbitrary image whose neighbours share its background.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .embed import _umap_lock, pca_2d, umap_is_warm  # noqa: F401 — pca_2d re-exported for symmetry
from .inputs import _as_tensor
from .knn import knn_neighbors
from .protocol import UMAP_SETTINGS


def pca_3d(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Exact 3-D PCA (eigendecomposition of the covariance), each component's sign fixed: deterministic."""
    x = _as_tensor(x).double()
    out = np.zeros((x.shape[0], 3), np.float32)
    if x.shape[0] == 0:
        return out
    xc = x - x.mean(0)
    _, vecs = torch.linalg.eigh(xc.T @ xc)
    comps = vecs[:, -3:].flip(1)
    signs = torch.sign(comps.gather(0, comps.abs().argmax(0, keepdim=True)))
    comps = comps * torch.where(signs == 0, torch.ones_like(signs), signs)
    coords = (xc @ comps).float().numpy()
    out[:, :coords.shape[1]] = coords
    return out


def umap_3d(x: torch.Tensor | np.ndarray, *, n_neighbors: int = UMAP_SETTINGS["n_neighbors"],
            n_epochs: int = UMAP_SETTINGS["n_epochs"]) -> np.ndarray:
    """3-D UMAP of L2-normalised ``x``, the 2-D one's settings; one fit at a time with it (its lock)."""
    x = F.normalize(_as_tensor(x), dim=1).numpy()
    if x.shape[0] <= n_neighbors + 1:
        return pca_3d(x)
    import umap  # lazy: the first import costs ≈ 18 s

    with _umap_lock:
        reducer = umap.UMAP(n_components=3, n_neighbors=n_neighbors, n_epochs=n_epochs, init="pca",
                            min_dist=UMAP_SETTINGS["min_dist"], metric="euclidean",
                            low_memory=UMAP_SETTINGS["low_memory"], verbose=False)
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)


def instructive_query(features: torch.Tensor | np.ndarray, labels: np.ndarray,
                      factors: dict[str, np.ndarray] | None = None, k: int = 8) -> int:
    """The row whose ``k`` nearest neighbours (cosine) share its class most often; ties go to the one whose
    neighbours share the fewest nuisance-factor values with it (they agree on the object, not the background)."""
    feats = _as_tensor(features).float()
    n = feats.shape[0]
    if n <= 1:
        return 0
    k = min(k, n - 1)
    _, idx = knn_neighbors(feats, feats, k + 1)
    idx = idx[:, 1:].numpy()  # drop each row's own match
    labels = np.asarray(labels)
    same_class = (labels[idx] == labels[:, None]).sum(1)
    same_nuisance = sum(((np.asarray(v)[idx] == np.asarray(v)[:, None]).sum(1) for v in (factors or {}).values()),
                        np.zeros(n, dtype=np.int64))
    return int(np.lexsort((same_nuisance, -same_class))[0])
