"""AppTest for every page of the Streamlit app: on an empty runs folder and on one with finished runs made here;
widgets change what is shown; bad input shows a message, never an exception."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sslcore.config import RunConfig
from sslcore.runs import RunStore
from sslcore.worker import execute_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["home", "augmentations", "train", "monitor", "embeddings", "compare"]
TIMEOUT = 120


def tiny(**kw) -> RunConfig:
    """Well under a second per epoch: 64 generated 16 px images, batch 16, a small projector."""
    base = dict(train_size=64, test_size=200, image_size=16, batch_size=16, projector_dim=32, epochs=2,
                log_every=1, snapshot_every=2, device="cpu", lr=1e-3)
    return RunConfig().replace(**(base | kw))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, list[str]]:
    """A runs folder with two finished, evaluated tiny runs (Barlow Twins, SimCLR)."""
    root = tmp_path_factory.mktemp("runs")
    store = RunStore(root)
    ids = []
    for method in ("barlow_twins", "simclr"):
        run_id = store.create_run(tiny(method=method, name=f"tiny {method}"), status="running")
        store.claim_foreground(run_id, "cpu")
        run = execute_run(store, run_id)
        assert run.status == "finished", run.error
        ids.append(run_id)
    return root, ids


@pytest.fixture
def use_runs(monkeypatch):
    def use(path: Path) -> Path:
        monkeypatch.setenv("SSL_LENS_RUNS", str(path))
        return path
    monkeypatch.setenv("SSL_LENS_UMAP", "manual")  # no minute-long numba compile inside the tests
    return use


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page != "home":
        at.switch_page(f"app_pages/{page}.py").run()
    return at


def texts(at: AppTest) -> str:
    """Everything written on the page, for substring assertions."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def titles(at: AppTest) -> list[str]:
    out = []
    for spec in plotly_specs(at):
        t = spec.get("layout", {}).get("title")
        out.append(t.get("text", "") if isinstance(t, dict) else str(t or ""))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Every page, empty and with runs
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_runs_folder(page, tmp_path, use_runs):
    use_runs(tmp_path / "empty")
    at = open_page(page)
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    side = "\n".join(str(e.value) for e in at.sidebar.code) + "\n".join(str(e.value) for e in at.sidebar.caption)
    assert str((tmp_path / "empty").resolve()) in side and "Device" in side
    if page in ("monitor", "embeddings", "compare", "home"):
        assert "No runs yet" in texts(at) or "at least two runs" in texts(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_finished_runs(page, finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page(page)
    no_exception(at)
    assert not at.error, [e.value for e in at.error]


def test_a_broken_runs_folder_is_a_message_not_a_traceback(tmp_path, use_runs):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    use_runs(not_a_folder)
    for page in ("home", "monitor", "train"):
        at = open_page(page)
        no_exception(at)
        assert any("not a folder" in str(e.value) for e in at.error), page


# ---------------------------------------------------------------------------------------------------------------
# Augmentations
# ---------------------------------------------------------------------------------------------------------------
def difference(at: AppTest) -> float:
    return float(next(m.value for m in at.metric if m.label.startswith("How different")))


def test_augmentations_widgets_change_the_views(tmp_path, use_runs):
    use_runs(tmp_path / "runs")
    at = open_page("augmentations")
    no_exception(at)
    labels = [s.label for s in at.slider]
    for field in ("blur_p", "solarize_p", "crop_scale_min", "brightness"):
        assert labels.count(field) == 2, field  # one per view
    assert len(at.get("image")) >= 3  # originals, view 1, view 2
    assert at.selectbox(key="aug.preset").value == "shapes"  # opens on the default run's recipe
    default = difference(at)
    at.slider(key="aug.strength").set_value(0.0).run()
    weak = difference(at)
    at.slider(key="aug.strength").set_value(2.5).run()
    strong = difference(at)
    assert weak < default < strong
    at.slider(key="aug.shapes.view2.solarize_p").set_value(1.0).run()
    no_exception(at)
    assert "view2.solarize_p=1" in texts(at)
    before = difference(at)
    at.button(key="aug.redraw").click().run()
    assert difference(at) != before
    at.selectbox(key="aug.preset").set_value("none").run()
    assert "no augmentation" in texts(at)
    assert "asymmetric" in texts(at)  # the explanation of Barlow Twins' asymmetric blur / solarize


def test_augmentations_hand_their_settings_to_train(tmp_path, use_runs):
    use_runs(tmp_path / "runs")
    at = open_page("augmentations")
    at.selectbox(key="aug.preset").set_value("simclr").run()
    at.slider(key="aug.simclr.view1.gray_p").set_value(0.9).run()
    at.button(key="aug.to_train").click().run()  # st.switch_page to Train
    no_exception(at)
    assert [t.value for t in at.title] == ["🏋️ Train"]
    assert at.selectbox(key="train.augment").value == "simclr"
    assert "view1.gray_p=0.9" in texts(at)


# ---------------------------------------------------------------------------------------------------------------
# Train
# ---------------------------------------------------------------------------------------------------------------
def test_train_shows_validation_messages_next_to_the_field(tmp_path, use_runs):
    use_runs(tmp_path / "runs")
    at = open_page("train")
    launch = next(b for b in at.button if b.key == "train.launch")
    assert not launch.disabled
    at.number_input(key="train.epochs").set_value(0).run()
    no_exception(at)
    assert any(str(e.value).startswith("Epochs:") for e in at.error)  # the form's label, not the field name
    assert next(b for b in at.button if b.key == "train.launch").disabled
    at.number_input(key="train.epochs").set_value(3).run()
    assert not at.error
    at.selectbox(key="train.backbone").set_value("resnet18").run()
    at.selectbox(key="train.image_size").set_value(16).run()
    assert any(str(e.value).startswith("Image size (px):") and "resnet18" in str(e.value) for e in at.error)
    at.selectbox(key="train.backbone").set_value("convnet").run()
    at.number_input(key="train.batch_size").set_value(8000).run()
    assert any(str(e.value).startswith("Batch size:") for e in at.error)


def test_train_form_starts_from_the_engine_defaults(tmp_path, use_runs):
    """The run the README measures (RunConfig's defaults) is the one a user launches without touching the form."""
    use_runs(tmp_path / "runs")
    at = open_page("train")
    default = RunConfig()
    assert at.number_input(key="train.epochs").value == default.optim.epochs
    assert at.number_input(key="train.batch_size").value == default.optim.batch_size
    assert at.number_input(key="train.projector_dim").value == default.method.projector_dim
    assert at.selectbox(key="train.augment").value == default.augment.preset == "shapes"
    assert "suits `shapes`" not in texts(at)
    at.selectbox(key="train.dataset").set_value("digits").run()
    assert "suits `shapes`" in texts(at)  # the hint to start from barlow_twins for other data


def test_train_method_specific_fields_and_lessons(tmp_path, use_runs):
    use_runs(tmp_path / "runs")
    at = open_page("train")
    labels = lambda: [n.label for n in at.number_input]  # noqa: E731
    assert "λ (redundancy weight)" in labels() and "Temperature" not in labels()
    at.selectbox(key="train.method").set_value("simclr").run()
    assert "Temperature" in labels() and "λ (redundancy weight)" not in labels()
    at.selectbox(key="train.lesson").set_value("simsiam_stopgrad").run()
    assert "stop-gradient" in texts(at)
    at.button(key="train.load_lesson").click().run()
    no_exception(at)
    assert at.selectbox(key="train.method").value == "simsiam"
    assert at.checkbox(key="train.stop_gradient").value is True


def test_train_launches_a_run_and_the_table_cancels_and_resumes(tmp_path, use_runs):
    root = use_runs(tmp_path / "runs")
    at = open_page("train")
    for key, value in {"train.train_size": 64, "train.batch_size": 16, "train.epochs": 200,
                       "train.projector_dim": 32}.items():
        at.number_input(key=key).set_value(value).run()
    at.selectbox(key="train.image_size").set_value(16).run()
    at.selectbox(key="train.device").set_value("cpu").run()
    at.button(key="train.launch").click().run()
    no_exception(at)
    assert "Launched 1 run" in texts(at)
    store = RunStore(root)
    [run] = store.list_runs()
    assert run.status in ("queued", "running") and run.method == "barlow_twins"
    assert store.config(run.id).optim.epochs == 200 and store.config(run.id).data.image_size == 16
    at.run()
    assert f"cancel.{run.id}" in [b.key for b in at.button]
    at.button(key=f"cancel.{run.id}").click().run()
    no_exception(at)
    assert store.wait(run.id, timeout=180).status == "cancelled"
    at.run()
    assert f"resume.{run.id}" in [b.key for b in at.button]
    at.button(key=f"resume.{run.id}").click().run()
    no_exception(at)
    assert store.get(run.id).status in ("queued", "running")
    store.cancel(run.id)
    assert store.wait(run.id, timeout=180).status == "cancelled"


def test_train_lesson_launches_its_runs(tmp_path, use_runs, monkeypatch):
    root = use_runs(tmp_path / "runs")
    launched = []
    monkeypatch.setattr("sslcore.runs.spawn_worker", lambda runs_dir, run_id: launched.append(run_id) or 0)
    at = open_page("train")
    at.selectbox(key="train.lesson").set_value("bt_vs_simclr").run()
    at.button(key="train.launch_lesson").click().run()
    no_exception(at)
    runs = RunStore(root).list_runs(refresh=False)
    assert sorted(r.method for r in runs) == ["barlow_twins", "simclr"]
    assert "Launched 2 run(s)" in texts(at)
    assert any(link.proto.page.endswith("compare") or "compare" in str(link.proto)
               for link in at.get("page_link")), "a link to Compare the lesson's runs"


# ---------------------------------------------------------------------------------------------------------------
# Monitor
# ---------------------------------------------------------------------------------------------------------------
def test_monitor_shows_a_finished_run_and_scrubs_snapshots(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("monitor", {"run": ids[0]})
    no_exception(at)
    assert at.selectbox(key="monitor.run").value == ids[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Step"] == "8"  # 64 images / batch 16 × 2 epochs
    assert metrics["diagonal mean"] not in ("", "—")
    assert "Loss and its terms" in titles(at)
    loss_chart = next(s for s in plotly_specs(at) if s["layout"].get("title", {}).get("text") == "Loss and its terms")
    assert {t["name"] for t in loss_chart["data"]} >= {"loss", "invariance", "redundancy"}
    slider = at.select_slider(key="monitor.step")
    assert slider.options == ["1", "2", "4", "6", "8"] and slider.value == 8
    assert any("step 8" in t for t in titles(at))
    slider.set_value(2).run()
    no_exception(at)
    assert any("step 2" in t for t in titles(at)) and not any("step 8" in t for t in titles(at))
    # Barlow Twins' C is the embeddings' cross-correlation: one picture, and the page says why
    assert at.radio(key=f"monitor.kind.{ids[0]}").options == ["cross-correlation C"]
    assert "*is* the cross-correlation" in texts(at)
    at.slider(key="monitor.smoothing").set_value(0.0).run()
    no_exception(at)
    assert "healthy" in texts(at) or "collapsed" in texts(at) or "dimensional" in texts(at)


@pytest.mark.parametrize("bad", ["20990101-000000-nope-000000", "../../etc/passwd"])
def test_monitor_with_an_unknown_run_in_the_url_shows_a_message(bad, finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("monitor", {"run": bad})
    no_exception(at)
    assert any("does not exist" in str(w.value) for w in at.warning)
    assert at.selectbox(key="monitor.run").value in ids


def test_monitor_follows_a_live_run(tmp_path, use_runs, monkeypatch):
    """The live fragment reads only new rows: metrics logged between two reruns appear in the next one."""
    # Viewers share a run's row for ROW_FRESH_S (0.2 s); two reruns of a test can come sooner than that, so the
    # test reads the row every time instead of depending on how fast the machine is.
    monkeypatch.setattr("lens_ui.live_cache.ROW_FRESH_S", 0.0)
    root = use_runs(tmp_path / "runs")
    store = RunStore(root)
    run_id = store.create_run(tiny(), status="running")
    store.claim_foreground(run_id, "cpu")
    store.update(run_id, total_steps=8)
    store.log_metrics(run_id, 1, 0.1, {"loss": 5.0, "invariance": 4.0, "redundancy": 1.0})
    at = open_page("monitor")
    no_exception(at)
    assert {m.label: m.value for m in at.metric}["Step"] == "1"
    store.log_metrics(run_id, 2, 0.2, {"loss": 3.0, "invariance": 2.5, "redundancy": 0.5})
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Step"] == "2" and metrics["Loss"] == "3"
    assert "waiting for the first snapshot" in json.dumps(plotly_specs(at))
    store.finish(run_id, "finished")


# ---------------------------------------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------------------------------------
def test_embeddings_scatter_neighbours_and_probe_table(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("embeddings", {"run": ids[0]})
    no_exception(at)
    assert at.selectbox(key="emb.step").value == 8
    [scatter] = [s for s in plotly_specs(at) if s["data"] and s["data"][0]["type"] == "scattergl"]
    assert "PCA of" in texts(at) and "coloured by class" in texts(at)  # UMAP is left to the background job
    assert any(b.key == "emb.umap" for b in at.button)
    table = at.dataframe[0].value
    assert "class" in table.index and "this run" in table.columns and "raw pixels" in table.columns
    assert "weighted kNN k=20" in texts(at)
    before = texts(at)
    at.number_input(key="emb.query").set_value(5).run()
    no_exception(at)
    assert "query #5" in [c for img in at.get("image") for c in img.captions]
    assert texts(at) != before
    at.selectbox(key="emb.colour").set_value("colour").run()
    assert "coloured by colour" in texts(at)


def test_embeddings_evaluates_an_unevaluated_step_in_the_background(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("embeddings", {"run": ids[1]})
    at.selectbox(key="emb.step").set_value(4).run()  # the epoch-1 checkpoint: not evaluated
    no_exception(at)
    assert "has not been evaluated yet" in texts(at)
    at.button(key="emb.evaluate").click().run()
    no_exception(at)
    from sslcore.evaluate import embedding_steps

    deadline = time.time() + 240
    while 4 not in embedding_steps(RunStore(root), ids[1]) and time.time() < deadline:
        time.sleep(1)
    assert 4 in embedding_steps(RunStore(root), ids[1])
    time.sleep(1)
    at.run()
    no_exception(at)
    assert at.dataframe, "the probe table of step 4"


def test_embeddings_of_a_run_without_checkpoint_says_so(tmp_path, use_runs):
    root = use_runs(tmp_path / "runs")
    RunStore(root).create_run(tiny(), status="queued")
    at = open_page("embeddings")
    no_exception(at)
    assert "no checkpoint yet" in texts(at)


# ---------------------------------------------------------------------------------------------------------------
# Compare
# ---------------------------------------------------------------------------------------------------------------


# Compare's page tests (runs table, selection in the address, overlaid curves, verdict): tests/test_compare.py


def test_monitor_offers_the_metrics_as_csv(tmp_path, use_runs):
    from test_compare import add_run

    store = RunStore(use_runs(tmp_path / "runs"))
    run_id = add_run(store, "simclr", "a run", loss=5, shape=0.5, background=0.5)
    at = open_page("monitor", {"run": run_id})
    no_exception(at)
    assert [b.proto.label for b in at.get("download_button")] == ["Metrics (CSV)"]
