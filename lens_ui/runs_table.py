"""The Compare page's runs table, W&B-style (pandas, no Streamlit): one row per run with its status, key config
values and final metrics; which columns differ across the chosen runs; and the one-line verdict for a class.

``runs_frame(rows)`` takes plain dicts (``run_row`` builds one from what the store holds), so the table can be
tested on made-up runs.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

# (column, path in config.json's dict): the settings that tell two runs apart in a lesson or a sweep.
CONFIG_COLUMNS = [
    ("backbone", ("method", "backbone")), ("augment", ("augment", "preset")), ("strength", ("augment", "strength")),
    ("epochs", ("optim", "epochs")), ("batch", ("optim", "batch_size")), ("optimizer", ("optim", "optimizer")),
    ("lr", ("optim", "lr")), ("projector", ("method", "projector_dim")), ("λ", ("method", "lambd")),
    ("temperature", ("method", "temperature")), ("image px", ("data", "image_size")),
    ("train images", ("data", "train_size")), ("seed", ("seed",)),
]
IDENTITY_COLUMNS = ["name", "status", "method", "dataset"]
# What fits a projector (1280×720: the table gets ≈ 820 px): who the run is and how well it learned the class.
KEY_COLUMNS = IDENTITY_COLUMNS + ["kNN class", "linear class"]
# The table's column sets: the key ones (default), the ones that differ across the chosen runs, every one.
COLUMN_VIEWS = {"key": "key", "differ": "that differ", "all": "all"}
# (metric name, column): the last logged value — the loss, the online probe, and `eval --finetune`'s accuracies.
LAST_VALUES = (("loss", "final loss"), ("online_probe_accuracy", "online probe"),
               ("eval/finetune/class", "fine-tuned class"), ("eval/supervised_scratch/class", "scratch class"))
DIFFERS = "≠ "   # prefix of a column whose values differ across the chosen runs


def _get(tree: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def run_row(run, config: dict | None, results: dict | None, metrics: dict[str, dict[str, list]]) -> dict[str, Any]:
    """One table row: ``run`` (RunInfo-like), its config as a dict, its latest stored evaluation, its metric rows."""
    row: dict[str, Any] = {"id": run.id, "name": run.name, "status": run.status, "method": run.method,
                           "dataset": run.dataset, "step": run.step}
    for column, path in CONFIG_COLUMNS:
        row[column] = _get(config or {}, path)
    for name, column in LAST_VALUES:
        values = [v for v in (metrics.get(name) or {}).get("value", []) if v == v]
        row[column] = values[-1] if values else None
    for key, value in ((results or {}).get("metrics") or {}).items():
        kind, _, target = key.partition("/")
        if kind in ("knn", "linear") and target:
            row[f"{'kNN' if kind == 'knn' else 'linear'} {target}"] = value
    return row


def runs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows by run id; identity, config, then metric columns (kNN/linear on the class first, then each factor)."""
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows).set_index("id")
    probes = [c for c in frame.columns if c.startswith(("kNN ", "linear "))]
    probes.sort(key=lambda c: (c.split(" ", 1)[1] != "class", c.split(" ", 1)[1], not c.startswith("kNN")))
    order = IDENTITY_COLUMNS + ["step"] + [c for c, _ in CONFIG_COLUMNS] + [column for _, column in LAST_VALUES] + probes
    frame = frame[[c for c in order if c in frame.columns]]
    return frame.dropna(axis=1, how="all")


def differing_columns(frame: pd.DataFrame, chosen: list[str]) -> list[str]:
    """Config and metric columns whose values are not all equal across the chosen runs (the name never counts)."""
    rows = frame.loc[[i for i in chosen if i in frame.index]]
    if len(rows) < 2:
        return []
    out = []
    for column in rows.columns:
        if column in ("name", "step"):
            continue
        values = {_key(v) for v in rows[column]}
        if len(values) > 1:
            out.append(column)
    return out


def _key(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(value, 4) if isinstance(value, float) else value


def mark_differences(frame: pd.DataFrame, differing: list[str]) -> pd.DataFrame:
    """The same table with ``≠ `` in front of each differing column's name (visible in the header, searchable)."""
    return frame.rename(columns={c: DIFFERS + c for c in differing})


def filter_runs(frame: pd.DataFrame, text: str = "", statuses: list[str] | None = None,
                methods: list[str] | None = None) -> pd.DataFrame:
    """Rows whose name, id, method or dataset contains ``text`` (any case), with one of the statuses / methods."""
    keep = pd.Series(True, index=frame.index)
    if text.strip():
        needle = text.strip().lower()
        hay = frame.index.to_series().str.lower()
        for column in ("name", "method", "dataset"):
            if column in frame:
                hay = hay + " " + frame[column].astype(str).str.lower()
        keep &= hay.str.contains(needle, regex=False)
    if statuses:
        keep &= frame["status"].isin(statuses)
    if methods:
        keep &= frame["method"].isin(methods)
    return frame[keep]


def class_verdict(frame: pd.DataFrame, chosen: list[str], *, shape_target: str = "class",
                  nuisance: tuple[str, ...] = ("background", "background_colour", "colour")) -> str | None:
    """One line for the class: which run learned the shape (highest kNN on the class) and which kept the most of a
    nuisance factor (highest kNN on the background, else the next factor). None until two runs are evaluated."""
    rows = frame.loc[[i for i in chosen if i in frame.index]]
    shape = f"kNN {shape_target}"
    if shape not in rows or rows[shape].notna().sum() < 2:
        return None
    rows = rows[rows[shape].notna()]
    best = rows[shape].idxmax()
    others = ", ".join(f"{rows.at[i, 'name']} {rows.at[i, shape]:.0%}" for i in rows.index if i != best)
    line = f"{rows.at[best, 'name']} learned the shape best: kNN on the {shape_target} {rows.at[best, shape]:.0%} " \
           f"(vs {others})."
    factor = next((f for f in nuisance if f"kNN {f}" in rows and rows[f"kNN {f}"].notna().all()), None)
    if factor is None:
        return line
    column = f"kNN {factor}"
    most = rows[column].idxmax()
    others = ", ".join(f"{rows.at[i, 'name']} {rows.at[i, column]:.0%}" for i in rows.index if i != most)
    who = "It also" if most == best else rows.at[most, "name"]
    return (f"{line} {who} kept the most {factor.replace('_', ' ')}: kNN on the {factor.replace('_', ' ')} "
            f"{rows.at[most, column]:.0%} (vs {others}) — for a nuisance factor, lower is better.")


def view_columns(columns: list[str], view: str, differing: list[str]) -> list[str]:
    """The columns a ``COLUMN_VIEWS`` choice shows, in the table's order (the run's name and status always)."""
    if view == "all":
        return list(columns)
    wanted = set(KEY_COLUMNS) if view == "key" else {"name", "status", *differing}
    return [c for c in columns if c in wanted]
