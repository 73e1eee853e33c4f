"""A run as TensorBoard event files: every logged metric as a scalar (at its step and wall time) and every matrix
snapshot as an image, so ``tensorboard --logdir DIR`` shows the run beside any other exported into DIR."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..runs import RunStore

MIN_IMAGE_SIDE = 256   # a 32×32 block drawn 1 px per cell is a smudge in TensorBoard's image panel


def _writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:   # torch's writer needs the tensorboard package, an optional extra here
        raise ConfigError("tensorboard: the optional tensorboard package is not installed; "
                          "run `pip install -r requirements-extras.txt` (or `pip install tensorboard`)") from None
    return SummaryWriter


def matrix_image(matrix: np.ndarray) -> np.ndarray:
    """A correlation-like matrix (values in [−1, 1]) as an H×W×3 uint8 image: blue −1, white 0, red +1, each cell
    an equal square block of at least MIN_IMAGE_SIDE pixels in all."""
    v = np.clip(np.nan_to_num(matrix.astype(np.float32)), -1, 1)
    pos, neg = np.clip(v, 0, 1), np.clip(-v, 0, 1)
    rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], axis=-1)   # white fades to red (pos) or blue (neg)
    scale = max(1, -(-MIN_IMAGE_SIDE // max(v.shape)))
    return (np.kron(rgb, np.ones((scale, scale, 1))) * 255).round().astype(np.uint8)


def export_tensorboard(store: RunStore, run_id: str, logdir: Path, up_to_step: int | None = None) -> Path:
    """Write ``logdir/<run_id>/events.out.tfevents.*``; returns that folder."""
    writer_class = _writer_class()
    store.get(run_id, refresh=False)   # RunNotFound before any folder is made
    folder = Path(logdir) / run_id
    metrics = store.metrics(run_id)
    wall_at = dict(zip(metrics.get("loss", {}).get("step", []), metrics.get("loss", {}).get("wall_time", [])))
    writer = writer_class(log_dir=str(folder))
    try:
        for name, series in metrics.items():
            for step, value, wall in zip(series["step"], series["value"], series["wall_time"]):
                if (up_to_step is None or step <= up_to_step) and np.isfinite(value):
                    writer.add_scalar(name, value, global_step=int(step), walltime=float(wall))
        for snap in store.snapshots(run_id):
            step = int(snap["step"])
            if up_to_step is None or step <= up_to_step:
                image = matrix_image(store.load_snapshot(run_id, step, snap["kind"]))
                writer.add_image(f"matrix/{snap['kind']}", image, global_step=step, walltime=wall_at.get(step),
                                 dataformats="HWC")
    finally:
        writer.close()
    return folder
