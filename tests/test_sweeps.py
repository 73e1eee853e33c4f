"""Sweeps: a spec expands into one run per (method, value), and the table reads back what each run measured."""
from __future__ import annotations

import pytest

from sslcore.config import ConfigError, RunConfig
from sslcore.lessons import load_lessons
from sslcore.runs import RunStore
from sslcore.sweeps import Sweep, format_table, point_label, table

SPEC = {"field": "batch_size", "values": [32, 64],
        "methods": [{"label": "BT", "fields": {"method": "barlow_twins"}},
                    {"label": "SimCLR", "fields": {"method": "simclr"}}],
        "fields": {"epochs": 2}, "probes": ["knn/class", "knn/colour"], "log_x": True}


def test_expand_gives_one_run_per_method_and_value_with_the_swept_field_set():
    points = Sweep.from_dict(SPEC).expand()
    assert [(p.method, p.value) for p in points] == [("BT", 32), ("BT", 64), ("SimCLR", 32), ("SimCLR", 64)]
    assert points[2].label == "SimCLR · batch_size = 32"
    assert points[2].fields == {"epochs": 2, "method": "simclr", "batch_size": 32}
    for p in points:  # every point is a valid run configuration
        RunConfig().replace(**p.fields).validate()


def test_float_values_are_labelled_compactly():
    assert point_label("BT", "strength", 1.0) == "BT · strength = 1"
    assert point_label("BT", "lambd", 0.0051) == "BT · lambd = 0.0051"


@pytest.mark.parametrize("bad, message", [
    ({"field": "colour", "values": [1, 2]}, "not a run option"),
    ({"field": "lr", "values": [0.1]}, "at least two values"),
    ({"field": "lr", "values": [0.1, 0.2], "methods": [{"label": "a"}, {"label": "a"}]}, "must differ"),
    ({"field": "lr", "values": [0.1, 0.2], "probes": ["accuracy"]}, "not a probe"),
])
def test_bad_sweep_specs_fail_with_a_message_naming_the_problem(bad, message):
    with pytest.raises(ConfigError, match=message):
        Sweep.from_dict(bad)


def test_the_shipped_sweeps_cover_the_papers_ablations():
    sweeps = {lesson.sweep.field: lesson.sweep for lesson in load_lessons() if lesson.sweep}
    assert {"projector_dim", "batch_size", "lambd", "strength"} <= set(sweeps)
    assert [label for label, _ in sweeps["batch_size"].methods] == ["Barlow Twins", "SimCLR"]
    assert {"knn/class", "knn/colour"} <= set(sweeps["strength"].probes)


def _evaluated_run(store: RunStore, cfg: RunConfig, knn: float, colour: float) -> str:
    """A finished run with an evaluation stored the way evaluate_model stores one."""
    run_id = store.create_run(cfg)
    protocol = {"features": "backbone", "chance": {"class": 0.2}}
    store.add_eval(run_id, 10, "backbone", protocol, {"knn/class": knn, "knn/colour": colour})
    store.add_eval(run_id, 10, "baseline/raw_pixels", protocol, {"knn/class": 0.3, "knn/colour": 0.6})
    store.finish(run_id, "finished")
    return run_id


def test_table_reads_each_runs_evaluation_and_the_baselines_and_marks_pending_runs(tmp_path):
    store = RunStore(tmp_path / "runs")
    sweep = Sweep.from_dict(SPEC)
    points = sweep.expand()
    ids = {points[0].label: _evaluated_run(store, RunConfig().replace(**points[0].fields), 0.7, 0.4),
           points[1].label: store.create_run(RunConfig().replace(**points[1].fields))}   # still queued
    result = table(sweep, ids, store)
    assert result["done"] == 1 and result["total"] == 4
    rows = {(r["method"], r["value"], r["probe"]): r for r in result["rows"]}
    assert rows[("BT", 32, "knn/class")]["result"] == 0.7
    assert rows[("BT", 32, "knn/colour")]["result"] == 0.4
    assert rows[("BT", 64, "knn/class")]["result"] is None and rows[("BT", 64, "knn/class")]["status"] == "queued"
    assert rows[("SimCLR", 32, "knn/class")]["status"] == "not launched"
    assert result["baselines"] == {"raw_pixels": {"knn/class": 0.3, "knn/colour": 0.6}}
    text = format_table(sweep, result)
    assert "70.0%" in text and "raw pixels" in text and "1/4 runs evaluated" in text
