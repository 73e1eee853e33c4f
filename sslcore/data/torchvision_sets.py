"""``cifar10`` and ``stl10`` through torchvision's readers (nothing is downloaded unless ``download=True``)."""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .imageset import ImageSet
from .seeding import seeded_subset

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def default_data_root() -> str:
    """Where cifar10 / stl10 look when no root is given: ``$SSL_LENS_DATA``, else ``./data``."""
    return os.environ.get("SSL_LENS_DATA") or "data"


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 2048) -> torch.Tensor:
    """Antialiased bilinear resize of a uint8 N×C×H×W batch to size×size (chunked to bound memory)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, images.shape[0], chunk):
        x = images[i:i + chunk].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i:i + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _finish(images: torch.Tensor, labels: torch.Tensor, class_names: list[str], name: str, split: str,
            image_size: int | None, size: int | None, seed: int) -> ImageSet:
    sub = seeded_subset(images.shape[0], size, seed)
    if sub is not None:
        images, labels = images[sub], labels[sub]
    if image_size is not None:
        images = resize_uint8(images, image_size)
    return ImageSet(images.contiguous(), labels.long(), class_names, {}, {}, name, split)


def _missing(name: str, folder: str, root: str) -> ConfigError:
    return ConfigError(f"data_root: {name} not found in {root}; put the extracted {folder!r} folder there "
                       f"(--data-root DIR expects DIR/{folder}/…) or pass --download")


def load_cifar10(split: str, root: str | None, image_size: int | None, size: int | None, download: bool,
                  seed: int) -> ImageSet:
    from torchvision.datasets import CIFAR10
    root = str(root or default_data_root())
    try:
        ds = CIFAR10(root, train=(split == "train"), download=download)
    except RuntimeError as e:
        if download:
            raise ConfigError(f"data_root: could not download CIFAR-10 into {root} ({e}); download "
                              f"cifar-10-python.tar.gz yourself and extract it there") from None
        raise _missing("CIFAR-10", "cifar-10-batches-py", root) from None
    except OSError as e:  # e.g. no network while downloading
        raise ConfigError(f"data_root: could not get CIFAR-10 into {root} ({e}); put the extracted "
                          f"'cifar-10-batches-py' folder there yourself") from None
    images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)
    labels = torch.as_tensor(np.asarray(ds.targets, dtype=np.int64))
    classes = list(getattr(ds, "classes", None) or CIFAR10_CLASSES)
    return _finish(images, labels, classes, "cifar10", split, image_size, size, seed)


def load_stl10(split: str, root: str | None, image_size: int | None, size: int | None, download: bool,
                seed: int) -> ImageSet:
    from torchvision.datasets import STL10
    root = str(root or default_data_root())
    try:
        ds = STL10(root, split=split, download=download)
    except RuntimeError as e:
        if download:
            raise ConfigError(f"data_root: could not download STL-10 into {root} ({e}); download "
                              f"stl10_binary.tar.gz yourself and extract it there") from None
        raise _missing("STL-10", "stl10_binary", root) from None
    except OSError as e:
        raise ConfigError(f"data_root: could not get STL-10 into {root} ({e}); put the extracted "
                          f"'stl10_binary' folder there yourself") from None
    images = torch.from_numpy(np.ascontiguousarray(ds.data))           # N×3×96×96 already
    labels = torch.as_tensor(np.asarray(ds.labels, dtype=np.int64))
    classes = list(getattr(ds, "classes", None) or STL10_CLASSES)
    return _finish(images, labels, classes, "stl10", split, image_size, size, seed)


# ----------------------------------------------------------------------------------------------------------------------
