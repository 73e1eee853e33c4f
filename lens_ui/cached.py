"""Cached reads from the run store for the pages (``st.cache_data`` / ``st.cache_resource``).

Every cache key includes what makes the answer change — the runs folder, the run's current step, a file's
modification time — so a cached value is never stale; finished runs are read once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from lens_ui.common import runs_dir, store


@st.cache_data(max_entries=64, show_spinner=False)
def metrics(root: str, run_id: str, step: int) -> dict[str, dict[str, list]]:
    """All metric rows of a run (``step`` = the run's current step, part of the key only)."""
    return store().metrics(run_id)


@st.cache_data(max_entries=512, show_spinner=False)
def snapshot(root: str, run_id: str, step: int, kind: str) -> np.ndarray:
    """Snapshot files never change once written."""
    return store().load_snapshot(run_id, step, kind)


def embedding_file(run_id: str, step: int) -> Path:
    return store().run_dir(run_id) / "features" / f"step_{int(step):08d}.npz"


@st.cache_data(max_entries=32, show_spinner="Reading the embedding…")
def _embedding(root: str, run_id: str, step: int, mtime: float) -> dict[str, Any]:
    from sslcore.evaluate import load_embedding

    return load_embedding(store(), run_id, step)


def embedding(run_id: str, step: int) -> dict[str, Any]:
    """The saved embedding of a run at a step (re-read when the file is rewritten, e.g. UMAP added)."""
    path = embedding_file(run_id, step)
    return _embedding(str(runs_dir()), run_id, step, path.stat().st_mtime if path.exists() else 0.0)


def embedding_steps(run_id: str) -> list[int]:
    from sslcore.evaluate import embedding_steps as steps

    return steps(store(), run_id)


@st.cache_resource(max_entries=8, show_spinner="Loading the test images for thumbnails…")
def test_images(dataset: str, root: str | None, image_size: int, test_size: int | None, seed: int):
    """The evaluation's test split (``load_embedding(...)["indices"]`` point into it)."""
    from sslcore.data import load_dataset

    return load_dataset(dataset, "test", root=root, image_size=image_size, size=test_size, seed=seed).images


def images_of(emb: dict[str, Any]):
    """uint8 N×C×H×W images of the embedding's points, in the embedding's order."""
    meta = emb["meta"]
    images = test_images(meta["dataset"], meta.get("root"), int(meta["image_size"]), meta.get("test_size"),
                         int(meta.get("seed", 0)))
    return images[np.asarray(emb["indices"], dtype=np.int64)]


def latest_results(run_id: str, step: int | None = None) -> dict | None:
    from sslcore.evaluate import latest_results as latest

    return latest(store(), run_id, step)


@st.cache_data(max_entries=2048, show_spinner=False)
def run_row(root: str, run_id: str, step: int, status: str, final_only: bool = False) -> dict:
    """A run's row of the runs tables (Compare, Class): ``lens_ui.runs_table.run_row`` over the store. The key
    changes with the run's step and status, so a running run's row stays current. ``final_only``: evaluation
    results only once the run has finished (the Class leaderboard ranks final results)."""
    from lens_ui.runs_table import run_row as row_of
    from sslcore.evaluate import latest_results

    s = store()
    run = s.get(run_id, refresh=False)
    try:
        config = s.config(run_id).to_dict()
    except Exception:  # noqa: BLE001 — a run folder without a readable config still gets its row
        config = None
    results = latest_results(s, run_id) if status == "finished" or not final_only else None
    return row_of(run, config, results, s.metrics(run_id))
