"""Stored evaluations read back from the run store."""
from __future__ import annotations

from typing import Any

from .embedding_file import _embedding_path


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
