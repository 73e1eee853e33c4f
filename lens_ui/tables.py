"""Tables of evaluation results (pandas, no Streamlit): one run against its baselines, or several runs side by side.

The numbers come from ``sslcore.evaluate`` as stored; these functions only arrange them and name the protocol.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

BASELINE_NAMES = {"raw_pixels": "raw pixels", "random_backbone": "random backbone"}


def targets_of(results: dict[str, Any]) -> list[str]:
    p = results.get("protocol") or {}
    if p.get("targets"):
        return list(p["targets"])
    return sorted({key.split("/", 1)[1] for key in results.get("metrics", {}) if "/" in key},
                  key=lambda t: (t != "class", t))


def probe_table(results: dict[str, Any]) -> pd.DataFrame:
    """Rows: class and every factor. Columns: kNN and linear accuracy of the model, of each baseline, and chance."""
    metrics, base = results.get("metrics", {}), results.get("baselines") or {}
    chance = (results.get("protocol") or {}).get("chance", {})
    rows = []
    for target in targets_of(results):
        row: dict[str, Any] = {"predict": target}
        for kind, label in (("knn", "kNN"), ("linear", "linear")):
            row[f"{label} · this run"] = metrics.get(f"{kind}/{target}")
        for name, values in base.items():
            for kind, label in (("knn", "kNN"), ("linear", "linear")):
                row[f"{label} · {BASELINE_NAMES.get(name, name)}"] = values.get(f"{kind}/{target}")
        row["chance"] = chance.get(target)
        rows.append(row)
    return pd.DataFrame(rows).set_index("predict") if rows else pd.DataFrame()


def protocol_label(results: dict[str, Any]) -> str:
    """One line that says how the numbers were measured."""
    p = results.get("protocol") or {}
    knn, lin = p.get("knn") or {}, p.get("linear") or {}
    parts = [f"step {results.get('step')}",
             f"{p.get('features', '?')} features ({p.get('feature_dim', '?')}-d)",
             f"{p.get('dataset', '?')} {p.get('image_size', '?')} px",
             f"{p.get('n_train', '?')} train / {p.get('n_test', '?')} test images"]
    if knn:
        parts.append(f"weighted kNN k={knn.get('k')} T={knn.get('temperature')} (cosine)")
    if lin:
        parts.append(f"linear probe: L-BFGS {lin.get('max_iter', '?')} it, wd {lin.get('weight_decay', '?')}, "
                     "standardised features")
    return " · ".join(parts)


def compare_table(entries: list[tuple[str, dict[str, Any] | None]]) -> pd.DataFrame:
    """Rows: runs (by label), then the baselines of the first evaluated run. Columns: kNN / linear per target."""
    rows, targets, baselines = [], [], None
    for _, res in entries:
        if res:
            for t in targets_of(res):
                if t not in targets:
                    targets.append(t)
            if baselines is None and res.get("baselines"):
                baselines = res
    for label, res in entries:
        row: dict[str, Any] = {"run": label, "step": res.get("step") if res else None}
        for t in targets:
            for kind, name in (("knn", "kNN"), ("linear", "linear")):
                row[f"{name} {t}"] = (res or {}).get("metrics", {}).get(f"{kind}/{t}")
        rows.append(row)
    if baselines is not None:
        for bname, values in baselines["baselines"].items():
            row = {"run": f"baseline: {BASELINE_NAMES.get(bname, bname)} ({baselines['protocol'].get('dataset')})",
                   "step": None}
            for t in targets:
                for kind, name in (("knn", "kNN"), ("linear", "linear")):
                    row[f"{name} {t}"] = values.get(f"{kind}/{t}")
            rows.append(row)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()
