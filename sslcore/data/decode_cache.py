"""Decoding a list of image files to one uint8 N×3×S×S array: in parallel, with progress, cached on disk.

Decoding is the cost of a run on one's own photos (a 500×375 JPEG takes milliseconds; the training step on a 64 px
image far less). So files are decoded by a thread pool (PIL releases the GIL while it decodes and resizes, and
``Image.draft`` lets libjpeg decode a large JPEG at 1/2…1/8 scale) straight into a memory-mapped ``.npy``; the next
load of the same files at the same size opens that file instead of decoding again. The cache key is the file list
with each file's size and modification time and the image size, so an edited, added or removed photo decodes afresh.

A decoded set larger than the memory budget (``SSL_LENS_MEMORY_BUDGET``: bytes, or a fraction of RAM; default a
quarter of it) is handed out as the memory map itself: training then reads the pages its batches touch.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1            # bump when the decoding changes, so old caches are not reused
Progress = Callable[[int, int], None]     # (images done, total)


def cache_dir() -> Path:
    """``$SSL_LENS_CACHE``, else ``$XDG_CACHE_HOME/ssl-lens``, else ``~/.cache/ssl-lens``."""
    if os.environ.get("SSL_LENS_CACHE"):
        return Path(os.environ["SSL_LENS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ssl-lens"


def memory_budget() -> int:
    """Bytes a decoded set may take in RAM before it is served from its memory map instead."""
    raw = os.environ.get("SSL_LENS_MEMORY_BUDGET", "").strip()
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 8 << 30
    try:
        value = float(raw) if raw else 0.25
    except ValueError:
        value = 0.25
    return int(value * total) if value <= 1 else int(value)


def cache_key(files: Sequence[Path], image_size: int) -> str:
    h = hashlib.sha256(f"v{FORMAT_VERSION} {image_size}\n".encode())
    for p in files:                          # absolute paths: "runs/datasets/x" and its resolved form are one key
        st = p.stat()
        h.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


def decode_images(files: Sequence[Path], image_size: int, decode: Callable[[Path, int], np.ndarray], *,
                  progress: Progress | None = None, use_cache: bool = True,
                  workers: int | None = None) -> tuple[np.ndarray, list[int], dict[int, str]]:
    """Decode ``files`` with ``decode(path, size) → S×S×3 uint8``.

    Returns (images N_ok×3×S×S, the indices of ``files`` they came from, {index: why} of the files that failed).
    ``images`` is a (copy-on-write) memory map when the set exceeds ``memory_budget()``, else an array in memory.
    """
    key = cache_key(files, image_size) if use_cache else None
    folder = cache_dir()
    if key is not None:
        hit = _open_cached(folder, key, len(files))
        if hit is not None:
            if progress:
                progress(len(files), len(files))
            return hit
    shape = (len(files), 3, image_size, image_size)
    if key is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".npy.part", dir=folder)
            os.close(fd)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        except OSError:                     # a read-only or full cache folder: decode in memory, cache nothing
            key, out = None, np.empty(shape, np.uint8)
    else:
        out = np.empty(shape, np.uint8)
    failed: dict[int, str] = {}

    def one(i: int) -> None:
        try:
            out[i] = decode(files[i], image_size).transpose(2, 0, 1)
        except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable": skip it, say which
            failed[i] = f"{type(e).__name__}: {e}"

    n_workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(n_workers) as pool:
        for done, _ in enumerate(pool.map(one, range(len(files))), 1):
            if progress and (done % 64 == 0 or done == len(files)):
                progress(done, len(files))
    kept = [i for i in range(len(files)) if i not in failed]
    if failed:                               # compact in place: the kept images become a prefix of the array
        for row, i in enumerate(kept):
            if row != i:
                out[row] = out[i]
    if key is None:
        return out[:len(kept)], kept, failed
    out.flush()
    out = None                               # unmap before the file is renamed into place
    meta = {"kept": kept, "failed": {str(i): why for i, why in failed.items()}, "n": len(files),
            "folder": os.path.commonpath([os.path.abspath(p.parent) for p in files]) if files else ""}
    try:
        (folder / f"{key}.json").write_text(json.dumps(meta))
        os.replace(tmp, folder / f"{key}.npy")
    except OSError:
        pass
    hit = _open_cached(folder, key, len(files)) if (folder / f"{key}.npy").exists() else None
    if hit is None:                          # could not keep the cache: read back what was decoded, then drop it
        arr = np.load(tmp) if Path(tmp).exists() else np.empty((0,) + shape[1:], np.uint8)
        Path(tmp).unlink(missing_ok=True)
        return arr[:len(kept)], kept, failed
    return hit


def forget(folder: str | Path) -> int:
    """Delete the cached decodes of the images under ``folder`` (e.g. a deleted upload); returns how many."""
    folder, removed = str(Path(folder).resolve()), 0
    for meta_path in cache_dir().glob("*.json") if cache_dir().is_dir() else []:
        try:
            source = str(Path(json.loads(meta_path.read_text()).get("folder", "")).resolve())
        except (OSError, ValueError):
            continue
        if source == folder or source.startswith(folder + os.sep):
            meta_path.with_suffix(".npy").unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            removed += 1
    return removed


def _open_cached(folder: Path, key: str, n: int) -> tuple[np.ndarray, list[int], dict[int, str]] | None:
    npy, meta_path = folder / f"{key}.npy", folder / f"{key}.json"
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("n") != n:
            return None
        mm = np.load(npy, mmap_mode="c")      # copy-on-write: writable for torch, the file never changes
    except (OSError, ValueError):
        return None
    kept = [int(i) for i in meta["kept"]]
    images = mm[:len(kept)]
    if images.nbytes <= memory_budget():
        images = np.array(images)            # small enough: one sequential read, then plain memory
    return images, kept, {int(i): why for i, why in meta["failed"].items()}
