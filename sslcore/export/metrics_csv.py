"""Every logged metric row of one or more runs as CSV, in long format (one row per value), so metrics logged at
different steps (loss every few steps, evaluations every epoch) need no padding and the file reads back exactly."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..runs import RunStore

COLUMNS = ["run_id", "run_name", "metric", "step", "epoch", "wall_time", "value"]


def _cell(text: str) -> str:
    """A run name is typed by a user: keep a spreadsheet from reading ``=HYPERLINK(…)`` as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _number(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))


def metrics_csv(store: RunStore, run_ids: list[str], up_to_step: int | None = None) -> str:
    """CSV text of the runs' metric rows (``up_to_step``: only rows logged at or before that step)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(COLUMNS)
    for run_id in run_ids:
        name = _cell(store.get(run_id, refresh=False).name)
        for metric, series in store.metrics(run_id).items():
            for step, epoch, wall, value in zip(series["step"], series["epoch"], series["wall_time"],
                                                series["value"]):
                if up_to_step is None or step <= up_to_step:
                    out.writerow([run_id, name, metric, int(step), _number(epoch), repr(float(wall)),
                                  _number(value)])
    return buf.getvalue()


def write_metrics_csv(store: RunStore, run_id: str, path: Path, up_to_step: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(metrics_csv(store, [run_id], up_to_step), encoding="utf-8")
    return path


def read_metrics_csv(source: Path | io.TextIOBase) -> dict[str, dict[str, dict[str, list]]]:
    """{run_id: {metric: {"step", "epoch", "value", "wall_time"}}} — the shape of ``RunStore.metrics``.
    ``source``: a file path or an open text stream."""
    runs: dict[str, dict[str, dict[str, list]]] = {}
    with (open(source, newline="", encoding="utf-8") if isinstance(source, str | Path) else source) as f:
        for row in csv.DictReader(f):
            series = runs.setdefault(row["run_id"], {}).setdefault(
                row["metric"], {"step": [], "epoch": [], "value": [], "wall_time": []})
            series["step"].append(int(row["step"]))
            series["wall_time"].append(float(row["wall_time"]))
            for key in ("epoch", "value"):
                series[key].append(float(row[key]) if row[key] else float("nan"))
    return runs
