"""Tests of sslcore.data: the registry, the generated datasets, cifar10/stl10 via fake files, folder loading, errors.

Nothing here downloads anything. For cifar10 / stl10 we write tiny files in torchvision's exact on-disk format into
``tmp_path``. torchvision also checks each file's MD5 against the real release, which a fake file cannot match, so
those tests monkeypatch ``check_integrity`` *in the torchvision dataset modules only* with a version that still
requires every file to exist but skips the MD5 (see ``no_md5``); the missing-file tests run without that patch too.
"""
from __future__ import annotations

import pickle
import re
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from sslcore import data
from sslcore.data import digits, shapes
from sslcore.config import ConfigError
from sslcore.data import DATASETS, ImageSet, describe_datasets, load_dataset


def _one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and msg
    return msg


# ----------------------------------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------------------------------
def test_registry_keys_and_info():
    assert list(DATASETS) == ["shapes", "digits", "cifar10", "stl10", "folder"]
    assert DATASETS["shapes"].embedded and DATASETS["digits"].embedded
    assert not DATASETS["cifar10"].embedded and not DATASETS["stl10"].embedded and not DATASETS["folder"].embedded
    assert DATASETS["shapes"].has_factors and DATASETS["digits"].has_factors and not DATASETS["cifar10"].has_factors
    assert DATASETS["stl10"].splits == ("train", "test", "unlabeled", "train+unlabeled")
    assert DATASETS["stl10"].default_image_size == 96 and DATASETS["cifar10"].default_image_size == 32
    with pytest.raises(Exception):
        DATASETS["shapes"].name = "x"  # frozen

    rows = describe_datasets()
    assert [r["name"] for r in rows] == list(DATASETS)
    for r in rows:
        assert set(r) >= {"name", "description", "splits", "factors", "embedded"}
        assert isinstance(r["splits"], list) and isinstance(r["factors"], list) and r["description"]
    shapes_row = rows[0]
    assert set(shapes_row["factors"]) >= {"colour", "background", "size", "position", "rotation"}


def test_errors_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_dataset("imagenet")
    msg = _one_line_error(e)
    assert msg.startswith("dataset: unknown dataset 'imagenet'; choose one of: shapes, digits, cifar10")
    with pytest.raises(ConfigError) as e:
        load_dataset("shapes", "unlabeled")
    assert "split" in _one_line_error(e) and "train, test" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_dataset("shapes", "train", size=0)
    assert _one_line_error(e).startswith("train_size:")
    with pytest.raises(ConfigError) as e:
        load_dataset("digits", "test", size=-3)
    assert _one_line_error(e).startswith("test_size:")
    with pytest.raises(ConfigError) as e:
        load_dataset("shapes", image_size=0)
    assert _one_line_error(e).startswith("image_size:")
    with pytest.raises(ConfigError) as e:
        load_dataset("shapes", size=10**7, image_size=256)
    assert "train_size" in _one_line_error(e)
    assert issubclass(ConfigError, ValueError)


# ----------------------------------------------------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------------------------------------------------
def _check_imageset(ds: ImageSet, n: int, size: int, name: str, split: str) -> None:
    assert len(ds) == n
    assert ds.images.dtype == torch.uint8 and ds.images.shape == (n, 3, size, size)
    assert ds.images.is_contiguous()
    assert ds.labels.dtype == torch.int64 and ds.labels.shape == (n,)
    assert ds.name == name and ds.split == split
    assert ds.num_classes == len(ds.class_names)
    assert set(ds.factors) == set(ds.factor_names)
    for f, v in ds.factors.items():
        assert v.dtype == torch.int64 and v.shape == (n,), f
        assert int(v.min()) >= 0 and int(v.max()) < len(ds.factor_names[f]), f
        assert all(isinstance(s, str) and s for s in ds.factor_names[f])


def test_shapes_defaults_shapes_factors():
    tr = load_dataset("shapes")
    te = load_dataset("shapes", "test")
    _check_imageset(tr, 4000, 32, "shapes", "train")
    _check_imageset(te, 1000, 32, "shapes", "test")
    assert tr.num_classes >= 6 and len(set(tr.class_names)) == tr.num_classes
    for ds in (tr, te):
        assert set(ds.labels.tolist()) == set(range(ds.num_classes))          # every class present
    assert {"colour", "background", "size", "position", "rotation"} <= set(tr.factors)
    assert tr.factor_names["size"][0] == "small" and "red" in tr.factor_names["colour"]
    for f in ("colour", "background", "size", "position", "rotation"):
        # every value of every nuisance factor actually occurs
        assert set(tr.factors[f].tolist()) == set(range(len(tr.factor_names[f]))), f
    # shape and background hues always differ (≥ 2 steps on the colour wheel): shapes stay visible
    k = len(tr.factor_names["colour"])
    d = (tr.factors["colour"] - tr.factors["background_colour"]) % k
    assert int(d.min()) >= 2 and int(d.max()) <= k - 2
    # train and test are different draws
    assert not torch.equal(tr.images[:1000], te.images)


def test_shapes_are_visible_and_use_the_whole_range():
    ds = load_dataset("shapes", size=600, seed=3)
    x = ds.images.float()
    # shape vs background: the centre of a large, centred shape differs clearly from the corners
    # large, near-centred circles and squares cover the centre pixel whatever their rotation and offset
    solid = (ds.labels == ds.class_names.index("circle")) | (ds.labels == ds.class_names.index("square"))
    big_centre = (ds.factors["size"] >= 2) & (ds.factors["position"] == 4) & solid
    assert int(big_centre.sum()) > 3
    xb = x[big_centre]
    centre = xb[:, :, 15:17, 15:17].mean((2, 3))
    corner = xb[:, :, :3, :3].mean((2, 3))
    assert float((centre - corner).abs().sum(1).min()) > 40
    # ... and is lighter than it (luminance, not only hue), so the shape survives a grey or hue-shifted view
    luma = torch.tensor([0.299, 0.587, 0.114])
    assert float(((centre - corner) @ luma).min()) > 30
    assert int(ds.images.max()) >= 240 and int(ds.images.min()) <= 40


def test_shapes_determinism_and_cache_copies():
    a = load_dataset("shapes", size=200, seed=7)
    b = load_dataset("shapes", size=200, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert all(torch.equal(a.factors[k], b.factors[k]) for k in a.factors)
    shapes.shapes_cached.cache_clear()                       # regenerated from scratch: still identical
    c = load_dataset("shapes", size=200, seed=7)
    assert torch.equal(a.images, c.images)
    d = load_dataset("shapes", size=200, seed=8)
    assert not torch.equal(a.images, d.images) and not torch.equal(a.labels, d.labels)
    # callers get copies: modifying one does not touch the cache
    a.images.zero_()
    a.labels.fill_(0)
    e = load_dataset("shapes", size=200, seed=7)
    assert torch.equal(e.images, b.images) and torch.equal(e.labels, b.labels)


def test_shapes_image_size_renders_same_scene():
    small = load_dataset("shapes", size=64, seed=1)
    big = load_dataset("shapes", size=64, seed=1, image_size=64)
    assert big.images.shape == (64, 3, 64, 64)
    assert torch.equal(small.labels, big.labels)
    assert all(torch.equal(small.factors[k], big.factors[k]) for k in small.factors)
    down = torch.nn.functional.interpolate(big.images.float(), size=32, mode="bilinear", antialias=True)
    assert float((down - small.images.float()).abs().mean()) < 12      # same scene, rendered at another size


def test_shapes_raw_pixel_knn_is_near_chance():
    from sklearn.neighbors import KNeighborsClassifier
    shapes.shapes_cached.cache_clear()
    t = time.perf_counter()
    tr = load_dataset("shapes")
    gen = time.perf_counter() - t
    print(f"\nload_dataset('shapes') (4000 images, 32 px): {gen:.2f} s")
    te = load_dataset("shapes", "test")
    knn = KNeighborsClassifier(n_neighbors=20, metric="cosine")
    knn.fit(tr.images.flatten(1).float().numpy(), tr.labels.numpy())
    acc = knn.score(te.images.flatten(1).float().numpy(), te.labels.numpy())
    print(f"shapes raw-pixel kNN (k=20, cosine): {acc:.3f} (chance {1 / tr.num_classes:.3f})")
    assert acc <= 0.40
    assert gen < 15.0       # ≈ 0.5–1 s on 2 idle cores; generous for a busy CI machine


# ----------------------------------------------------------------------------------------------------------------------
# digits
# ----------------------------------------------------------------------------------------------------------------------
def test_digits_split_factors_and_raw_pixel_knn():
    from sklearn.neighbors import KNeighborsClassifier
    tr = load_dataset("digits")
    te = load_dataset("digits", "test")
    assert len(tr) + len(te) == 1797 and abs(len(te) / 1797 - 0.2) < 0.01
    _check_imageset(tr, len(tr), 32, "digits", "train")
    _check_imageset(te, len(te), 32, "digits", "test")
    assert tr.class_names == [str(i) for i in range(10)]
    assert set(te.labels.tolist()) == set(range(10))
    assert set(tr.factors) == {"colour", "background", "position", "size"}
    # the split is of the base digits: train and test share none
    assert not set(digits.digits_split_indices("train")) & set(digits.digits_split_indices("test"))
    knn = KNeighborsClassifier(n_neighbors=20, metric="cosine")
    knn.fit(tr.images.flatten(1).float().numpy(), tr.labels.numpy())
    acc = knn.score(te.images.flatten(1).float().numpy(), te.labels.numpy())
    print(f"\ndigits raw-pixel kNN (k=20, cosine): {acc:.3f}")
    assert acc < 0.80


def test_digits_size_seed_and_image_size():
    a = load_dataset("digits", size=2000, seed=2)
    assert len(a) == 2000                                           # more than the split: re-rendered repeats
    b = load_dataset("digits", size=2000, seed=2)
    assert torch.equal(a.images, b.images)
    c = load_dataset("digits", size=2000, seed=3)
    assert not torch.equal(a.images, c.images) and torch.equal(a.labels, c.labels)   # same digits, new rendering
    d = load_dataset("digits", "test", size=20, image_size=48)
    assert d.images.shape == (20, 3, 48, 48)


def test_subset():
    ds = load_dataset("shapes", size=50)
    for idx in ([3, 1, 4], torch.tensor([3, 1, 4]), np.array([3, 1, 4])):
        s = ds.subset(idx)
        assert len(s) == 3 and torch.equal(s.images[0], ds.images[3]) and int(s.labels[2]) == int(ds.labels[4])
        assert torch.equal(s.factors["colour"], ds.factors["colour"][[3, 1, 4]])
        assert s.class_names == ds.class_names and s.factor_names == ds.factor_names and s.name == "shapes"
    mask = ds.labels == 0
    assert len(ds.subset(mask)) == int(mask.sum())
    assert len(ds.subset(slice(10, 20))) == 10


# ----------------------------------------------------------------------------------------------------------------------
# cifar10 / stl10 with fake files
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture
def no_md5(monkeypatch):
    """Skip torchvision's MD5 check (fake files cannot match it) but still require every file to exist."""
    import os

    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.stl10 as tv_stl10

    def exists_only(fpath, md5=None):
        return os.path.isfile(fpath)

    monkeypatch.setattr(tv_cifar, "check_integrity", exists_only)
    monkeypatch.setattr(tv_stl10, "check_integrity", exists_only)


def _fake_cifar(root, per_batch=4, n_test=6):
    rng = np.random.default_rng(0)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    chw = {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        imgs = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        chw[name] = (imgs, labels)
        with open(d / name, "wb") as f:        # rows: 1024 red, 1024 green, 1024 blue values, row-major
            pickle.dump({"batch_label": name, "data": imgs.reshape(n, 3072), "labels": labels,
                         "filenames": [f"{i}.png" for i in range(n)]}, f)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({"label_names": data.CIFAR10_CLASSES, "num_cases_per_batch": per_batch,
                     "num_vis": 3072}, f)
    return chw


def test_cifar10_missing_files_message(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_dataset("cifar10", root=str(tmp_path))
    msg = _one_line_error(e)
    assert msg.startswith("data_root: CIFAR-10 not found in " + str(tmp_path))
    assert "cifar-10-batches-py" in msg and "--download" in msg and "--data-root" in msg


def test_cifar10_missing_file_even_without_md5(tmp_path, no_md5):
    _fake_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(ConfigError, match="cifar-10-batches-py"):
        load_dataset("cifar10", root=str(tmp_path))


def test_cifar10_fake_files(tmp_path, no_md5):
    chw = _fake_cifar(tmp_path)
    tr = load_dataset("cifar10", root=str(tmp_path))
    _check_imageset(tr, 20, 32, "cifar10", "train")
    assert tr.factors == {} and tr.class_names == data.CIFAR10_CLASSES
    expect = np.concatenate([chw[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert np.array_equal(tr.images.numpy(), expect)                  # exact pixels, channel order and orientation
    assert tr.labels.tolist() == sum((chw[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    te = load_dataset("cifar10", "test", root=str(tmp_path))
    assert np.array_equal(te.images.numpy(), chw["test_batch"][0]) and te.split == "test"
    # seeded subset + resize
    sub = load_dataset("cifar10", root=str(tmp_path), size=7, seed=1, image_size=16)
    assert sub.images.shape == (7, 3, 16, 16)
    sub2 = load_dataset("cifar10", root=str(tmp_path), size=7, seed=1)
    assert torch.equal(sub.labels, sub2.labels)
    rows = [next(i for i in range(20) if torch.equal(tr.images[i], img)) for img in sub2.images]
    assert rows == sorted(rows) and len(set(rows)) == 7
    down = torch.nn.functional.interpolate(sub2.images.float(), size=16, mode="bilinear", antialias=True)
    assert float((down.round() - sub.images.float()).abs().max()) <= 1


def _fake_stl10(root, n_train=5, n_test=4, n_unlabeled=3):
    rng = np.random.default_rng(1)
    d = root / "stl10_binary"
    d.mkdir(parents=True)
    out = {}
    for stem, n, labelled in [("train", n_train, True), ("test", n_test, True), ("unlabeled", n_unlabeled, False)]:
        imgs = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)   # N×C×H×W as an image is seen
        # on disk STL-10 is column-major per channel: write the transpose of (H, W)
        (d / f"{stem}_X.bin").write_bytes(np.ascontiguousarray(imgs.transpose(0, 1, 3, 2)).tobytes())
        labels = rng.integers(0, 10, n)
        if labelled:
            (d / f"{stem}_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())   # 1-based on disk
        out[stem] = (imgs, labels)
    (d / "class_names.txt").write_text("\n".join(data.STL10_CLASSES) + "\n")
    return out


def test_stl10_missing_files_message(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_dataset("stl10", "unlabeled", root=str(tmp_path))
    msg = _one_line_error(e)
    assert msg.startswith("data_root: STL-10 not found in " + str(tmp_path))
    assert "stl10_binary" in msg and "--download" in msg


def test_stl10_fake_files(tmp_path, no_md5):
    fake = _fake_stl10(tmp_path)
    tr = load_dataset("stl10", root=str(tmp_path))
    _check_imageset(tr, 5, 96, "stl10", "train")
    assert np.array_equal(tr.images.numpy(), fake["train"][0])
    assert tr.labels.tolist() == fake["train"][1].tolist() and tr.class_names == data.STL10_CLASSES
    te = load_dataset("stl10", "test", root=str(tmp_path))
    assert np.array_equal(te.images.numpy(), fake["test"][0]) and te.labels.tolist() == fake["test"][1].tolist()
    un = load_dataset("stl10", "unlabeled", root=str(tmp_path), image_size=32)
    assert un.images.shape == (3, 3, 32, 32) and un.labels.tolist() == [-1, -1, -1] and un.split == "unlabeled"
    both = load_dataset("stl10", "train+unlabeled", root=str(tmp_path))      # pre-training: labelled, then not
    assert len(both) == 5 + 3 and both.labels.tolist() == fake["train"][1].tolist() + [-1, -1, -1]
    assert np.array_equal(both.images[5:].numpy(), fake["unlabeled"][0]) and both.split == "train+unlabeled"


def test_training_draws_from_stl10_train_plus_unlabeled(tmp_path, no_md5):
    from sslcore.config import RunConfig
    from sslcore.train import Trainer

    _fake_stl10(tmp_path, n_train=6, n_unlabeled=10)
    cfg = RunConfig().replace(dataset="stl10", data_root=str(tmp_path), train_split="train+unlabeled", image_size=16,
                              epochs=1, batch_size=8, projector_dim=32, method="simclr")
    t = Trainer(cfg)
    assert len(t.train_set) == 16 and (t.train_set.labels == -1).sum() == 10
    assert t.fit()["status"] == "finished"
    with pytest.raises(ConfigError) as e:
        RunConfig().replace(train_split="train+unlabeled").validate()
    assert _one_line_error(e) == ("train_split: dataset shapes has no training split 'train+unlabeled'; "
                                  "choose one of: train")


# ----------------------------------------------------------------------------------------------------------------------
# folder
# ----------------------------------------------------------------------------------------------------------------------
def _solid(path, colour, size=(20, 20), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_folder_modes_large_and_corrupt(tmp_path):
    root = tmp_path / "imgs"
    # RGBA: opaque red, and a fully transparent one (composited on white)
    _solid(root / "a" / "rgba_red.png", (255, 0, 0, 255), mode="RGBA")
    _solid(root / "a" / "rgba_clear.png", (0, 0, 255, 0), mode="RGBA")
    _solid(root / "a" / "grey.PNG", 77, mode="L")                       # upper-case extension counts
    p = Image.new("RGB", (20, 20), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert p.mode == "P"
    (root / "b").mkdir()
    p.save(root / "b" / "palette.gif")
    big = np.zeros((600, 1000, 3), np.uint8)                              # 1000 wide: left red, right blue
    big[:, :500] = (255, 0, 0)
    big[:, 500:] = (0, 0, 255)
    Image.fromarray(big).save(root / "b" / "large.jpg", quality=95)
    _solid(root / "b" / "plain.bmp", (1, 2, 3))
    (root / "b" / "broken.png").write_bytes(b"this is not an image")
    (root / "b" / "notes.txt").write_text("ignored")
    (root / "c").mkdir()                                                  # an empty class folder is ignored

    images, labels = {}, {}
    for split in ("train", "test"):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            ds = load_dataset("folder", split, root=str(root), image_size=24)
        broken_warnings = [x for x in w if "broken.png" in str(x.message)]
        images[split], labels[split] = ds, broken_warnings
    tr, te = images["train"], images["test"]
    assert tr.class_names == ["a", "b"] and te.class_names == ["a", "b"]
    # 3 + 3 readable images (+ the broken one), 80/20 per class (each class with ≥ 2 files gives one to test)
    assert len(tr) + len(te) == 6
    assert len(labels["train"]) + len(labels["test"]) == 1                # the corrupt file, named, warned once
    assert tr.images.dtype == torch.uint8 and tr.images.shape[1:] == (3, 24, 24)
    assert te.images.shape[1:] == (3, 24, 24) and tr.factors == {}
    both = torch.cat([tr.images, te.images])
    colours = {tuple(img[:, 12, 12].tolist()) for img in both}
    assert (255, 0, 0) in colours                                         # RGBA opaque
    assert (255, 255, 255) in colours                                     # RGBA transparent → white
    assert (77, 77, 77) in colours                                        # L → grey RGB
    assert (1, 2, 3) in colours
    assert any(abs(c[0] - 10) + abs(c[1] - 200) + abs(c[2] - 30) <= 6 for c in colours)   # P → RGB
    # the large image: shorter side → 24, centre crop keeps the red|blue boundary in the middle
    large = [img for img in both if int(img[2, 12, 21]) > 200 and int(img[0, 12, 21]) < 40]  # blue on the right
    assert len(large) == 1
    assert int(large[0][0, 12, 2]) > 200 and int(large[0][2, 12, 2]) < 40                    # red on the left
    assert int(large[0][0, 0, 11]) > 100 and int(large[0][2, 0, 12]) > 100                    # boundary centred


def test_folder_flat_split_is_seeded_and_disjoint(tmp_path):
    root = tmp_path / "flat"
    for c in range(3):
        for i in range(10):
            _solid(root / f"class{c}" / f"{i}.png", (c * 80, i * 20, 7))
    tr = load_dataset("folder", root=str(root), image_size=8)
    te = load_dataset("folder", "test", root=str(root), image_size=8)
    assert tr.class_names == ["class0", "class1", "class2"]
    assert len(tr) == 24 and len(te) == 6                                 # 80/20, per class
    assert torch.bincount(te.labels).tolist() == [2, 2, 2]
    key = lambda ds: {(int(l), int(im[1, 0, 0])) for im, l in zip(ds.images, ds.labels)}   # noqa: E731
    assert not key(tr) & key(te) and len(key(tr) | key(te)) == 30
    for im, l in zip(tr.images, tr.labels):
        assert int(im[0, 0, 0]) == 80 * int(l)                            # label = the image's class folder
    te2 = load_dataset("folder", "test", root=str(root), image_size=8, seed=5)
    assert key(te2) != key(te)
    assert key(load_dataset("folder", "test", root=str(root), image_size=8)) == key(te)
    sub = load_dataset("folder", root=str(root), image_size=8, size=5)
    assert len(sub) == 5 and key(sub) <= key(tr)
    default = load_dataset("folder", "test", root=str(root))
    assert default.images.shape[-1] == DATASETS["folder"].default_image_size


def test_folder_train_val_layout(tmp_path):
    root = tmp_path / "tv"
    for split, n in (("train", 3), ("val", 2)):
        for c in ("cat", "dog"):
            for i in range(n):
                _solid(root / split / c / f"{i}.jpg", (200, 10, 10) if c == "cat" else (10, 10, 200))
    tr = load_dataset("folder", root=str(root), image_size=16)
    te = load_dataset("folder", "test", root=str(root), image_size=16)
    assert tr.class_names == ["cat", "dog"] == te.class_names
    assert len(tr) == 6 and len(te) == 4
    assert torch.bincount(te.labels).tolist() == [2, 2]
    for ds in (tr, te):
        red = ds.images[:, 0, 8, 8] > ds.images[:, 2, 8, 8]
        assert torch.equal(red, ds.labels == 0)


def test_folder_missing_and_empty(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_dataset("folder", root=str(tmp_path / "nope"))
    msg = _one_line_error(e)
    assert msg.startswith("data_root:") and "nope" in msg and "does not exist" in msg
    with pytest.raises(ConfigError) as e:
        load_dataset("folder")
    assert "--data-root" in _one_line_error(e)
    empty = tmp_path / "empty"
    (empty / "some_class").mkdir(parents=True)
    (empty / "some_class" / "readme.txt").write_text("no images here")
    with pytest.raises(ConfigError) as e:
        load_dataset("folder", root=str(empty))
    assert "no images" in _one_line_error(e)
    only_bad = tmp_path / "bad"
    (only_bad / "x").mkdir(parents=True)
    (only_bad / "x" / "a.png").write_bytes(b"garbage")
    (only_bad / "x" / "b.png").write_bytes(b"garbage")
    with pytest.raises(ConfigError) as e:
        load_dataset("folder", root=str(only_bad))
    assert re.fullmatch(r"data_root: no readable images in '.*bad' for split 'train' \(1 unreadable, e\.g\. "
                        r"[ab]\.png: UnidentifiedImageError: .*\)", _one_line_error(e))


def test_default_data_root_follows_the_environment(monkeypatch):
    monkeypatch.setenv("SSL_LENS_DATA", "/srv/datasets")
    assert data.default_data_root() == "/srv/datasets"
    monkeypatch.delenv("SSL_LENS_DATA")
    assert data.default_data_root() == "data"
