"""The results dict as the CLI prints it."""
from __future__ import annotations

from typing import Any


def format_results(result: dict[str, Any]) -> str:
    """A plain-text table of a results dict (the CLI's output): every target, the model and both baselines."""
    p = result["protocol"]
    lines = [f"run {result['run_id']} step {result['step']} (epoch {result.get('epoch')}): {p['features']} features "
             f"({p['feature_dim']}-d) of {p['method']}/{p['backbone']}",
             f"protocol: {p['dataset']} {p['image_size']} px, {p['n_train']} train / {p['n_test']} test images, "
             f"seed {p['seed']}; weighted kNN k={p['knn']['k']} T={p['knn']['temperature']} (cosine); linear probe "
             f"L-BFGS {p['linear']['max_iter']} it, wd {p['linear']['weight_decay']}, standardised features"]
    base = result.get("baselines") or {}
    cols = [("model", result["metrics"])] + [(name.replace("_", " "), m) for name, m in base.items()]
    header = f"{'target':18}" + "".join(f"{name:>22}" for name, _ in cols) + f"{'chance':>9}"
    sub = f"{'':18}" + "".join(f"{'kNN':>11}{'linear':>11}" for _ in cols)
    lines += [header, sub]
    for target in p["targets"]:
        row = f"{target:18}"
        for _, m in cols:
            row += "".join(f"{m[f'{kind}/{target}'] * 100:10.1f}%" if f"{kind}/{target}" in m else f"{'—':>11}"
                           for kind in ("knn", "linear"))
        chance = p.get("chance", {}).get(target)
        lines.append(row + (f"{chance * 100:8.1f}%" if chance is not None else ""))
    if result.get("embedding"):
        lines.append(f"embedding: {result['embedding']}")
    return "\n".join(lines)
