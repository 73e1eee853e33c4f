"""Tests of sslcore.data.folders: a small real-looking photo folder trains and evaluates on the CLI's defaults; the
layout rule (train/+val/, train/ alone, flat); every bad folder answered in one line; odd files load or are skipped
once, named."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from sslcore.cli import main
from sslcore.data import load_dataset
from sslcore.data.folders import folder_layout, list_folder
from sslcore.errors import ConfigError


def photo(path, cls: int, rng, size=(80, 60)):
    """A noisy JPEG 'photo': a warm gradient (class 0) or cool stripes (class 1)."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = (np.stack([x / w, y / h, 0.3 + 0 * x], -1) if cls == 0 else
            np.stack([0.2 + 0 * x, 0.5 + 0.5 * np.sin(x / 4), 1 - y / h], -1))
    img = np.clip(base * 220 + rng.normal(0, 18, (h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, quality=90)


def photo_folder(root, n_train=40, n_val=16, classes=("ant", "bee"), splits=("train", "val")):
    rng = np.random.default_rng(0)
    for split, n in zip(splits, (n_train, n_val)):
        for ci, cls in enumerate(classes):
            for i in range(n // len(classes)):
                photo(root / split / cls / f"IMG_{i:04d}.jpg", ci, rng)
    return root


def one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


def test_a_photo_folder_trains_and_evaluates_on_the_cli_defaults(tmp_path, capsys):
    root = photo_folder(tmp_path / "photos")
    code = main(["--runs-dir", str(tmp_path / "runs"), "--json", "train", "--dataset", "folder",
                 "--data-root", str(root), "--epochs", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "notice: batch 256 → 32: the training set has 40 images" in out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "finished" and result["total_steps"] == 2          # 32 + 8: all 40 images
    from sslcore.runs import RunStore

    store = RunStore(tmp_path / "runs")
    cfg = store.config(result["id"])
    assert cfg.data.image_size == 64 and cfg.optim.batch_size == 256 and cfg.optim.fit_batch
    backbone = next(e for e in store.evals(result["id"]) if e["key"] == "backbone")
    assert backbone["protocol"]["n_test"] == 16                                   # val/ is the test split
    assert 0.5 <= backbone["results"]["knn/class"] <= 1.0
    # Embeddings' hover thumbnails: the saved points index the folder's test images, as lens_ui/cached.py loads them
    from sslcore.evaluate import load_embedding

    emb = load_embedding(store, result["id"])
    meta = emb["meta"]
    thumbs = load_dataset(meta["dataset"], "test", root=meta["root"], image_size=meta["image_size"],
                          size=meta["test_size"], seed=meta["seed"])
    assert len(emb["indices"]) == 16 and thumbs.images[emb["indices"]].shape == (16, 3, 64, 64)
    assert thumbs.labels[emb["indices"]].tolist() == emb["labels"].tolist()


def test_an_explicit_batch_larger_than_the_folder_is_refused_in_one_line(tmp_path, capsys):
    root = photo_folder(tmp_path / "photos", n_train=10, n_val=4)
    code = main(["--runs-dir", str(tmp_path / "runs"), "train", "--dataset", "folder", "--data-root", str(root),
                 "--batch-size", "256", "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["error: batch_size: 256 is larger than the training set (10 images); "
                                 "lower --batch-size"]


def test_layout_rule(tmp_path):
    both = photo_folder(tmp_path / "both", n_train=4, n_val=2)
    assert folder_layout(both)[0] == "splits"
    alone = photo_folder(tmp_path / "alone", n_train=10, n_val=0, splits=("train",))
    assert folder_layout(alone)[0] == "train only"
    files, classes, notices = list_folder(alone, "train")
    test, _, _ = list_folder(alone, "test")
    assert classes == ["ant", "bee"] and len(files) == 8 and len(test) == 2       # never a class named 'train'
    assert not {p for p, _ in files} & {p for p, _ in test}
    assert notices == [f"{alone} has train/ but no val/ or test/: a stratified 20 % of train/ is held out as the "
                       f"test split"]
    ds = load_dataset("folder", "test", root=str(alone), image_size=16)
    assert ds.class_names == ["ant", "bee"] and ds.notices == notices
    test_named = photo_folder(tmp_path / "t", n_train=4, n_val=2, splits=("train", "test"))
    assert folder_layout(test_named)[0] == "splits"
    assert folder_layout(photo_folder(tmp_path / "flat", 4, 0, splits=("",)))[0] == "flat"


@pytest.mark.parametrize("make, message", [
    (lambda d: None, r"data_root: folder '.*nothing' does not exist; pass --data-root DIR"),
    (lambda d: d.write_text("x"), r"data_root: folder '.*nothing' is a file, not a folder"),
    (lambda d: d.mkdir(), r"data_root: folder '.*nothing' has no images in class subfolders; expected DIR/<class>"),
    (lambda d: [d.mkdir(), Image.new("RGB", (8, 8)).save(d / "a.jpg"), Image.new("RGB", (8, 8)).save(d / "b.jpg")],
     r"has no images in class subfolders; it holds 2 images but no class subfolders; move them into DIR/<class>/"),
    (lambda d: [(d / "c").mkdir(parents=True), (d / "c" / "notes.txt").write_text("x")],
     r"has no images in class subfolders"),
    (lambda d: [(d / "c").mkdir(parents=True), Image.new("RGB", (8, 8)).save(d / "c" / "only.png")],
     r"data_root: folder '.*nothing' has too few images for a test split"),
    (lambda d: [(d / "c").mkdir(parents=True), (d / "c" / "x.jpg").write_bytes(b"garbage"),
                (d / "c" / "y.jpg").write_bytes(b"garbage")],
     r"data_root: no readable images in '.*nothing' for split 'test' \(1 unreadable, e\.g\. [xy]\.jpg"),
    (lambda d: [(d / "train" / "a").mkdir(parents=True), (d / "val" / "a").mkdir(parents=True),
                Image.new("RGB", (8, 8)).save(d / "train" / "a" / "1.png")],
     r"data_root: '.*val' holds no images in class subfolders"),
])
def test_every_bad_folder_is_one_line(tmp_path, make, message):
    import re

    make(tmp_path / "nothing")
    with pytest.raises(ConfigError) as e:
        load_dataset("folder", "test", root=str(tmp_path / "nothing"), image_size=8)
    assert re.search(message, one_line(e)), one_line(e)


def test_odd_files_load_and_broken_ones_are_reported_once(tmp_path):
    root = tmp_path / "odd"
    (root / "a" / "nested" / "deeper").mkdir(parents=True)
    (root / "b").mkdir()
    Image.new("CMYK", (30, 20), (0, 255, 255, 0)).save(root / "a" / "cmyk.jpg")                  # red in CMYK
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(root / "a" / "sixteen.png")         # 16-bit grey
    Image.new("RGB", (20, 20), (0, 200, 0)).save(root / "a" / "green.webp")
    Image.new("RGB", (1, 1), (9, 9, 9)).save(root / "a" / "nested" / "deeper" / "one_pixel.png")
    Image.new("L", (6000, 6000), 128).save(root / "b" / "huge.jpg", quality=50)
    Image.new("RGB", (20, 20), (1, 2, 3)).save(root / "b" / "ünïcödé 名前.bmp")
    good = root / "b" / "truncated.jpg"
    Image.new("RGB", (200, 200), (50, 60, 70)).save(good, quality=95)
    good.write_bytes(good.read_bytes()[:300])                                                       # cut short
    os.symlink(root, root / "b" / "loop")                                                           # a symlink loop
    seen = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for _ in range(2):                                                                          # load it twice
            for split in ("train", "test"):
                ds = load_dataset("folder", split, root=str(root), image_size=16)
                seen += [(split, len(ds))]
    total = sum(n for s, n in seen[:2])
    assert total == 6                                                     # 7 files, the truncated one skipped
    reports = [str(x.message) for x in w if "truncated.jpg" in str(x.message)]
    assert len(reports) == 1 and reports[0].startswith("folder: skipped 1 unreadable file of ")
