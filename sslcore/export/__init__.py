"""Export a run so tools other than SSL Lens can use it: the backbone for plain PyTorch, the metrics as CSV,
TensorBoard event files, and the TensorBoard projector's format. ``python -m sslcore export RUN`` drives all four.

``export_backbone(store, run_id, out=None, step=None)`` → path of ``backbone.pt`` (the backbone's state_dict, keys as
    in the plain class), with ``backbone.json`` (how to load it) and, for the default convnet, ``convnet.py``: a
    self-contained module definition that loads the weights with nothing but torch installed.
``metrics_csv(store, run_ids, up_to_step=None)`` → CSV text, one row per logged value (long format);
    ``write_metrics_csv(store, run_id, path)`` writes it; ``read_metrics_csv(path)`` reads it back into the
    store's ``metrics()`` shape per run.
``export_tensorboard(store, run_id, logdir, up_to_step=None)`` → the event file folder (scalars + matrix snapshots
    as images); needs the optional ``tensorboard`` package and says so in one line when it is missing.
``export_projector(store, run_id, folder, step=None)`` → ``tensors.tsv``, ``metadata.tsv`` (class and every factor),
    ``sprite.png`` (square grid of thumbnails), ``projector_config.pbtxt`` (TensorBoard) and
    ``projector_config.json`` (the standalone projector).
"""
from __future__ import annotations

from .backbone import export_backbone
from .metrics_csv import metrics_csv, read_metrics_csv, write_metrics_csv
from .projector import export_projector
from .tensorboard import export_tensorboard

__all__ = ["export_backbone", "metrics_csv", "read_metrics_csv", "write_metrics_csv", "export_projector",
           "export_tensorboard"]
