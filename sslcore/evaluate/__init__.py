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

from .baselines import baseline_cache_path, compute_baselines, random_backbone
from .embed import pca_2d, umap_2d, umap_is_warm, warm_up_umap
from .embedding_file import embedding_steps, ensure_umap, load_embedding
from .features import extract_features, raw_pixel_features
from .knn import knn_accuracy, knn_neighbors, knn_predict
from .linear import linear_probe
from .probes import probe_all, targets
from .protocol import (DEFAULT_K, DEFAULT_TEMPERATURE, EMBED_MAX_POINTS, KNN_PROTOCOL, LINEAR_MAX_ITER,
                       LINEAR_PROBE_PROTOCOL, LINEAR_WEIGHT_DECAY, UMAP_SETTINGS, Progress)
from .report import format_results
from .run_eval import eval_sets, evaluate_model, evaluate_run
from .stored import eval_history, latest_results

__all__ = ["extract_features", "knn_accuracy", "knn_neighbors", "knn_predict", "linear_probe", "probe_all",
           "evaluate_model", "evaluate_run", "latest_results", "eval_history", "load_embedding", "ensure_umap",
           "embedding_steps", "umap_2d", "pca_2d", "warm_up_umap", "format_results", "umap_is_warm",
           "raw_pixel_features", "random_backbone", "compute_baselines", "baseline_cache_path", "eval_sets",
           "targets", "DEFAULT_K", "DEFAULT_TEMPERATURE", "EMBED_MAX_POINTS", "LINEAR_MAX_ITER",
           "LINEAR_WEIGHT_DECAY", "UMAP_SETTINGS", "LINEAR_PROBE_PROTOCOL", "KNN_PROTOCOL", "Progress"]


def __getattr__(name: str):
    # A live counter, not a constant: read it from its module each time (tests check the baseline cache with it).
    if name == "baseline_computations":
        from . import baselines
        return baselines.baseline_computations
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
