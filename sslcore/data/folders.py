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


def _folder_layout(root: Path) -> dict[str, Path] | None:
    """Explicit split dirs ({"train": root/train, "test": root/val or root/test}), or None for a flat tree."""
    train = root / "train"
    test = next((root / t for t in ("val", "test") if (root / t).is_dir()), None)
    if train.is_dir() and test is not None:
        return {"train": train, "test": test}
    return None


def load_folder(split: str, root: str | None, image_size: int, size: int | None, seed: int) -> ImageSet:
    if root is None or str(root).strip() == "":
        raise ConfigError("data_root: the folder dataset needs --data-root DIR, a folder with one subfolder of "
                          "images per class")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(f"data_root: folder {str(path)!r} does not exist; pass --data-root DIR with one "
                          f"subfolder of images per class")
    layout = _folder_layout(path)
    if layout is not None:
        class_dirs_all = {s: _class_dirs(d) for s, d in layout.items()}
        classes = sorted({c.name for ds in class_dirs_all.values() for c in ds
                          if _list_images(c)})
        files = [(p, classes.index(c.name)) for c in class_dirs_all[split] if c.name in classes
                 for p in _list_images(c)]
        if not files:
            raise ConfigError(f"data_root: {str(layout[split])!r} holds no images in class subfolders; expected "
                              f"{layout[split]}/<class>/<image>.png ({', '.join(IMAGE_EXTENSIONS)})")
    else:
        per_class = [(c.name, _list_images(c)) for c in _class_dirs(path)]
        per_class = [(n, f) for n, f in per_class if f]
        if not per_class:
            raise ConfigError(f"data_root: folder {str(path)!r} has no images in class subfolders; expected "
                              f"DIR/<class>/<image>.png ({', '.join(IMAGE_EXTENSIONS)}), or DIR/train/<class>/… "
                              f"with DIR/val/<class>/…")
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
    sub = seeded_subset(len(files), size, seed)
    if sub is not None:
        files = [files[i] for i in sub.tolist()]
    arrays, labels = [], []
    for p, ci in files:
        try:
            arrays.append(_open_rgb(p, image_size))
            labels.append(ci)
        except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable": skip it, say which
            warnings.warn(f"folder: skipping unreadable image {p} ({type(e).__name__}: {e})", stacklevel=3)
    if not arrays:
        raise ConfigError(f"data_root: no readable images in {str(path)!r} for split {split!r}; check the files")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64), classes, {}, {}, "folder", split)
