"""The backbone's weights for plain PyTorch: a state_dict, a note on how to load it, and for the default convnet a
self-contained module file, so the export loads where sslcore is not installed."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import torch

from ..backbones import ConvNet
from ..runs import RunStore

# Normalisation the backbone was trained with (sslcore.augment / sslcore.evaluate): images in [0, 1], then this.
INPUT_NORMALISATION = "x = images.float() / 255; x = (x - 0.5) / 0.25   # N×3×H×W"

LOAD_HINTS = {
    "convnet": "import convnet; m = convnet.load(path)   # convnet.py, written beside the weights, needs only torch",
    "resnet18_cifar": ("sd = torch.load(path); m = torchvision.models.resnet18(); "
                       "m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = torch.nn.Identity(); "
                       "m.fc = torch.nn.Identity(); m.load_state_dict(sd)"),
}

CONVNET_MODULE = '''"""SSL Lens ConvNet backbone — run {run_id}, step {step}. Needs only torch (not sslcore).

    import convnet
    net = convnet.load("backbone.pt")          # eval mode
    {normalisation}
    features = net(x)                          # N×{out_dim}
"""
from __future__ import annotations

import torch
from torch import nn

CONFIG = {config}


{source}

def load(path: str = "backbone.pt") -> ConvNet:
    net = ConvNet(CONFIG["in_channels"], tuple(CONFIG["widths"]), CONFIG["pool"])
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()
'''


def _convnet_config(weights: dict[str, torch.Tensor], pool: str) -> dict:
    """Constructor arguments read back from the weights: one 3×3 conv per stage, in order."""
    convs = [w for k, w in weights.items() if k.startswith("features.") and k.endswith(".weight") and w.ndim == 4]
    return {"in_channels": int(convs[0].shape[1]), "widths": [int(w.shape[0]) for w in convs], "pool": pool}


def write_convnet_module(folder: Path, weights: dict[str, torch.Tensor], *, run_id: str, step: int) -> Path:
    """``convnet.py``: ConvNet's own source (one definition, never a copy that drifts) plus a ``load`` function."""
    config = _convnet_config(weights, "max" if isinstance(ConvNet().pool, torch.nn.AdaptiveMaxPool2d) else "avg")
    path = folder / "convnet.py"
    path.write_text(CONVNET_MODULE.format(run_id=run_id, step=step, normalisation=INPUT_NORMALISATION,
                                          out_dim=config["widths"][-1], config=json.dumps(config),
                                          source=inspect.getsource(ConvNet)))
    return path


def export_backbone(store: RunStore, run_id: str, out: Path | None = None, step: int | None = None) -> Path:
    """Write the backbone's state_dict (keys as in the plain class) and a JSON note on how to load it."""
    cfg = store.config(run_id)
    state = store.load_checkpoint(run_id, step)
    prefix = "backbone."
    weights = {k[len(prefix):]: v for k, v in state["model"].items() if k.startswith(prefix)}
    out = out or store.run_dir(run_id) / "export" / "backbone.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(weights, out)
    arch = cfg.method.backbone
    note = {"run_id": run_id, "backbone": arch, "step": state["step"], "input": INPUT_NORMALISATION}
    if arch == "convnet":
        note["module"] = str(write_convnet_module(out.parent, weights, run_id=run_id, step=state["step"]))
    note["how_to_load"] = LOAD_HINTS.get(arch, f"sd = torch.load(path); m = torchvision.models.{arch}(); "
                                                f"m.fc = torch.nn.Identity(); m.load_state_dict(sd)")
    out.with_suffix(".json").write_text(json.dumps(note, indent=2))
    return out
