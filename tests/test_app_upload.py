"""AppTest of lens_ui/upload.py on the Train page: a zip uploaded from the browser becomes a dataset that a run
trains and evaluates on; a hostile zip is a one-line message; the dataset can be deleted from the app."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from sslcore.config import RunConfig
from sslcore.runs import RunStore
from sslcore.worker import execute_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120


def photo_zip(n_per_class: int = 12) -> bytes:
    """A zip of ``insects/<class>/<i>.jpg``: noisy 60×45 JPEGs, reddish ants and bluish bees."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls, tint in (("ant", (180, 60, 40)), ("bee", (40, 80, 190))):
            for i in range(n_per_class):
                img = np.clip(np.array(tint) + rng.normal(0, 30, (45, 60, 3)), 0, 255).astype(np.uint8)
                jpg = io.BytesIO()
                Image.fromarray(img).save(jpg, "JPEG", quality=90)
                zf.writestr(f"insects/{cls}/{i}.jpg", jpg.getvalue())
    return buf.getvalue()


@pytest.fixture
def runs(tmp_path, monkeypatch) -> RunStore:
    """A fresh runs folder whose only device slot is held, so a launched run waits in the queue for the test."""
    monkeypatch.setenv("SSL_LENS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SSL_LENS_UMAP", "manual")
    store = RunStore(tmp_path / "runs")
    holder = store.create_run(RunConfig().replace(name="holder", epochs=1), status="running")
    store.claim_foreground(holder, "cpu")
    return store


def unescaped(text: str) -> str:
    """Text as a reader sees it (lens_ui.text.plain escapes Markdown punctuation and joins words after colons)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(text)).replace("\u2060", "")


def train_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/train.py").run()
    at.selectbox(key="train.dataset").set_value("folder").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="train.image_size").value == 64           # photos' default size, as on the CLI
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="train.upload.zip").set_value((f"{name}.zip", data, "application/zip")).run()
    at.text_input(key="train.upload.name").set_value(name).run()
    at.button(key="train.upload.save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_an_uploaded_zip_trains_and_evaluates(runs):
    at = upload(train_page(), "insects", photo_zip())
    assert at.selectbox(key="train.upload.pick").value == "insects"
    assert any("Stored insects: 24 images in 2 classes" in unescaped(s.value) for s in at.success)
    folder = runs.root / "datasets" / "insects"
    assert (folder / "ant" / "0.jpg").is_file()
    # the batch notice before launching: 20 training images (80 % of 24) at the default batch of 256
    assert any("batch 256 → 16: the training set has 20 images" in unescaped(i.value) for i in at.info)
    at.number_input(key="train.epochs").set_value(1).run()
    at.selectbox(key="train.image_size").set_value(16).run()
    at.number_input(key="train.projector_dim").set_value(32).run()
    at.button(key="train.launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = next(r for r in runs.list_runs() if r.name != "holder")
    cfg = runs.config(run.id)
    assert (cfg.data.dataset, Path(cfg.data.root).resolve()) == ("folder", folder.resolve())
    runs.claim_foreground(run.id, "cpu")
    done = execute_run(runs, run.id)
    assert done.status == "finished", done.error
    backbone = next(e for e in runs.evals(run.id) if e["key"] == "backbone")     # evaluated on the held-out 20 %
    assert 0.0 <= backbone["results"]["knn/class"] <= 1.0, backbone
    # Embeddings draws the run's test photos (the held-out 20 %: 4 images) as thumbnails
    emb = AppTest.from_file(APP, default_timeout=TIMEOUT)
    emb.query_params["run"] = run.id
    emb.run()
    emb.switch_page("app_pages/embeddings.py").run()
    assert not emb.exception, [e.value for e in emb.exception]
    assert "4 test images" in " ".join(m.value for m in emb.markdown)


def test_a_hostile_zip_is_a_message_and_leaves_nothing(runs):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ant/0.jpg", b"x")
        zf.writestr("../../escape.jpg", b"x")
    at = upload(train_page(), "evil", buf.getvalue())
    errors = [unescaped(e.value) for e in at.error]
    assert any("upload: entry '../../escape.jpg' points outside the dataset folder; refused" in e for e in errors)
    assert not (runs.root / "datasets" / "evil").exists()


def test_an_uploaded_dataset_is_deleted_from_the_app(runs):
    at = upload(train_page(), "gone", photo_zip(3))
    at.checkbox(key="train.upload.sure_gone").check().run()
    at.button(key="train.upload.delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not (runs.root / "datasets" / "gone").exists()
    assert at.selectbox(key="train.upload.pick").value is None or "gone" not in at.selectbox(
        key="train.upload.pick").options


def test_augmentations_previews_an_uploaded_dataset(runs):
    from sslcore.data.uploads import save_upload

    save_upload(runs.root, "insects", [("insects.zip", io.BytesIO(photo_zip(4)))], image_size=64)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/augmentations.py").run()
    at.selectbox(key="aug.dataset").set_value("folder").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="aug.upload.pick").value == "insects"
    assert any("ant" in c.value and "bee" in c.value for c in at.caption if c.value.startswith("Original"))
    assert len(at.get("image")) >= 3                                 # originals, view 1, view 2


def test_monitor_shows_the_trainers_notices_once(runs):
    run_id = runs.create_run(RunConfig().replace(name="small", epochs=1), status="finished")
    (runs.run_dir(run_id) / "log.txt").write_text(
        "notice: batch 256 → 128: the training set has 245 images\nepoch 1 done at step 2\n"
        "resuming from step 2\nnotice: batch 256 → 128: the training set has 245 images\n")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["run"] = run_id
    at.run()
    at.switch_page("app_pages/monitor.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [unescaped(i.value) for i in at.info if "batch 256" in unescaped(i.value)]
    assert shown == ["batch 256 → 128: the training set has 245 images"]
