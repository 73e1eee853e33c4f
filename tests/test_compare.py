"""Compare, W&B-style: the runs table (config columns, final metrics, differences marked, filter), the choice in
the page address, overlaid curves that keep a small loss readable next to a large one, per-run colours and run
names on every panel, the class verdict, and the pure helpers behind them. The runs are written straight into a
real store (metrics, snapshots, evaluations), so no training runs here."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lens_ui.overlay import auto_scale, overlay_figure, rescale, run_colours, safe_label
from lens_ui.runs_table import DIFFERS, class_verdict, differing_columns, filter_runs, runs_frame
from sslcore.config import RunConfig
from sslcore.runs import RunStore

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def add_run(store: RunStore, method: str, name: str, *, loss: float, shape: float, background: float,
            lr: float = 1e-3) -> str:
    cfg = RunConfig().replace(method=method, name=name, lr=lr, epochs=2)
    run_id = store.create_run(cfg, status="running", total_steps=4)
    for step in range(1, 5):
        store.log_metrics(run_id, step, step / 2, {"loss": loss / step, "rankme": 10.0 + step})
    store.add_snapshot(run_id, 4, "xcorr", np.eye(8, dtype=np.float32), 1.0, 0.0)
    metrics = {"knn/class": shape, "linear/class": shape + 0.05, "knn/background": background,
               "linear/background": background}
    store.add_eval(run_id, 4, "backbone", {"targets": ["class", "background"], "epoch": 2}, metrics)
    store.log_metrics(run_id, 4, 2.0, {f"eval/{k}": v for k, v in metrics.items()})
    store.finish(run_id, "finished")
    return run_id


@pytest.fixture
def lesson(tmp_path, monkeypatch):
    """Barlow Twins (loss ≈ 800) learned the shape; SimCLR (loss ≈ 5) matched the background; a third run."""
    store = RunStore(tmp_path / "runs")
    bt = add_run(store, "barlow_twins", "BT on shapes", loss=800, shape=0.70, background=0.40)
    sc = add_run(store, "simclr", "SimCLR on shapes", loss=5, shape=0.35, background=0.90, lr=0.3)
    other = add_run(store, "byol", "a byol run", loss=2, shape=0.5, background=0.5)
    monkeypatch.setenv("SSL_LENS_RUNS", str(store.root))
    monkeypatch.setenv("SSL_LENS_UMAP", "manual")
    return store, [bt, sc, other]


def open_compare(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def address(at: AppTest) -> str:
    """The page address's ``runs`` value (older AppTest versions hand query parameters back as lists)."""
    value = at.query_params["runs"]
    return value[-1] if isinstance(value, list) else value


def specs(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def values(array) -> np.ndarray:
    """A plotly array from the JSON spec: a list, or plotly's typed-array form {"dtype", "bdata"}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=float)


def title(spec: dict) -> str:
    t = spec.get("layout", {}).get("title")
    return t.get("text", "") if isinstance(t, dict) else str(t or "")


def test_table_lists_every_run_with_config_and_metrics_and_marks_differences(lesson):
    store, (bt, sc, other) = lesson
    at = open_compare({"runs": f"{bt},{sc}"})
    table = at.dataframe[0].value
    assert list(table.columns) == ["name", "status", f"{DIFFERS}method", "dataset", f"{DIFFERS}kNN class",
                                   f"{DIFFERS}linear class"]          # the key columns: they fit a projector
    at.radio(key="compare.columns").set_value("all").run()
    table = at.dataframe[0].value
    assert len(table) == 3
    assert {"name", "status"} <= set(table.columns)
    assert f"{DIFFERS}method" in table.columns and f"{DIFFERS}lr" in table.columns   # BT vs SimCLR settings
    assert f"{DIFFERS}kNN class" in table.columns and f"{DIFFERS}kNN background" in table.columns
    assert "dataset" in table.columns and "epochs" in table.columns                   # the same for both
    assert address(at) == f"{bt},{sc}"


def test_selection_from_the_address_draws_overlaid_curves_with_one_colour_per_run(lesson):
    store, (bt, sc, other) = lesson
    at = open_compare({"runs": f"{sc},{bt}"})
    charts = specs(at)
    loss = next(s for s in charts if title(s) == "loss")
    lines = [t for t in loss["data"] if t.get("showlegend") is not False]
    assert [t["name"] for t in lines] == ["SimCLR on shapes", "BT on shapes"]
    # 800 vs 5: each curve is divided by its first value, so both start at 1 instead of SimCLR sitting at 0.
    assert [values(t["y"])[0] for t in lines] == pytest.approx([1.0, 1.0])
    assert "first value" in loss["layout"]["yaxis"]["title"]["text"]
    assert loss["layout"]["xaxis"]["title"]["text"] == "step"
    colours = {t["name"]: t["line"]["color"] for t in lines}
    heatmaps = [s for s in charts if s["data"] and s["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 2
    for spec, name in zip(heatmaps, ["SimCLR on shapes", "BT on shapes"]):
        assert name in title(spec) and colours[name] in title(spec)       # run name, in the run's colour
        assert spec["data"][0].get("showscale", True) is not False        # each its own colour scale


def test_ticking_rows_in_the_table_sets_the_comparison_and_the_address(lesson):
    store, (bt, sc, other) = lesson
    at = open_compare({"runs": f"{bt},{sc}"})
    names = list(at.dataframe[0].value["name"])
    rows = [names.index("BT on shapes"), names.index("a byol run")]   # untick SimCLR, tick the byol run
    at.session_state[at.session_state["compare.table_key"]] = {"selection": {"rows": rows, "columns": []}}
    at.run()
    assert not at.exception
    assert address(at) == f"{bt},{other}"
    heatmaps = [title(s) for s in specs(at) if s["data"] and s["data"][0]["type"] == "heatmap"]
    assert ["BT on shapes" in heatmaps[0], "a byol run" in heatmaps[1]] == [True, True]


def test_verdict_names_who_learned_the_shape_and_who_the_background(lesson):
    store, (bt, sc, other) = lesson
    at = open_compare({"runs": f"{bt},{sc}"})
    (verdict,) = [str(s.value) for s in at.success]
    assert "BT on shapes learned the shape best" in verdict.replace("\\", "")
    assert "SimCLR on shapes kept the most background" in verdict.replace("\\", "")


def test_unknown_ids_in_the_address_are_a_message(lesson):
    store, (bt, sc, other) = lesson
    at = open_compare({"runs": f"{bt},20990101-000000-gone-000000"})
    assert any("do not exist" in str(w.value) for w in at.warning)
    assert address(at) == bt
    assert any("at least two" in str(i.value) for i in at.info)


def test_filter_narrows_the_table_and_keeps_the_choice(lesson):
    store, (bt, sc, other) = lesson
    at = open_compare({"runs": f"{bt},{sc}"})
    at.text_input(key="compare.filter").input("byol").run()
    assert list(at.dataframe[0].value["name"]) == ["a byol run"]
    assert address(at) == f"{bt},{sc}"
    at.text_input(key="compare.filter").input("").run()
    at.toggle(key="compare.only_chosen").set_value(True).run()
    assert sorted(at.dataframe[0].value["name"]) == ["BT on shapes", "SimCLR on shapes"]
    at.radio(key="compare.columns").set_value("differ").run()
    assert "dataset" not in at.dataframe[0].value.columns and f"{DIFFERS}lr" in at.dataframe[0].value.columns
    assert address(at) == f"{bt},{sc}"


def test_csv_download_holds_the_chosen_runs(lesson):
    store, (bt, sc, other) = lesson
    at = open_compare({"runs": f"{bt},{sc}"})
    assert at.get("download_button")


# ---- the helpers ----
def test_differing_columns_ignore_names_and_equal_values():
    frame = runs_frame([{"id": "a", "name": "A", "status": "finished", "method": "simclr", "dataset": "shapes",
                         "lr": 0.1, "kNN class": 0.5},
                        {"id": "b", "name": "B", "status": "finished", "method": "simclr", "dataset": "shapes",
                         "lr": 0.3, "kNN class": 0.5}])
    assert differing_columns(frame, ["a", "b"]) == ["lr"]
    assert differing_columns(frame, ["a"]) == []
    assert list(filter_runs(frame, "B").index) == ["b"]


def test_verdict_waits_for_two_evaluated_runs():
    frame = runs_frame([{"id": "a", "name": "A", "status": "finished", "method": "m", "dataset": "d",
                         "kNN class": 0.5}, {"id": "b", "name": "B", "status": "running", "method": "m",
                                             "dataset": "d"}])
    assert class_verdict(frame, ["a", "b"]) is None


def test_scales_and_colours():
    big, small = np.array([800.0, 400, 200]), np.array([5.0, 4, 3])
    assert auto_scale([big, small]) == "first" and auto_scale([big, big / 2]) == "raw"
    assert rescale(small, "first").tolist() == pytest.approx([1, 0.8, 0.6])
    assert rescale(big, "minmax").tolist() == [1.0, 1 / 3, 0.0]
    assert run_colours(["x", "y"]).items() <= run_colours(["x", "y", "z"]).items()   # adding a run keeps colours
    assert run_colours(["x", "y"])["x"] != run_colours(["x", "y"])["y"]
    assert safe_label('<a href="http://evil">x</a>') == "&lt;a href=&quot;http://evil&quot;&gt;x&lt;/a&gt;"
    fig = overlay_figure("loss", {"r": ('<b>bold</b>', np.arange(3), big)}, {"r": "#000"}, scale="minmax")
    assert fig.data[-1].name == "&lt;b&gt;bold&lt;/b&gt;" and "0–1" in fig.layout.yaxis.title.text


def test_run_row_carries_the_online_probe_and_fine_tuning_accuracies():
    from types import SimpleNamespace

    from lens_ui.runs_table import run_row

    run = SimpleNamespace(id="r1", name="BT", status="finished", method="barlow_twins", dataset="shapes", step=90)
    metrics = {"loss": {"value": [9.0, 5.0]}, "online_probe_accuracy": {"value": [0.3, 0.6]},
               "eval/finetune/class": {"value": [0.81]}, "eval/supervised_scratch/class": {"value": [0.7]}}
    row = run_row(run, {"optim": {"epochs": 6}}, {"metrics": {"knn/class": 0.5}}, metrics)
    assert (row["final loss"], row["online probe"], row["fine-tuned class"], row["scratch class"]) == (5.0, 0.6,
                                                                                                      0.81, 0.7)
    assert row["kNN class"] == 0.5 and row["epochs"] == 6
    frame = runs_frame([row])
    assert list(frame.columns).index("fine-tuned class") < list(frame.columns).index("kNN class")
