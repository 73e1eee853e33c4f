"""Export a run's backbone weights so plain PyTorch code loads them without sslcore."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .runs import RunStore

LOAD_HINTS = {
    "convnet": "from sslcore.backbones import ConvNet; m = ConvNet(); m.load_state_dict(sd)",
    "resnet18_cifar": ("m = torchvision.models.resnet18(); m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); "
                       "m.maxpool = torch.nn.Identity(); m.fc = torch.nn.Identity(); m.load_state_dict(sd)"),
}


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
    hint = LOAD_HINTS.get(arch, f"m = torchvision.models.{arch}(); m.fc = torch.nn.Identity(); m.load_state_dict(sd)")
    out.with_suffix(".json").write_text(json.dumps(
        {"run_id": run_id, "backbone": arch, "step": state["step"], "how_to_load": f"sd = torch.load(path); {hint}"},
        indent=2))
    return out
