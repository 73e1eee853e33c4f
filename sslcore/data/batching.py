"""How a training set is cut into batches: a default batch lowered to fit a small set, and an epoch's batch bounds.

Two rules a user of a small photo folder expects (issue 15): a default batch larger than the set is lowered to the
largest power of two that fits (with a notice saying so), while a batch asked for explicitly that does not fit stays
an error; and every image is seen every epoch on small sets: the incomplete last batch is kept unless it is under a
tenth of the set (large sets: a random few per epoch, as ``DataLoader(drop_last=True)``), and a last batch too small
for batch statistics is merged into the one before it, so a batch of one never reaches BatchNorm.
"""
from __future__ import annotations

from ..errors import ConfigError

KEEP_LAST_FRACTION = 0.1     # the incomplete last batch is dropped only when it is less than this part of the set


def fit_batch_size(requested: int, n_images: int, *, explicit: bool, world: int = 1,
                   min_batch: int = 2) -> tuple[int, str | None]:
    """The batch to train with and a notice when it differs from ``requested``.

    ``explicit``: the user asked for ``requested`` (a flag or a form field they changed): too large is an error.
    ``world``: processes the batch is split over (the batch stays a multiple of it).
    """
    if requested <= n_images:
        return requested, None
    if explicit:
        raise ConfigError(f"batch_size: {requested} is larger than the training set ({n_images} images); "
                          f"lower --batch-size")
    batch = 1 << (n_images.bit_length() - 1) if n_images > 0 else 0      # largest power of two ≤ n
    batch -= batch % world
    if batch < max(min_batch, world):
        raise ConfigError(f"batch_size: the training set has {n_images} image{'s' * (n_images != 1)}, too few "
                          f"for a batch of {max(min_batch, world)}; add images")
    return batch, f"batch {requested} → {batch}: the training set has {n_images} images"


def epoch_batches(n_images: int, batch: int, *, world: int = 1, min_batch: int = 2) -> list[tuple[int, int]]:
    """(start, size) of each batch of an epoch over a shuffled order of ``n_images``.

    Full batches, then the remainder as a last batch when it is at least ``KEEP_LAST_FRACTION`` of the set (a
    multiple of ``world``); a remainder smaller than ``min_batch`` per process joins the batch before it.
    """
    full, rest = divmod(n_images, batch)
    bounds = [(i * batch, batch) for i in range(full)]
    rest -= rest % world
    if rest and (not bounds or rest >= KEEP_LAST_FRACTION * n_images):
        if rest >= min_batch * world or not bounds:
            bounds.append((full * batch, rest))
        else:
            start, size = bounds[-1]
            bounds[-1] = (start, size + rest)
    return bounds
