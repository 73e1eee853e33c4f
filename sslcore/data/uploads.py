"""Datasets uploaded from a browser: a .zip or a folder of an ImageFolder tree becomes ``<runs_dir>/datasets/<name>/``.

Everything that arrives is hostile until checked (the app may be served to a network):

- names: a dataset is picked by NAME (``DATASET_NAME``); ``resolve_uploaded`` maps it to its folder on the server,
  so a browser never sends a path;
- entries: a member whose name is absolute, has a drive, climbs out with ``..``, or is a symlink refuses the upload;
- size: the number of files and the bytes they unpack to are capped (``UploadLimits``, from the environment), counted
  while unpacking (a zip's declared sizes can lie), so a zip bomb stops at the cap with a message naming it;
- content: members that are not images (by extension, then by PIL reading their header) are left out and counted.

The upload unpacks into a hidden staging folder that is renamed into place only when complete, so a failed or
interrupted upload leaves nothing half-made behind. Then its images are decoded once (into the decode cache) so
the first run on it starts at once. Used by the app's upload widget (``lens_ui/upload.py``) and by
``python -m sslcore datasets``.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import ConfigError
from . import decode_cache
from .folders import IMAGE_EXTENSIONS, list_folder, load_folder

UPLOADS = "datasets"                                   # <runs_dir>/datasets/<name>/
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESERVED_NAMES = {"shapes", "digits", "cifar10", "stl10", "folder"}
IGNORED = re.compile(r"(^|/)(__MACOSX|\.[^/]*|Thumbs\.db|desktop\.ini)(/|$)", re.IGNORECASE)  # OS clutter
Progress = Callable[[float, str], None]                # (fraction done, what is happening)
CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadLimits:
    """Caps on one upload — configuration (``SSL_LENS_UPLOAD_MAX_MB``, ``SSL_LENS_UPLOAD_MAX_FILES``)."""
    max_mb: int = 1024            # bytes the upload unpacks to, in MB
    max_files: int = 50_000       # members of a zip / files of a folder

    @classmethod
    def from_env(cls, environ: dict | None = None) -> UploadLimits:
        env = os.environ if environ is None else environ
        values = {}
        for field, var in (("max_mb", "SSL_LENS_UPLOAD_MAX_MB"), ("max_files", "SSL_LENS_UPLOAD_MAX_FILES")):
            raw = env.get(var, "").strip()
            if raw:
                if not raw.isdigit() or int(raw) <= 0:
                    raise ConfigError(f"{var}: must be a positive whole number, got {raw!r}")
                values[field] = int(raw)
        return cls(**values)


def uploads_dir(runs_dir: str | Path) -> Path:
    return Path(runs_dir) / UPLOADS


def check_name(name: str) -> str:
    """The dataset name, or a ConfigError saying what a name may be."""
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name):
        raise ConfigError(f"name: {str(name)[:80]!r} is not a dataset name; use 1–64 letters, digits, '_', '-' or "
                          f"'.', starting with a letter or digit")
    if name.lower() in RESERVED_NAMES:
        raise ConfigError(f"name: {name!r} is a built-in dataset's name; pick another")
    return name


def resolve_uploaded(runs_dir: str | Path, name: str) -> Path:
    """The folder of uploaded dataset ``name``, on the server. A name that is not a dataset name, or whose folder
    is not a plain folder directly inside ``<runs_dir>/datasets/``, is a ConfigError; nothing else is reachable."""
    check_name(name)
    base = uploads_dir(runs_dir).resolve()
    folder = base / name
    if folder.is_symlink() or not folder.is_dir() or folder.resolve().parent != base:
        raise ConfigError(f"dataset: no uploaded dataset named {name!r}; see `python -m sslcore datasets`")
    return folder


def list_uploaded(runs_dir: str | Path) -> list[dict]:
    """One row per uploaded dataset: name, path, images, classes, layout, MB, uploaded (epoch seconds)."""
    base = uploads_dir(runs_dir)
    rows = []
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        if folder.is_symlink() or not folder.is_dir() or not DATASET_NAME.fullmatch(folder.name):
            continue
        files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        try:
            train, classes, notices = list_folder(folder, "train")
            test, _, _ = list_folder(folder, "test")
            layout = f"{len(train)} train / {len(test)} test" + (" (held out)" if notices else "")
        except ConfigError as e:
            classes, layout = [], f"unusable: {e}"
        rows.append({"name": folder.name, "path": str(folder), "images": len(files), "classes": classes,
                     "layout": layout, "mb": round(sum(p.stat().st_size for p in files) / 2**20, 1),
                     "uploaded": folder.stat().st_mtime})
    return rows


def delete_uploaded(runs_dir: str | Path, name: str) -> None:
    """Delete an uploaded dataset's folder and its decoded copies in the cache."""
    folder = resolve_uploaded(runs_dir, name)
    shutil.rmtree(folder)
    decode_cache.forget(folder)


def save_upload(runs_dir: str | Path, name: str, files: Iterable[tuple[str, BinaryIO]], *,
                limits: UploadLimits | None = None, progress: Progress | None = None,
                image_size: int = 64) -> dict:
    """Store an upload as dataset ``name``: ``files`` is one ``("x.zip", stream)`` or several ``(relative path,
    stream)`` of a folder's images. Returns {"name", "path", "images", "classes", "notices"}; a refusal raises a
    one-line ConfigError and leaves nothing behind."""
    limits = limits or UploadLimits.from_env()
    progress = progress or (lambda fraction, message: None)
    check_name(name)
    base = uploads_dir(runs_dir)
    if (base / name).exists():
        raise ConfigError(f"name: a dataset named {name!r} exists; pick another name or delete it first")
    files = list(files)
    if not files:
        raise ConfigError("upload: no files; choose a .zip of an image folder, or the images themselves")
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".upload-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        if len(files) == 1 and files[0][0].lower().endswith(".zip"):
            members = _zip_members(files[0][1], limits)
        else:
            members = _folder_members(files, limits)
        skipped = _unpack(members, staging, limits, progress)
        root = _single_top_folder(staging)
        images = [p for p in root.rglob("*") if p.is_file()]
        if not images:
            raise ConfigError(f"upload: no readable images in it ({', '.join(IMAGE_EXTENSIONS)})"
                              + (f"; left out {len(skipped)} files, e.g. {skipped[0]}" if skipped else ""))
        notices = []
        if skipped:
            notices.append(f"left out {len(skipped)} file{'s' * (len(skipped) != 1)} that are not readable images: "
                           + ", ".join(skipped[:3]) + (", …" if len(skipped) > 3 else ""))
        if not any(p.is_dir() for p in root.iterdir()):      # loose images: one class, named after the dataset
            cls = root / name
            cls.mkdir()
            for p in images:
                p.rename(cls / p.name)
            notices.append("no class folders: every image is in one class, so evaluation has no classes to "
                           "tell apart; upload <class>/<image> folders for kNN and linear accuracy")
        try:                                                # the layout makes a dataset (or a one-line refusal)
            for split in ("train", "test"):
                list_folder(root, split)
        except ConfigError as e:                            # said of the upload, not of the staging folder
            raise ConfigError("upload: " + str(e).removeprefix("data_root: ").replace(str(root), name)) from None
        try:
            os.replace(root, base / name)
        except OSError:                                     # another upload of the same name finished first
            raise ConfigError(f"name: a dataset named {name!r} exists; pick another name or delete it first") \
                from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    folder = (base / name).resolve()
    try:                                                    # decoded once now, where it stays: the first run starts
        for split in ("train", "test"):                     # at once from the cache
            load_folder(split, str(folder), image_size, None, 0,
                        progress=lambda done, total, s=split: progress(0.5 + 0.25 * (s == "test") + 0.25 * done
                                                                       / max(total, 1), f"decoding {s} images "
                                                                       f"{done}/{total}"))
    except ConfigError as e:                                # e.g. every image of a split unreadable
        shutil.rmtree(folder, ignore_errors=True)
        decode_cache.forget(folder)
        why = str(e).partition("' for split ")[2].partition(" (")[2][:-1] or "unreadable"  # not the server path
        raise ConfigError(f"upload: the images do not decode ({why}); nothing was stored") from None
    train, classes, layout_notices = list_folder(folder, "train")
    progress(1.0, "done")
    return {"name": name, "path": str(base / name), "images": len(images), "classes": classes,
            "notices": notices + layout_notices}


# ----------------------------------------------------------------------------------------------------------------------
# Members: (safe relative path, size, opener) from a zip or a folder upload, refused when hostile
# ----------------------------------------------------------------------------------------------------------------------
def _safe_relative(raw: str) -> PurePosixPath:
    """A member name as a relative path inside the dataset, or a ConfigError naming the entry."""
    name = raw.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if (not name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name)
            or any(p == ".." for p in parts)):
        raise ConfigError(f"upload: entry {raw[:120]!r} points outside the dataset folder; refused")
    return PurePosixPath(*[p for p in parts if p not in ("", ".")])


def _zip_members(stream: BinaryIO, limits: UploadLimits):
    try:
        zf = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ConfigError(f"upload: not a readable .zip file ({e})") from None
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise ConfigError(f"upload: the zip holds {len(infos):,} entries, over the cap of {limits.max_files:,} "
                          f"files (upload max_files, SSL_LENS_UPLOAD_MAX_FILES)")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_mb * 2**20:
        raise ConfigError(f"upload: the zip unpacks to {declared / 2**20:,.0f} MB, over the cap of "
                          f"{limits.max_mb:,} MB (upload max_mb, SSL_LENS_UPLOAD_MAX_MB)")
    members = []
    for info in infos:
        rel = _safe_relative(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ConfigError(f"upload: entry {info.filename[:120]!r} is a symbolic link; refused")
        if info.is_dir() or not rel.parts:
            continue
        members.append((rel, info.file_size, lambda info=info: zf.open(info)))
    return members


def _folder_members(files: list[tuple[str, BinaryIO]], limits: UploadLimits):
    if len(files) > limits.max_files:
        raise ConfigError(f"upload: {len(files):,} files, over the cap of {limits.max_files:,} files "
                          f"(upload max_files, SSL_LENS_UPLOAD_MAX_FILES)")
    members = []
    for raw, stream in files:
        rel = _safe_relative(raw)
        size = getattr(stream, "size", None) or 0
        members.append((rel, size, lambda stream=stream: _rewound(stream)))
    return members


def _rewound(stream: BinaryIO) -> BinaryIO:
    stream.seek(0)
    return stream


def _unpack(members, staging: Path, limits: UploadLimits, progress: Progress) -> list[str]:
    """Write the image members under ``staging``; return the names of those left out. The byte cap is counted on
    what is actually read."""
    from PIL import Image, UnidentifiedImageError

    cap, written, skipped = limits.max_mb * 2**20, 0, []
    last = time.monotonic()
    for n, (rel, _, opener) in enumerate(members, 1):
        name = str(rel)
        if IGNORED.search(name):
            continue
        if rel.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append(name)
            continue
        target = staging.joinpath(*rel.parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with opener() as src, open(target, "wb") as dst:
                while chunk := src.read(CHUNK):
                    written += len(chunk)
                    if written > cap:
                        raise ConfigError(f"upload: unpacks to more than the cap of {limits.max_mb:,} MB (upload "
                                          f"max_mb, SSL_LENS_UPLOAD_MAX_MB); stopped at {name!r}")
                    dst.write(chunk)
        except (OSError, zipfile.BadZipFile) as e:
            raise ConfigError(f"upload: cannot unpack {name!r} ({getattr(e, 'strerror', None) or e})") from None
        try:                                  # the header says it is an image (a full decode comes next)
            with Image.open(target) as im:
                im.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            target.unlink()
            skipped.append(name)
        if time.monotonic() - last > 0.2 or n == len(members):
            progress(0.5 * n / len(members), f"unpacking {n}/{len(members)}: {name[:60]}")
            last = time.monotonic()
    return skipped


def _single_top_folder(staging: Path) -> Path:
    """``photos.zip`` often holds ``photos/train/…``: the dataset is that one folder, unless it is a split or a
    class (then ``staging`` itself is the tree)."""
    entries = [p for p in staging.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in ("train", "val", "test"):
        inner = entries[0]
        if any(c.is_dir() for c in inner.iterdir()):
            return inner
    return staging
