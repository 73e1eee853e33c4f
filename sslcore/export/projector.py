"""A run's saved embedding in the TensorBoard projector's format: ``tensors.tsv`` (one feature vector a line),
``metadata.tsv`` (class and every factor, with a header), ``sprite.png`` (a square grid of the test thumbnails, in
the same order) and the config — ``projector_config.pbtxt`` for TensorBoard, ``projector_config.json`` for the
standalone projector."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ConfigError
from ..runs import RunStore

SPRITE_MAX_SIDE = 8192   # the projector refuses sprites larger than 8192×8192 pixels
THUMB_MAX_SIDE = 64


def _tsv_cell(text: str) -> str:
    """Class and folder names can come from a user's upload: a tab or newline would shift every later column."""
    return " ".join(str(text).split())


def _named(values: np.ndarray, names: list[str] | None) -> list[str]:
    names = names or []
    return [_tsv_cell(names[v]) if 0 <= v < len(names) else ("unlabeled" if v < 0 else str(v))
            for v in (int(x) for x in values)]


def write_sprite(images: np.ndarray, path: Path) -> int:
    """uint8 N×3×H×W → a square grid PNG, row-major in the points' order; returns the thumbnail side."""
    n, side = len(images), int(images.shape[-1])
    grid = math.ceil(math.sqrt(n))
    thumb = max(1, min(side, THUMB_MAX_SIDE, SPRITE_MAX_SIDE // grid))
    sheet = Image.new("RGB", (grid * thumb, grid * thumb), "white")
    for i, img in enumerate(images):
        tile = Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)))
        if thumb != side:
            tile = tile.resize((thumb, thumb), Image.Resampling.BILINEAR)
        sheet.paste(tile, ((i % grid) * thumb, (i // grid) * thumb))
    sheet.save(path)
    return thumb


def _test_images(emb: dict) -> np.ndarray:
    from ..data import load_dataset

    meta = emb["meta"]
    test = load_dataset(meta["dataset"], "test", root=meta.get("root"), image_size=int(meta["image_size"]),
                        size=meta.get("test_size"), seed=int(meta.get("seed", 0)))
    return test.images.numpy()[np.asarray(emb["indices"], dtype=np.int64)]


def export_projector(store: RunStore, run_id: str, folder: Path, step: int | None = None) -> dict:
    """Write the projector files for the embedding saved at ``step`` (default: the latest) into ``folder``.
    Returns ``{"folder", "step", "points", "dim", "sprite"}``; ``sprite`` is None, with ``sprite_error`` saying why,
    when the run's test images cannot be loaded any more (the features and metadata are written all the same)."""
    from ..evaluate import load_embedding

    emb = load_embedding(store, run_id, step)   # RunNotFound names the steps that have one
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    features = emb["features"].astype(np.float32)
    np.savetxt(folder / "tensors.tsv", features, fmt="%.6g", delimiter="\t")

    columns = {"class": _named(emb["labels"], emb["class_names"])}
    columns |= {name: _named(values, emb["factor_names"].get(name)) for name, values in emb["factors"].items()}
    lines = ["\t".join(["index", *map(_tsv_cell, columns)])]
    lines += ["\t".join([str(int(i)), *(col[row] for col in columns.values())])
              for row, i in enumerate(emb["indices"])]
    (folder / "metadata.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = {"folder": str(folder), "step": emb["step"], "points": len(features), "dim": features.shape[1],
              "sprite": str(folder / "sprite.png")}
    try:
        thumb = write_sprite(_test_images(emb), folder / "sprite.png")
    except (ConfigError, FileNotFoundError) as e:   # e.g. the run's data folder is gone: export the rest
        thumb = None
        (folder / "sprite.png").unlink(missing_ok=True)
        result |= {"sprite": None, "sprite_error": str(e)}

    sprite_pb = (f'  sprite {{\n    image_path: "sprite.png"\n    single_image_dim: {thumb}\n'
                 f'    single_image_dim: {thumb}\n  }}\n') if thumb else ""
    (folder / "projector_config.pbtxt").write_text(
        f'embeddings {{\n  tensor_name: "{run_id}"\n  tensor_path: "tensors.tsv"\n'
        f'  metadata_path: "metadata.tsv"\n{sprite_pb}}}\n')
    entry = {"tensorName": f"{run_id} · step {emb['step']}", "tensorShape": list(features.shape),
             "tensorPath": "tensors.tsv", "metadataPath": "metadata.tsv"}
    if thumb:
        entry["sprite"] = {"imagePath": "sprite.png", "singleImageDim": [thumb, thumb]}
    (folder / "projector_config.json").write_text(json.dumps({"embeddings": [entry]}, indent=2))
    return result
