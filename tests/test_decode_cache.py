"""Tests of sslcore.data.decode_cache: parallel decode into an on-disk cache keyed by files, sizes, mtimes and image
size; a second load decodes nothing; unreadable files are left out and named; big sets stay memory-mapped."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from sslcore.data import decode_cache, load_dataset
from sslcore.data.folders import _open_rgb


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_LENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _photos(folder, n, bad=()):
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        p = folder / f"{i:03d}.jpg"
        if i in bad:
            p.write_bytes(b"\xff\xd8 not really a jpeg")
        else:
            Image.new("RGB", (50, 40), (i * 7 % 256, 100, 200 - i)).save(p, quality=90)
        files.append(p)
    return files


class CountingDecoder:
    def __init__(self):
        self.calls = 0

    def __call__(self, path, size):
        self.calls += 1
        return _open_rgb(path, size)


def test_second_load_reads_the_cache_and_decodes_nothing(tmp_path, cache):
    files = _photos(tmp_path / "p", 20)
    dec = CountingDecoder()
    first, kept, failed = decode_cache.decode_images(files, 16, dec, workers=2)
    assert dec.calls == 20 and kept == list(range(20)) and failed == {}
    assert first.shape == (20, 3, 16, 16) and first.dtype == np.uint8
    again, kept2, _ = decode_cache.decode_images(files, 16, dec)
    assert dec.calls == 20 and kept2 == kept                      # nothing decoded the second time
    np.testing.assert_array_equal(first, again)
    assert np.array_equal(first[3].transpose(1, 2, 0), _open_rgb(files[3], 16))
    assert len(list(cache.glob("*.npy"))) == 1 and not list(cache.glob("*.part"))


def test_the_key_follows_the_files_sizes_mtimes_and_image_size(tmp_path, cache):
    files = _photos(tmp_path / "p", 5)
    dec = CountingDecoder()
    decode_cache.decode_images(files, 16, dec)
    decode_cache.decode_images(files, 24, dec)                     # another image size: decoded again
    assert dec.calls == 10
    Image.new("RGB", (50, 40), (0, 0, 0)).save(files[2], quality=50)
    os.utime(files[2], ns=(1, 1))                                  # an edited photo
    images, _, _ = decode_cache.decode_images(files, 16, dec)
    assert dec.calls == 15 and int(images[2].max()) < 20           # the new, black one
    decode_cache.decode_images(files[:4], 16, dec)                 # a removed photo
    assert dec.calls == 19


def test_unreadable_files_are_left_out_and_named_also_from_the_cache(tmp_path, cache):
    files = _photos(tmp_path / "p", 8, bad={1, 5})
    for _ in range(2):
        images, kept, failed = decode_cache.decode_images(files, 16, _open_rgb)
        assert kept == [0, 2, 3, 4, 6, 7] and set(failed) == {1, 5} and len(images) == 6
        assert np.array_equal(images[1].transpose(1, 2, 0), _open_rgb(files[2], 16))   # compacted in order


def test_a_set_over_the_memory_budget_stays_memory_mapped(tmp_path, cache, monkeypatch):
    files = _photos(tmp_path / "p", 6)
    decode_cache.decode_images(files, 16, _open_rgb)
    monkeypatch.setenv("SSL_LENS_MEMORY_BUDGET", "100")            # bytes: less than one image
    images, _, _ = decode_cache.decode_images(files, 16, _open_rgb)
    assert isinstance(images, np.memmap)
    monkeypatch.setenv("SSL_LENS_MEMORY_BUDGET", "0.5")            # half the RAM
    images, _, _ = decode_cache.decode_images(files, 16, _open_rgb)
    assert not isinstance(images, np.memmap)


def test_folder_dataset_trains_from_the_memory_map(tmp_path, cache, monkeypatch):
    for c in ("a", "b"):
        _photos(tmp_path / "f" / c, 10)
    monkeypatch.setenv("SSL_LENS_MEMORY_BUDGET", "100")
    ds = load_dataset("folder", root=str(tmp_path / "f"), image_size=16)
    ds2 = load_dataset("folder", root=str(tmp_path / "f"), image_size=16)     # from the cache: a memory map
    assert len(ds2) == len(ds) == 16
    assert ds2.images[[0, 5]].shape == (2, 3, 16, 16)                        # batches gather from it
    assert (ds2.images == ds.images).all()


def test_an_unwritable_cache_folder_still_decodes(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SSL_LENS_CACHE", str(blocker / "cache"))
    files = _photos(tmp_path / "p", 4)
    images, kept, _ = decode_cache.decode_images(files, 16, _open_rgb)
    assert images.shape == (4, 3, 16, 16) and kept == [0, 1, 2, 3]
