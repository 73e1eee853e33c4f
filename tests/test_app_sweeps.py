"""AppTest for the Sweeps page and the Train page's lessons: launch a sweep, see its plot fill in as runs finish,
and each lesson's last measured result beside its text."""
from __future__ import annotations

import json

from sslcore import lessons
from sslcore.runs import RunStore
from test_app import no_exception, open_page, texts, use_runs  # noqa: F401 — use_runs is a fixture


def _no_workers(monkeypatch) -> list[str]:
    """Queue runs without starting trainer processes: the pages, not training, are under test here."""
    started: list[str] = []
    monkeypatch.setattr("sslcore.runs.spawn_worker", lambda runs_dir, run_id: started.append(run_id) or 0)
    return started


def progress_texts(at) -> str:
    return "\n".join(p.proto.text for p in at.get("progress"))


def _finish_with_eval(store: RunStore, run_id: str, knn: float) -> None:
    protocol = {"features": "backbone", "chance": {"class": 0.2}}
    store.add_eval(run_id, 15, "backbone", protocol, {"knn/class": knn, "linear/class": knn, "knn/colour": 0.5})
    store.add_eval(run_id, 15, "baseline/raw_pixels", protocol, {"knn/class": 0.37, "linear/class": 0.4,
                                                                 "knn/colour": 0.58})
    store.finish(run_id, "finished")


def test_sweeps_page_renders_every_sweep_before_any_launch(tmp_path, use_runs):
    use_runs(tmp_path / "runs")
    at = open_page("sweeps")
    no_exception(at)
    for sweep_id in at.selectbox(key="sweeps.pick").options:
        at.selectbox(key="sweeps.pick").set_value(sweep_id).run()
        no_exception(at)
        assert "has not been launched" in texts(at)


def test_launching_a_sweep_queues_its_runs_and_the_plot_fills_in(tmp_path, use_runs, monkeypatch):
    root = use_runs(tmp_path / "runs")
    _no_workers(monkeypatch)
    at = open_page("sweeps", {"sweep": "sweep_projector_dim"})
    assert at.selectbox(key="sweeps.pick").value == "sweep_projector_dim"   # from the link
    at.button(key="sweeps.launch").click().run()
    no_exception(at)
    store = RunStore(root)
    record = lessons.load_record(store, "sweep_projector_dim", 0)
    assert len(record["runs"]) == 5 and len(store.list_runs()) == 5
    assert "0 of 5 runs evaluated" in progress_texts(at)
    for i, value in enumerate((64, 128)):
        _finish_with_eval(store, record["runs"][f"Barlow Twins · projector_dim = {value}"], 0.5 + 0.1 * i)
    at.run()
    no_exception(at)
    assert "2 of 5 runs evaluated" in progress_texts(at)
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    knn = next(f for f in figures if f["layout"]["title"]["text"] == "kNN on the shape")
    [line] = knn["data"]
    assert line["name"] == "Barlow Twins" and line["x"] == [64, 128] and line["y"] == [50.0, 60.0]
    assert [s["y0"] for s in knn["layout"]["shapes"]] == [37.0]          # the raw-pixel baseline
    assert "1 waiting for runs" in texts(at)                             # the claim needs 1024


def test_train_page_shows_a_lessons_last_measured_result(tmp_path, use_runs, monkeypatch):
    from sslcore import lesson_results

    monkeypatch.setattr(lesson_results, "SHIPPED", tmp_path / "nothing_shipped.json")
    root = use_runs(tmp_path / "runs")
    _no_workers(monkeypatch)
    at = open_page("train")
    at.selectbox(key="train.lesson").set_value("baselines").run()
    assert "Not measured yet, here or when the lesson was written" in texts(at)
    at.button(key="train.launch_lesson").click().run()
    no_exception(at)
    store = RunStore(root)
    record = lessons.load_record(store, "baselines", 0)
    for label, knn in (("random backbone", 0.45), ("supervised", 0.9), ("Barlow Twins (the default run)", 0.7)):
        _finish_with_eval(store, record["runs"][label], knn)
    at.run()
    no_exception(at)
    assert "3/3 claims held" in texts(at)
    at.selectbox(key="train.lesson").set_value("sweep_lambda").run()
    no_exception(at)
    assert "🚀 Launch this sweep (5 runs)" in [b.label for b in at.button]
