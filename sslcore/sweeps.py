"""Sweeps: the paper's ablations as one click — one field, a list of values, one line per method.

A sweep is data (``assets/lessons.json``, a lesson with a ``"sweep"`` block)::

    {"field": "projector_dim", "values": [64, 128, 256, 512, 1024],
     "methods": [{"label": "Barlow Twins", "fields": {"method": "barlow_twins"}}],
     "fields": {"epochs": 6},                        # shared by every run of the sweep
     "probes": ["knn/class", "linear/class", "knn/colour"], "log_x": true}

``expand`` turns it into one run per (method, value), each with a label such as ``"Barlow Twins · projector_dim =
128"`` (claims in lessons.json name runs by these labels); ``lessons.launch`` starts them through the run store like
any other lesson; ``table`` reads back what each run measured — its final evaluation (kNN / linear on the class and
every factor) and the two baselines stored with it — as long-form rows for the sweep plot, pending runs included.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import FLAT_FIELDS, ConfigError

DEFAULT_PROBES = ("knn/class", "linear/class")
BASELINES = ("raw_pixels", "random_backbone")


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: the method's line it belongs to, the swept value, and its flat config fields."""

    label: str
    method: str
    value: Any
    fields: dict[str, Any]


@dataclass(frozen=True)
class Sweep:
    field: str
    values: tuple
    methods: tuple[tuple[str, dict[str, Any]], ...]    # (label, flat fields) per line of the plot
    fields: dict[str, Any] = field(default_factory=dict)
    probes: tuple[str, ...] = DEFAULT_PROBES
    log_x: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "sweep") -> Sweep:
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected an object with field, values and methods")
        name = d.get("field")
        if name not in FLAT_FIELDS:
            raise ConfigError(f"{where}.field: {name!r} is not a run option; known: {', '.join(sorted(FLAT_FIELDS))}")
        values = d.get("values")
        if not isinstance(values, list) or len(values) < 2:
            raise ConfigError(f"{where}.values: give at least two values of {name}")
        methods = d.get("methods") or [{"label": "run", "fields": {}}]
        lines = []
        for m in methods:
            if not isinstance(m, dict) or not isinstance(m.get("label"), str):
                raise ConfigError(f"{where}.methods: each method needs a label and fields")
            lines.append((m["label"], dict(m.get("fields") or {})))
        if len({label for label, _ in lines}) != len(lines):
            raise ConfigError(f"{where}.methods: method labels must differ")
        probes = tuple(d.get("probes") or DEFAULT_PROBES)
        for p in probes:
            if not isinstance(p, str) or p.split("/")[0] not in ("knn", "linear"):
                raise ConfigError(f"{where}.probes: {p!r} is not a probe; use knn/<target> or linear/<target>")
        return cls(name, tuple(values), tuple(lines), dict(d.get("fields") or {}), probes, bool(d.get("log_x")))

    def expand(self) -> list[SweepPoint]:
        """Every run of the sweep, method by method, values in the given order."""
        return [SweepPoint(point_label(label, self.field, value), label, value,
                           self.fields | fields | {self.field: value})
                for label, fields in self.methods for value in self.values]


def point_label(method_label: str, field_name: str, value: Any) -> str:
    return f"{method_label} · {field_name} = {value:g}" if isinstance(value, float) else \
        f"{method_label} · {field_name} = {value}"


def table(sweep: Sweep, run_ids: dict[str, str], store) -> dict[str, Any]:
    """What the sweep's runs measured so far.

    ``run_ids`` maps point labels to run ids (a lesson's launch record). Returns ``{"rows": [...], "baselines":
    {name: {probe: value}}, "done": n, "total": n}``; each row is ``{"method", "value", "label", "run_id",
    "status", "step", "total_steps", "probe", "result"}`` (``result`` None while the run has no evaluation),
    long-form so the plot draws one line per method and probe.
    """
    from .evaluate import latest_results
    from .runs import RunNotFound

    rows: list[dict[str, Any]] = []
    baselines: dict[str, dict[str, float]] = {}
    done = 0
    for point in sweep.expand():
        run_id = run_ids.get(point.label)
        info, results = None, None
        if run_id:
            try:
                info = store.get(run_id, refresh=False)
                results = latest_results(store, run_id) if info.status == "finished" else None
            except RunNotFound:
                info = None
        done += results is not None
        for name in BASELINES:
            if results and name in results["baselines"] and name not in baselines:
                baselines[name] = {p: results["baselines"][name].get(p) for p in sweep.probes}
        for probe in sweep.probes:
            rows.append({"method": point.method, "value": point.value, "label": point.label, "run_id": run_id,
                         "status": info.status if info else "not launched",
                         "step": info.step if info else 0, "total_steps": info.total_steps if info else 0,
                         "probe": probe, "result": results["metrics"].get(probe) if results else None})
    return {"rows": rows, "baselines": baselines, "done": done, "total": len(sweep.expand())}


def format_table(sweep: Sweep, result: dict[str, Any]) -> str:
    """Plain text: one row per (method, value), one column per probe, then the baselines."""
    cell = {(r["method"], r["value"], r["probe"]): r for r in result["rows"]}
    header = f"{'method':16}{sweep.field:>14}" + "".join(f"{p:>16}" for p in sweep.probes) + "  status"
    lines = [header]
    for label, _ in sweep.methods:
        for value in sweep.values:
            rs = [cell[(label, value, p)] for p in sweep.probes]
            lines.append(f"{label:16}{value!s:>14}" + "".join(
                f"{r['result'] * 100:15.1f}%" if r["result"] is not None else f"{'—':>16}" for r in rs)
                + f"  {rs[0]['status']}")
    for name, values in result["baselines"].items():
        lines.append(f"{name.replace('_', ' '):30}" + "".join(
            f"{values[p] * 100:15.1f}%" if values.get(p) is not None else f"{'—':>16}" for p in sweep.probes))
    lines.append(f"{result['done']}/{result['total']} runs evaluated")
    return "\n".join(lines)
