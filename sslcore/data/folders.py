"""``folder``: any ImageFolder tree, ``<root>/<class>/<image>`` (a seeded stratified 80/20 split) or
``<root>/train/<class>/…`` with ``<root>/val/…`` or ``<root>/test/…``.

Images are resized so the shorter side is ``image_size`` and then centre-cropped to a square (the aspect ratio is kept;
the borders of non-square images are cut off)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from .decode_cache import Progress, decode_images
from .imageset import ImageSet
from .seeding import DATASET_CODE, seeded_subset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _class_dirs(d: Path) -> list[Path]:
    return sorted((c for c in d.iterdir() if c.is_dir() and not c.name.startswith(".")), key=lambda c: c.name)


def _list_images(d: Path) -> list[Path]:
    """Image files anywhere under ``d`` (nested folders inside a class folder belong to that class)."""
    return sorted((p for p in d.rglob("*") if _is_image(p)), key=lambda p: str(p))


def _open_rgb(path: Path, image_size: int) -> np.ndarray:
    """Decode one image to RGB uint8 image_size×image_size×3: shorter side → image_size, then centre crop."""
    from PIL import Image
    with Image.open(path) as im:
        im.draft("RGB", (image_size, image_size))        # JPEG: decode at a reduced scale when much larger
        im.load()
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "RGB" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, rgba).convert("RGB")
        elif im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            a = np.asarray(im, dtype=np.float64)
            hi = a.max() if a.size and a.max() > 255 else 255.0
            im = Image.fromarray(np.clip(a / hi * 255, 0, 255).astype(np.uint8), "L").convert("RGB")
        elif im.mode != "RGB":
            im = im.convert("RGB")
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ValueError("empty image")
        scale = image_size / min(w, h)
        nw, nh = max(image_size, round(w * scale)), max(image_size, round(h * scale))
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)  # PIL's bilinear is antialiased
        left, top = (nw - image_size) // 2, (nh - image_size) // 2
        im = im.crop((left, top, left + image_size, top + image_size))
        return np.asarray(im, dtype=np.uint8)


def folder_layout(root: Path) -> tuple[str, dict[str, Path]]:
    """How a folder's images split into train and test, by the explicit rule of issue 16:

    - ``"splits"``: ``root/train/`` with ``root/val/`` (or ``root/test/``): those are the splits;
    - ``"train only"``: ``root/train/`` alone: a split with no test set; a stratified fifth of it is held out for
      evaluation (said so in a notice), and ``train`` is never read as a class;
    - ``"flat"``: class folders at the top: a seeded stratified 80/20 split.
    """
    train = root / "train"
    test = next((root / t for t in ("val", "test") if (root / t).is_dir()), None)
    if train.is_dir() and test is not None:
        return "splits", {"train": train, "test": test}
    if train.is_dir() and _class_dirs(train):
        return "train only", {"train": train}
    return "flat", {"train": root}


def list_folder(root: str | Path | None, split: str, seed: int = 0) -> tuple[list[tuple[Path, int]], list[str],
                                                                             list[str]]:
    """The (file, class index) pairs of one split of an image folder, the class names, and notices about the
    layout. Raises ``ConfigError`` with a one-line message for every folder that cannot be read as a dataset."""
    if root is None or str(root).strip() == "":
        raise ConfigError("data_root: the folder dataset needs --data-root DIR, a folder with one subfolder of "
                          "images per class")
    path = Path(root).expanduser()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise ConfigError(f"data_root: folder {str(path)!r} {what}; pass --data-root DIR with one "
                          f"subfolder of images per class")
    kind, dirs = folder_layout(path)
    notices = []
    if kind == "splits":
        class_dirs_all = {s: _class_dirs(d) for s, d in dirs.items()}
        classes = sorted({c.name for ds in class_dirs_all.values() for c in ds
                          if _list_images(c)})
        files = [(p, classes.index(c.name)) for c in class_dirs_all[split] if c.name in classes
                 for p in _list_images(c)]
        if not files:
            raise ConfigError(f"data_root: {str(dirs[split])!r} holds no images in class subfolders; expected "
                              f"{dirs[split]}/<class>/<image>.png ({', '.join(IMAGE_EXTENSIONS)})")
        return files, classes, notices
    top = dirs["train"]
    per_class = [(c.name, _list_images(c)) for c in _class_dirs(top)]
    per_class = [(n, f) for n, f in per_class if f]
    if not per_class:
        loose = sum(1 for p in top.iterdir() if _is_image(p))
        hint = (f"it holds {loose} image{'s' * (loose != 1)} but no class subfolders; move them into "
                f"DIR/<class>/" if loose else f"expected DIR/<class>/<image>.png ({', '.join(IMAGE_EXTENSIONS)}), "
                                             f"or DIR/train/<class>/… with DIR/val/<class>/…")
        raise ConfigError(f"data_root: folder {str(top)!r} has no images in class subfolders; {hint}")
    if kind == "train only":
        notices.append(f"{path} has train/ but no val/ or test/: a stratified 20 % of train/ is held out as the "
                       f"test split")
    classes = [n for n, _ in per_class]
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, DATASET_CODE["folder"]]))
    files = []
    for ci, (_, fs) in enumerate(per_class):     # stratified 80/20: every class in both splits when it can be
        perm = rng.permutation(len(fs))
        n_test = int(round(0.2 * len(fs))) if len(fs) >= 2 else 0
        n_test = min(max(n_test, 1 if len(fs) >= 2 else 0), len(fs) - 1)
        chosen = perm[:n_test] if split == "test" else perm[n_test:]
        files += [(fs[j], ci) for j in sorted(chosen)]
    if not files:
        raise ConfigError(f"data_root: folder {str(path)!r} has too few images for a {split} split; add "
                          f"images or use DIR/train/<class>/… with DIR/val/<class>/…")
    return files, classes, notices


_reported: set[tuple[str, str, int]] = set()        # (folder, split, image size) whose skipped files were reported


def load_folder(split: str, root: str | None, image_size: int, size: int | None, seed: int,
                progress: Progress | None = None) -> ImageSet:
    files, classes, notices = list_folder(root, split, seed)
    sub = seeded_subset(len(files), size, seed)
    if sub is not None:
        files = [files[i] for i in sub.tolist()]
    images, kept, failed = decode_images([p for p, _ in files], image_size, _open_rgb,
                                         progress=progress or _bar(len(files), split))
    path = str(Path(str(root)).expanduser())
    if not kept:
        raise ConfigError(f"data_root: no readable images in {path!r} for split {split!r} "
                          f"({len(failed)} unreadable, e.g. {files[min(failed)][0].name}: {failed[min(failed)]})")
    if failed:
        names = ", ".join(files[i][0].name for i in sorted(failed)[:3]) + (", …" if len(failed) > 3 else "")
        notices.append(f"skipped {len(failed)} unreadable file{'s' * (len(failed) != 1)} of {len(files)} in "
                       f"{path} ({split}): {names}")
        key = (path, split, image_size)
        if key not in _reported:                         # once per dataset, not on every load of it
            _reported.add(key)
            warnings.warn(f"folder: {notices[-1]}", stacklevel=3)
    labels = torch.tensor([files[i][1] for i in kept], dtype=torch.int64)
    return ImageSet(torch.from_numpy(images), labels, classes, {}, {}, "folder", split, notices)


def _bar(total: int, split: str) -> Progress | None:
    """A progress bar on stderr while a large folder decodes (nothing for a few hundred images)."""
    if total < 1000:
        return None
    from tqdm import tqdm
    bar = tqdm(total=total, unit="img", desc=f"decoding {split}", leave=False, dynamic_ncols=True)

    def update(done: int, n: int) -> None:
        bar.n = done
        bar.refresh()
        if done >= n:
            bar.close()
    return update
