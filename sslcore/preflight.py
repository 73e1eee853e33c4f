"""What can be checked about a run before it starts, in about a second and without loading a single image: the
training data exists, holds enough images for a batch, and decodes to a size that fits in memory.

``runs.launch`` runs ``check_data`` so that a bad run is refused in one line instead of failing later in the
background; the trainer runs ``check_memory`` before it loads the data (``--image-size 4096`` on 64 images once
took 5.5 GB and printed nothing for minutes).
"""
from __future__ import annotations

import os
from pathlib import Path

from . import limits
from .config import RunConfig
from .errors import ConfigError

# Images of each training split of the datasets whose files we do not list (torchvision's readers load them whole).
KNOWN_TRAIN_IMAGES = {("cifar10", "train"): 50_000, ("stl10", "train"): 5_000, ("stl10", "unlabeled"): 100_000,
                      ("stl10", "train+unlabeled"): 105_000}
NATIVE_SIZE = {"cifar10": 32, "stl10": 96}        # they are decoded at this size before any resize
DATA_FOLDER = {"cifar10": "cifar-10-batches-py", "stl10": "stl10_binary"}


def check_data(cfg: RunConfig, caps: limits.Limits = limits.DEFAULT) -> int:
    """Raise ``ConfigError`` if the run's training data is missing, too small for its batch, or too large for
    memory; return how many training images it has."""
    n = training_images(cfg)
    from .data.batching import fit_batch_size
    from .methods import METHODS

    min_batch = 2 if METHODS[cfg.method.name].needs_batch_stats else 1
    fit_batch_size(cfg.optim.batch_size, n, explicit=not cfg.optim.fit_batch, world=cfg.nproc, min_batch=min_batch)
    check_memory(cfg, n, caps)
    return n


def training_images(cfg: RunConfig) -> int:
    """How many images the run trains on, counted without decoding them (a missing dataset is a ConfigError)."""
    d = cfg.data
    if d.dataset == "shapes":
        from .data.shapes import DEFAULT_SIZES

        return d.train_size or DEFAULT_SIZES["train"]
    if d.dataset == "digits":
        from .data.digits import digits_split_indices

        return d.train_size or len(digits_split_indices("train"))
    if d.dataset == "folder":
        from .data.folders import list_folder

        files, _, _ = list_folder(d.root, "train", cfg.seed)
        return min(len(files), d.train_size or len(files))
    if d.dataset in DATA_FOLDER:
        from .data import default_data_root

        root = Path(d.root or default_data_root()).expanduser()
        if not d.download and not (root / DATA_FOLDER[d.dataset]).is_dir():
            raise ConfigError(f"data_root: {d.dataset} not found in {root}; put the extracted "
                              f"{DATA_FOLDER[d.dataset]!r} folder there (--data-root DIR) or pass --download")
        n = KNOWN_TRAIN_IMAGES[(d.dataset, d.train_split)]
        return min(n, d.train_size or n)
    raise ConfigError(f"dataset: unknown dataset {d.dataset!r}")


def decoded_bytes(n_images: int, image_size: int, native_size: int = 0) -> int:
    """Bytes of the decoded set, uint8 N×3×S×S (at the larger of the native and the asked size while resizing)."""
    side = max(image_size, native_size)
    return n_images * 3 * side * side


def available_memory() -> int | None:
    """Bytes the kernel says it can give without swapping (MemAvailable), or None where it does not say."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(cfg: RunConfig, n_images: int, caps: limits.Limits = limits.DEFAULT,
                 available: int | None = None) -> None:
    """Refuse, with the figures, a decoded training set larger than ``caps.memory_fraction`` of free memory."""
    need = decoded_bytes(n_images, cfg.data.image_size, NATIVE_SIZE.get(cfg.data.dataset, 0))
    available = available_memory() if available is None else available
    if available is None or need <= caps.memory_fraction * available:
        return
    raise ConfigError(f"image_size: {n_images:,} images of {cfg.data.image_size} px decode to {_gib(need)}, more "
                      f"than {caps.memory_fraction:.0%} of the {_gib(available)} of memory free now; use a smaller "
                      f"--image-size or fewer images (--train-size)")


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
