"""The evaluation protocol's settings: every stored number names these (kNN k and T, the linear probe,
the normalisation, the 2-D embedding), so they live in one place."""
from __future__ import annotations

from typing import Callable

Progress = Callable[[float, str], None] | None   # (fraction in [0, 1], message)

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


def emit_range(progress: Progress, lo: float, hi: float) -> Progress:
    """A progress callback mapping [0, 1] onto [lo, hi] of the caller's bar."""
    if progress is None:
        return None
    return lambda f, msg: progress(lo + (hi - lo) * max(0.0, min(1.0, f)), msg)
