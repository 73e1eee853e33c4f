"""The live view (lens_ui/live.py, lens_ui/live_cache.py): watching a run does no work that nothing asked for — a
refresh with no new step reads no metric rows and builds no figure; the store's repair runs in one upkeep thread."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lens_ui import live_cache
from lens_ui.live import MetricCache
from sslcore.config import RunConfig
from sslcore.runs import RunStore

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def tiny(**kw) -> RunConfig:
    base = dict(train_size=64, test_size=200, image_size=16, batch_size=16, projector_dim=32, epochs=2,
                log_every=1, snapshot_every=2, device="cpu", lr=1e-3)
    return RunConfig().replace(**(base | kw))


def log_step(store: RunStore, run_id: str, step: int) -> None:
    store.log_metrics(run_id, step, step / 4, {"loss": 10.0 / step, "invariance": 8.0 / step,
                                               "redundancy": 2.0 / step, "embedding_std": 0.1, "rankme": 9.0,
                                               "pairs_per_s": 300.0, "lr": 1e-3})


@pytest.fixture(autouse=True)
def fresh_rows(monkeypatch):
    """Each page run here reads the run's row (the pages share one read per ROW_FRESH_S; no time in these tests)."""
    monkeypatch.setattr(live_cache, "ROW_FRESH_S", 0.0)


@pytest.fixture
def live_run(tmp_path, monkeypatch):
    """A run the Monitor sees as training (this process holds it), with two logged steps and a snapshot."""
    root = tmp_path / "runs"
    monkeypatch.setenv("SSL_LENS_RUNS", str(root))
    monkeypatch.setenv("SSL_LENS_UMAP", "manual")
    store = RunStore(root)
    run_id = store.create_run(tiny(), status="running", total_steps=8)
    store.claim_foreground(run_id, "cpu")
    for step in (1, 2):
        log_step(store, run_id, step)
    store.add_snapshot(run_id, 2, "matrix", np.eye(32) * 0.5, 0.5, 0.0)
    yield store, run_id
    store.finish(run_id, "finished")


def monitor(run_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["run"] = run_id
    at.run()
    at.switch_page("app_pages/monitor.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def step_shown(at: AppTest) -> str:
    return {m.label: m.value for m in at.metric}["Step"]


def test_a_refresh_without_a_new_step_reads_no_rows_and_builds_no_figure(live_run, monkeypatch):
    for name in live_cache.FRAME_EVERY_S:  # figures follow every new step at once (no time in this test)
        monkeypatch.setitem(live_cache.FRAME_EVERY_S, name, 0.0)
    store, run_id = live_run
    before = sum(live_cache.BUILDS.values())
    at = monitor(run_id)
    assert step_shown(at) == "2"
    built, shared = sum(live_cache.BUILDS.values()), live_cache._shared_metrics(str(store.root), run_id)
    reads = shared.reads
    assert built > before and reads >= 1

    for _ in range(2):  # nothing new was logged: the same figures, no metric query
        at.run()
        assert not at.exception
        assert step_shown(at) == "2"
    assert sum(live_cache.BUILDS.values()) == built
    assert shared.reads == reads

    log_step(store, run_id, 3)  # a new step: read once, and the curves are built again
    at.run()
    assert step_shown(at) == "3"
    assert shared.reads == reads + 1
    assert live_cache.BUILDS["curves"] > 0 and sum(live_cache.BUILDS.values()) > built


def test_a_second_viewer_reuses_the_first_viewers_figures(live_run):
    store, run_id = live_run
    monitor(run_id)
    built = sum(live_cache.BUILDS.values())
    second = monitor(run_id)  # another session, same run and step, default options
    assert step_shown(second) == "2"
    assert sum(live_cache.BUILDS.values()) == built


def chart_titles(at: AppTest) -> list[str]:
    titles = []
    for element in at.get("plotly_chart"):
        title = json.loads(element.proto.spec).get("layout", {}).get("title", "")
        titles.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return titles


def image_captions(at: AppTest) -> list[str]:
    """Every st.image caption: AppTest calls the element "image" (with captions) since streamlit 1.5x and "imgs" (its
    proto alone) at our floor, 1.56."""
    captions = []
    for kind in ("image", "imgs"):
        for element in at.get(kind):
            shown = getattr(element, "captions", None)
            captions += list(shown) if shown is not None else [img.caption for img in element.proto.imgs]
    return captions


def test_while_a_run_trains_the_charts_that_change_least_wait_for_its_end_or_a_click(live_run):
    """Each chart the browser redraws costs a training on the same machine CPU (issue 12): while the run trains,
    the loss curve and the newest heatmap are drawn (the heatmap as an image while it follows the run), the
    diagonal bars and the diagnostics charts are not until asked for (or the run ends); the collapse check stays."""
    store, run_id = live_run
    at = monitor(run_id)
    titles = chart_titles(at)
    images = image_captions(at)
    assert "Loss and its terms" in titles and any("step 2" in c for c in images)   # the curve and the heatmap
    assert not any("step 2" in t for t in titles)
    assert "diagonal" not in titles and "embedding std" not in titles
    assert "Collapse check" in "\n".join(str(e.value) for e in at.success)
    at.toggle(key="monitor.diagnostics_charts").set_value(True).run()
    assert "embedding std" in chart_titles(at) and "RankMe (effective rank)" in chart_titles(at)
    at.toggle(key="monitor.follow").set_value(False).run()             # scrubbing: plotly's heatmap and the bars
    assert "diagonal" in chart_titles(at) and any("step 2" in t for t in chart_titles(at))

    store.finish(run_id, "finished")
    after = monitor(run_id)                                            # an ended run: every chart, no switch
    assert {"Loss and its terms", "diagonal", "embedding std"} <= set(chart_titles(after))
    assert not [t for t in after.toggle if t.key == "monitor.diagnostics_charts"]


def test_a_run_that_went_back_to_a_checkpoint_starts_the_shared_rows_over(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(tiny(), status="running")
    for step in (1, 2, 3):
        log_step(store, run_id, step)
    shared = live_cache.SharedMetrics(run_id)
    assert shared.at(store, 3).series("loss")[0] == [1, 2, 3]
    store.truncate_after(run_id, 1)  # resumed from a checkpoint at step 1
    log_step(store, run_id, 2)
    assert shared.at(store, 2).series("loss") == ([1, 2], [10.0, 5.0])


def test_series_until_stops_at_the_figures_step_and_thins_long_histories():
    cache = MetricCache("r")
    cache.data["loss"] = {"step": list(range(1, 5001)), "value": [float(i) for i in range(1, 5001)],
                          "epoch": [0.0] * 5000, "wall_time": [0.0] * 5000}
    x, y = live_cache.series_until(cache, "loss", 10)
    assert x == list(range(1, 11)) and y == [float(i) for i in range(1, 11)]
    x, y = live_cache.series_until(cache, "loss", 4000, max_points=1000)
    assert len(x) <= 1000 + 1 and x[0] == 1 and x[-1] == 4000 and x == sorted(x)
    assert all(y[i] == float(x[i]) for i in range(len(x)))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_upkeep_thread_marks_a_dead_trainer_failed_and_stops(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(tiny(), status="running")
    store.update(run_id, pid=_dead_pid(), heartbeat=time.time() - 600, started=time.time() - 600)
    assert store.get(run_id).status == "running"  # a read is only a read
    upkeep = live_cache.Upkeep(str(store.root), period=0.05)
    try:
        deadline = time.time() + 60
        while store.get(run_id).status == "running" and time.time() < deadline:
            time.sleep(0.05)
        assert store.get(run_id).status == "failed"
        assert "ended unexpectedly" in store.get(run_id).error
        assert upkeep.alive and upkeep.error is None
    finally:
        upkeep.stop()
    assert not upkeep.alive


def test_reading_the_store_never_starts_a_queued_run(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("sslcore.runs.spawn_worker", lambda runs_dir, run_id: started.append(run_id) or 0)
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(tiny())
    for _ in range(3):
        store.list_runs()
        store.get(run_id)
    assert started == [] and store.get(run_id).status == "queued"
    store.refresh()  # what the upkeep thread and the CLI do
    assert started == [run_id] and store.get(run_id).status == "running"


def test_a_queued_run_is_watched_slowly_and_a_moving_one_at_the_chosen_pace(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("SSL_LENS_RUNS", str(root))
    monkeypatch.setenv("SSL_LENS_UMAP", "manual")
    monkeypatch.setattr("sslcore.runs.spawn_worker", lambda runs_dir, run_id: 0)
    store = RunStore(root)
    holder = store.create_run(tiny(), status="running")   # holds the only slot, so the next run waits
    store.claim_foreground(holder, "cpu")
    run_id = store.create_run(tiny())
    at = monitor(run_id)
    assert at.session_state["monitor.stalled"] is True
    assert "Waiting for a free device slot" in "\n".join(str(i.value) for i in at.info)
    store.finish(holder, "finished")
    store.claim_foreground(run_id, "cpu")
    log_step(store, run_id, 1)
    at.run()
    assert not at.exception
    assert at.session_state["monitor.stalled"] is False and step_shown(at) == "1"
    store.finish(run_id, "finished")


def test_viewers_of_a_fast_run_share_one_figure_step_per_frame(tmp_path):
    """Viewers refresh at different moments while the run logs many steps a second: within one frame they all get
    the same figure step (one figure for all), and the next frame moves to the newest step."""
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(tiny(), status="running")
    shared = live_cache.SharedMetrics(run_id)
    log_step(store, run_id, 1)
    assert shared.frame(store, 1, "charts", every=3600) == 1
    for step in (2, 3, 4):
        log_step(store, run_id, step)
        assert shared.frame(store, step, "charts", every=3600) == 1   # same frame: the figure drawn at step 1
        assert shared.at(store, step).last_step == step                # while the headline reads every step
    assert shared.frame(store, 4, "charts", every=0) == 4
    assert shared.frame(store, 4, "diagnostics", every=3600) == 4      # each kind of figure has its own frame


def test_viewers_share_one_read_of_the_runs_row_and_snapshot_list(tmp_path):
    """Every fragment rerun runs in a new thread with a new SQLite connection: the run's row is read once per
    ``fresh`` seconds for everyone, its snapshot list once per step of the run."""
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(tiny(), status="running")
    shared = live_cache.SharedMetrics(run_id)
    log_step(store, run_id, 1)
    assert shared.info(store, fresh=3600).step == 1
    log_step(store, run_id, 2)
    assert shared.info(store, fresh=3600).step == 1     # within the interval: the row another viewer read
    info = shared.info(store, fresh=0)
    assert info.step == 2
    assert shared.snapshot_steps(store, "matrix", info) == []
    store.add_snapshot(run_id, 2, "matrix", np.eye(4), 1.0, 0.0)
    assert shared.snapshot_steps(store, "matrix", info) == []     # same step: not read again
    store.finish(run_id, "finished")                               # the end (or the next step) reads it
    assert shared.snapshot_steps(store, "matrix", shared.info(store, fresh=0)) == [2]


def test_the_online_probe_is_not_a_loss_term():
    from lens_ui.live import accuracies, loss_terms

    names = {"loss", "invariance", "redundancy", "lr", "rankme", "online_probe_loss", "online_probe_accuracy"}
    assert loss_terms(names) == ["invariance", "redundancy"]
    assert accuracies(names) == ["online_probe_accuracy"]


def test_the_live_heatmap_image_uses_the_fixed_scale_row_0_at_the_top():
    import io

    from PIL import Image

    class Store:
        def load_snapshot(self, run_id, step, kind):
            return np.array([[1.0, -1.0], [0.0, 0.5]], dtype=np.float16)

    png = live_cache.heatmap_png.__wrapped__(Store(), "root", "run", 2, "matrix")
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert rgb.shape[0] == rgb.shape[1] == live_cache.HEATMAP_PX                 # 2 × 2 values, 192 px each
    top_left, top_right, bottom_left = rgb[0, 0], rgb[0, -1], rgb[-1, 0]
    assert top_left[0] > top_left[2] and top_right[2] > top_right[0]             # +1 red, −1 blue
    assert bottom_left.min() > 230                                               # 0 white
    softmax = live_cache.heatmap_png.__wrapped__(Store(), "root", "run", 2, "matrix", 0.5)
    assert softmax != png                                                        # rows as the loss sees them
