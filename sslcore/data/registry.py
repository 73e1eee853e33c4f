"""The dataset registry: what each dataset is (``DATASETS``) and the one entry point that loads a split of any of
them (``load_dataset``), validating its arguments first."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .digits import DIGIT_CLASSES, digit_factor_names, digits_cached
from .folders import load_folder
from .imageset import DatasetInfo, ImageSet
from .shapes import DEFAULT_SIZES, SHAPE_CLASSES, shape_factor_names, shapes_cached
from .torchvision_sets import load_cifar10, load_stl10

DATASETS: dict[str, DatasetInfo] = {
    "shapes": DatasetInfo(
        "shapes", "8 generated light shapes on darker backgrounds, with random colour, background colour and "
        "texture, size, position and rotation (built in, nothing to download)", ("train", "test"), True, True, 32,
        ("colour", "background", "background_colour", "size", "position", "rotation")),
    "digits": DatasetInfo(
        "digits", "scikit-learn's 8×8 digits, upscaled, coloured and placed at random on a larger canvas "
        "(built in)", ("train", "test"), True, True, 32, ("colour", "background", "position", "size")),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10: 60k 32 px photos in 10 classes (needs --data-root, or --download)",
        ("train", "test"), False, False, 32),
    "stl10": DatasetInfo(
        "stl10", "STL-10: 96 px photos, 10 classes, 5k labelled + 100k unlabeled (needs --data-root, or --download); "
        "pre-train on 'train+unlabeled' (label −1 on the unlabeled images)",
        ("train", "test", "unlabeled", "train+unlabeled"), False, False, 96),
    "folder": DatasetInfo(
        "folder", "your own images: --data-root DIR with one subfolder per class (optionally under train/ and "
        "val/ or test/)", ("train", "test"), False, False, 64),
}


def describe_datasets() -> list[dict]:
    """One row per dataset, for ``python -m sslcore datasets`` and the Train page."""
    return [{"name": i.name, "description": i.description, "splits": list(i.splits), "factors": list(i.factors),
             "embedded": i.embedded, "default_image_size": i.default_image_size} for i in DATASETS.values()]


# ----------------------------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------------------------
def load_dataset(name: str, split: str = "train", *, root: str | None = None, image_size: int | None = None,
                 size: int | None = None, download: bool = False, seed: int = 0) -> ImageSet:
    """Load one split of a dataset into memory.

    ``image_size``: side of the returned square images (default: the dataset's native / default size).
    ``size``: generated datasets: how many images to generate; the others: a seeded random subset of that many.
    ``seed``: drives generation, subsets and the folder 80/20 split. Invalid arguments raise ``ConfigError``.
    """
    if name not in DATASETS:
        raise ConfigError(f"dataset: unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    info = DATASETS[name]
    if split not in info.splits:
        raise ConfigError(f"split: dataset {name!r} has no split {split!r}; choose one of: {', '.join(info.splits)}")
    size_field = "test_size" if split == "test" else "train_size"
    if size is not None and (not is_int(size) or size <= 0):
        raise ConfigError(f"{size_field}: must be a positive whole number, got {size!r}; "
                          f"leave it empty for the whole split")
    if image_size is not None and (not is_int(image_size) or image_size <= 0):
        raise ConfigError(f"image_size: must be a positive whole number, got {image_size!r}")
    if not is_int(seed):
        raise ConfigError(f"seed: must be a whole number, got {seed!r}")
    size = None if size is None else int(size)
    seed = int(seed)

    if name == "shapes":
        s = int(image_size or info.default_image_size)
        n = size if size is not None else DEFAULT_SIZES[split]
        _check_generated_budget(n, s, size_field)
        images, labels, factors = shapes_cached(split, s, n, seed)
        return ImageSet(images.clone(), labels.clone(), list(SHAPE_CLASSES),
                        {k: v.clone() for k, v in factors.items()}, shape_factor_names(), name, split)
    if name == "digits":
        s = int(image_size or info.default_image_size)
        if size is not None:
            _check_generated_budget(size, s, size_field)
        images, labels, factors = digits_cached(split, s, size, seed)
        return ImageSet(images.clone(), labels.clone(), list(DIGIT_CLASSES),
                        {k: v.clone() for k, v in factors.items()}, digit_factor_names(), name, split)
    if name == "cifar10":
        return load_cifar10(split, root, image_size, size, download, seed)
    if name == "stl10":
        return load_stl10(split, root, image_size, size, download, seed)
    return load_folder(split, root, image_size or info.default_image_size, size, seed)


def is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_generated_budget(n: int, s: int, size_field: str) -> None:
    if n * 3 * s * s > 4 * 2**30:  # 4 GiB of uint8
        raise ConfigError(f"{size_field}: {n} images of {s} px would need {n * 3 * s * s / 2**30:.1f} GiB; "
                          f"ask for fewer images or a smaller --image-size")
