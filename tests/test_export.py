"""Export: metrics CSV round-trips, TensorBoard event files read back with tensorboard's own reader, the projector
files parse, and the default convnet's export loads in a Python process that cannot import sslcore."""
import csv
import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sslcore import export
from sslcore.backbones import ConvNet
from sslcore.config import RunConfig
from sslcore.errors import ConfigError
from sslcore.evaluate import evaluate_run, load_embedding
from sslcore.export.metrics_csv import COLUMNS
from sslcore.export.projector import _named
from sslcore.export.tensorboard import MIN_IMAGE_SIDE, matrix_image
from sslcore.runs import RunStore
from sslcore.worker import execute_run

TEST_SIZE = 40


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One finished tiny run (2 epochs of 64 generated 16 px images, checkpoints at steps 4 and 8), evaluated with
    PCA only and no baselines so the fixture stays cheap."""
    store = RunStore(tmp_path_factory.mktemp("export") / "runs")
    cfg = RunConfig().replace(train_size=64, test_size=TEST_SIZE, image_size=16, batch_size=16, projector_dim=32,
                              epochs=2, log_every=1, snapshot_every=2, device="cpu", lr=1e-3, eval_at_end=False)
    run_id = store.create_run(cfg, status="running")
    store.claim_foreground(run_id, "cpu")
    assert execute_run(store, run_id).status == "finished"
    evaluate_run(store, run_id, k=5, test_size=TEST_SIZE, embed="pca", baselines=False)
    return store, run_id


def same_series(a: dict, b: dict) -> bool:
    def equal(x, y):
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return a.keys() == b.keys() and all(
        len(a[m][k]) == len(b[m][k]) and all(equal(float(x), float(y)) for x, y in zip(a[m][k], b[m][k]))
        for m in a for k in ("step", "epoch", "value", "wall_time"))


# ---- metrics CSV ----
def test_metrics_csv_round_trips_every_logged_value(run, tmp_path):
    store, run_id = run
    path = export.write_metrics_csv(store, run_id, tmp_path / "m.csv")
    back = export.read_metrics_csv(path)
    assert list(back) == [run_id]
    assert same_series(back[run_id], store.metrics(run_id))
    assert {"loss", "eval/knn/class"} <= set(back[run_id])


def test_metrics_csv_up_to_a_step(run):
    store, run_id = run
    rows = list(csv.DictReader(io.StringIO(export.metrics_csv(store, [run_id], up_to_step=4))))
    assert rows and max(int(r["step"]) for r in rows) == 4


def test_metrics_csv_keeps_a_typed_run_name_from_becoming_a_formula(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(RunConfig().replace(name='=HYPERLINK("http://x","y")'))
    store.log_metrics(run_id, 1, 0.5, {"loss": 2.0})
    (row,) = csv.DictReader(io.StringIO(export.metrics_csv(store, [run_id])))
    assert row["run_name"] == '\'=HYPERLINK("http://x","y")' and row["value"] == "2.0"


# ---- TensorBoard ----
def test_matrix_image_colours():
    image = matrix_image(np.array([[1.0, -1.0], [0.0, np.nan]], dtype=np.float16))
    assert image.shape == (MIN_IMAGE_SIDE, MIN_IMAGE_SIDE, 3) and image.dtype == np.uint8
    half = MIN_IMAGE_SIDE // 2
    assert image[0, 0].tolist() == [255, 0, 0]          # +1 red
    assert image[0, half].tolist() == [0, 0, 255]       # −1 blue
    assert image[half, 0].tolist() == [255, 255, 255]   # 0 white
    assert image[half, half].tolist() == [255, 255, 255]


def test_tensorboard_event_file_reads_back(run, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store, run_id = run
    folder = export.export_tensorboard(store, run_id, tmp_path / "tb")
    assert folder == tmp_path / "tb" / run_id
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    loss = store.metrics(run_id)["loss"]
    read = events.Scalars("loss")
    assert [e.step for e in read] == loss["step"]
    assert np.allclose([e.value for e in read], loss["value"], rtol=1e-6)
    assert [e.wall_time for e in read] == pytest.approx(loss["wall_time"])
    assert "eval/knn/class" in events.Tags()["scalars"]
    images = events.Images("matrix/matrix")
    assert [e.step for e in images] == [s["step"] for s in store.snapshots(run_id, "matrix")]
    png = Image.open(io.BytesIO(images[-1].encoded_image_string))
    assert png.size[0] == png.size[1] >= MIN_IMAGE_SIDE


def test_missing_tensorboard_is_one_line(run, tmp_path, monkeypatch):
    store, run_id = run
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # what an install without it raises
    with pytest.raises(ConfigError, match="pip install") as e:
        export.export_tensorboard(store, run_id, tmp_path / "tb")
    assert "\n" not in str(e.value) and not (tmp_path / "tb").exists()


# ---- projector ----
def test_projector_files_parse(run, tmp_path):
    store, run_id = run
    result = export.export_projector(store, run_id, tmp_path / "proj")
    emb = load_embedding(store, run_id)
    n, d = emb["features"].shape
    assert result["points"] == n == TEST_SIZE and result["sprite"]

    tensors = np.loadtxt(tmp_path / "proj" / "tensors.tsv", delimiter="\t", ndmin=2)
    assert tensors.shape == (n, d) and np.allclose(tensors, emb["features"].astype(np.float32), rtol=1e-5)

    with open(tmp_path / "proj" / "metadata.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == ["index", "class", *emb["factors"]] and len(rows) == n + 1
    assert all(len(r) == len(rows[0]) for r in rows)
    assert [r[1] for r in rows[1:]] == [emb["class_names"][int(c)] for c in emb["labels"]]
    colour = rows[0].index("colour")
    assert [r[colour] for r in rows[1:]] == [emb["factor_names"]["colour"][int(v)] for v in emb["factors"]["colour"]]

    sprite = Image.open(tmp_path / "proj" / "sprite.png")
    grid, thumb = math.ceil(math.sqrt(n)), 16
    assert sprite.size == (grid * thumb, grid * thumb)
    config = json.loads((tmp_path / "proj" / "projector_config.json").read_text())["embeddings"][0]
    assert config["tensorShape"] == [n, d] and config["sprite"]["singleImageDim"] == [thumb, thumb]

    pb2 = pytest.importorskip("tensorboard.plugins.projector.projector_config_pb2")
    from google.protobuf import text_format
    parsed = text_format.Parse((tmp_path / "proj" / "projector_config.pbtxt").read_text(), pb2.ProjectorConfig())
    (embedding,) = parsed.embeddings
    assert (embedding.tensor_path, embedding.metadata_path, embedding.sprite.image_path) == \
        ("tensors.tsv", "metadata.tsv", "sprite.png")
    assert list(embedding.sprite.single_image_dim) == [thumb, thumb]


def test_metadata_cells_cannot_shift_columns():
    assert _named(np.array([0, 1, -1, 7]), ["a\tb", "line\nbreak"]) == ["a b", "line break", "unlabeled", "7"]


# ---- backbone ----
NO_SSLCORE = """
import importlib.util, sys, torch
assert importlib.util.find_spec("sslcore") is None, "sslcore is importable here"
sys.path.insert(0, sys.argv[1])
import convnet
net = convnet.load(sys.argv[2])
torch.save(net(torch.load(sys.argv[3])), sys.argv[4])
"""


def test_convnet_export_loads_without_sslcore(run, tmp_path):
    store, run_id = run
    out = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(store.root), "--json", "export", run_id,
                          "--out", str(tmp_path / "model" / "backbone.pt"), "--step", "4"],
                         capture_output=True, text=True, check=True)
    path = json.loads(out.stdout.strip().splitlines()[-1])["path"]
    note = json.loads((tmp_path / "model" / "backbone.json").read_text())
    assert note["step"] == 4 and note["module"].endswith("convnet.py")

    x = torch.randn(5, 3, 16, 16)
    torch.save(x, tmp_path / "x.pt")
    # -I: no PYTHONPATH, no current folder on sys.path — as on a machine where only torch is installed.
    subprocess.run([sys.executable, "-I", "-c", NO_SSLCORE, str(tmp_path / "model"), path, str(tmp_path / "x.pt"),
                    str(tmp_path / "y.pt")], check=True, cwd=tmp_path)

    reference = ConvNet()
    prefix = "backbone."
    state = store.load_checkpoint(run_id, 4)["model"]
    reference.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    with torch.no_grad():
        assert torch.allclose(torch.load(tmp_path / "y.pt"), reference.eval()(x), atol=1e-5)


def test_cli_exports_metrics_and_refuses_a_missing_embedding_step(run, tmp_path):
    store, run_id = run
    out = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(store.root), "export", run_id,
                          "--metrics", "csv", "--metrics-file", "-"], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0] == ",".join(COLUMNS)
    assert same_series(export.read_metrics_csv(io.StringIO(out.stdout))[run_id], store.metrics(run_id))
    out = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(store.root), "export", run_id,
                          "--projector", str(tmp_path / "p"), "--step", "4"], capture_output=True, text=True)
    assert out.returncode == 2 and "no embedding at step 4" in out.stderr and "\n" not in out.stderr.strip()
