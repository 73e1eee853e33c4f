"""Published recipes, one name each: ``--recipe NAME`` fills the configuration from a cited setup; flags override.

A recipe is a set of flat options (``config.FLAT_FIELDS``) applied over the defaults, with its source, the figure
its authors published, and what was changed to fit SSL Lens and why. ``python -m sslcore recipes`` lists them with
an estimated training time on this device (``estimate_seconds``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import RunConfig
from .errors import ConfigError


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    source: str                      # repository/file or paper the settings were read from
    published: str                   # the figure its authors report, with its protocol
    settings: dict[str, Any]         # flat options (FLAT_FIELDS names) over RunConfig()'s defaults
    changes: str                     # what differs from the source, and why
    train_images: int                # images per epoch of the published setup (for the time estimate)
    notes: list[str] = field(default_factory=list)

    def config(self, base: RunConfig | None = None) -> RunConfig:
        return (base or RunConfig()).replace(**self.settings, recipe=self.name)


RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe(
        name="keras_barlow_twins_cifar10",
        title="Barlow Twins on CIFAR-10, Keras example",
        source="keras.io/examples/vision/barlow_twins (Keras Barlow Twins example; seed 000 of REFERENCE.md)",
        published="64 % linear evaluation on CIFAR-10 after 160 epochs",
        settings=dict(dataset="cifar10", image_size=32, method="barlow_twins", backbone="resnet34",
                      projector_dim=5000, projector_layers=3, lambd=5e-3, scale=1.0, optimizer="lamb", lr=1e-3,
                      weight_decay=0.0, batch_size=512, epochs=160, warmup_epochs=0.0, augment="keras_barlow"),
        changes="LAMB with tfa's defaults (lr 1e-3, no weight decay), decayed by cosine from 1e-3 here (the loop "
                "always schedules); torchvision's ResNet-34; the projector's linear layers without biases (the "
                "Barlow Twins reference's).",
        train_images=50_000),
    Recipe(
        name="keras_simclr_stl10",
        title="SimCLR on STL-10 (semi-supervised), Keras example",
        source="keras.io/examples/vision/semisupervised_simclr (Keras SimCLR STL-10 example, seed)",
        published="online linear probe 56.7 %, fine-tuned 65.3 %, supervised baseline from scratch 59.9 % "
                  "(STL-10 test, 20 epochs)",
        settings=dict(dataset="stl10", train_split="train+unlabeled", image_size=96, method="simclr",
                      temperature=0.1, backbone="convnet",
                      projector_dim=128, projector_layers=2, optimizer="adam", lr=1e-3, weight_decay=0.0,
                      batch_size=525, epochs=20, warmup_epochs=0.0, augment="keras_simclr", online_probe=True),
        changes="batch 525 drawn from train+unlabeled together (the example draws 500 unlabeled + 25 labelled per "
                "step); our 3-stage convnet for its 4-conv encoder; BN in the projector; the online probe reads "
                "view 1's features (no extra forward), not a separately weak-augmented labelled batch. "
                "Fine-tune with `eval RUN --finetune` (weak augmentation, Adam).",
        train_images=105_000,
        notes=["pre-trains on STL-10 train+unlabeled (labels −1 on the 100k unlabeled images); the online probe "
               "learns from the 5k labelled ones only"]),
    Recipe(
        name="relational_stl10",
        title="Self-supervised relational reasoning on STL-10",
        source="mpatacchiola/self-supervised-relational-reasoning (README, methods/relationnet.py; "
               "Patacchiola & Storkey, NeurIPS 2020)",
        published="the paper's STL-10 linear evaluation (ResNet-34, 300 epochs, K = 25, Table 1 of "
                  "arXiv:2006.05849); the repository gives no single figure",
        settings=dict(dataset="stl10", train_split="unlabeled", image_size=96, method="relational", num_views=4,
                      focal_gamma=2.0,
                      backbone="resnet34", optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=64, epochs=300,
                      warmup_epochs=0.0, augment="simclr", overrides={"blur_p": 0.0}),
        changes="K = 4 augmentations (the essential script's; the paper's 25 cost 6× the backbone passes); "
                "the `cat` aggregation and focal loss (γ 2, α 0.5) of relationnet.py; SimCLR-style augmentation "
                "without blur. Pre-trains on the unlabeled split as the released model, so no online probe.",
        train_images=100_000),
    Recipe(
        name="barlow_twins_imagenet",
        title="Barlow Twins, reference ImageNet setup (use with --dataset folder)",
        source="facebookresearch/barlowtwins main.py and README",
        published="73.3 % top-1 (91.0 % top-5) linear evaluation on ImageNet after 1000 epochs",
        settings=dict(dataset="folder", image_size=224, method="barlow_twins", backbone="resnet50",
                      projector_dim=8192, projector_layers=3, lambd=0.0051, scale=0.024, optimizer="lars",
                      lr=1.6, lr_biases=0.0384, weight_decay=1.5e-6, batch_size=2048, epochs=1000,
                      warmup_epochs=10.0, augment="barlow_twins"),
        changes="lr written absolute: the reference's 0.2 (weights) and 0.0048 (biases, BN) × batch/256 = 1.6 and "
                "0.0384; point --data-root at an ImageNet-style folder.",
        train_images=1_281_167),
    Recipe(
        name="mmselfsup_barlow_twins_r50",
        title="Barlow Twins ResNet-50, MMSelfSup 300-epoch config (use with --dataset folder)",
        source="open-mmlab/mmselfsup configs/selfsup/barlowtwins/barlowtwins_resnet50_8xb256-coslr-300e_in1k.py",
        published="71.8 % linear evaluation, 63.6 % kNN (k = 10) on ImageNet after 300 epochs",
        settings=dict(dataset="folder", image_size=224, method="barlow_twins", backbone="resnet50",
                      projector_dim=8192, projector_layers=3, lambd=0.0051, scale=1.0, optimizer="lars", lr=1.6,
                      lr_biases=1.6 * 0.024, weight_decay=1e-6, batch_size=2048, epochs=300, warmup_epochs=10.0,
                      augment="barlow_twins"),
        changes="MMSelfSup's lr_mult 0.024 for biases and BN written as lr_biases 0.0384; its cosine ends at "
                "0.0016, ours at 0.1 % of the peak (the same value).",
        train_images=1_281_167),
]}

# The share of the measured matmul rate a training step's model FLOPs reach, by device type (BENCHMARKS.md). CPU:
# the convnet Barlow Twins step ran at 52 % (2026-11-23, 2 cores); ResNets and 224 px do no better there. GPU: the
# keras_barlow_twins_cifar10 step (ResNet-18 CIFAR stem, batch 512, bf16) reached 11–12 % of an H200's bf16 rate
# (2026-11-26) — a step launches ~1,000 kernels, most too small to fill the chip; ResNet-34 at 32 px reached 2 %.
TRAINING_EFFICIENCY = {"cpu": 0.5, "cuda": 0.12}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"recipe: unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return RECIPES[name]


def apply_recipe(cfg: RunConfig, name: str) -> RunConfig:
    """``cfg`` with the recipe's settings applied over it (flags applied afterwards override them)."""
    return get_recipe(name).config(cfg)


def flops_per_pair(cfg: RunConfig) -> float:
    """Training FLOPs per image of the batch: its K views through backbone + projector, forward and backward
    (≈ 3 × forward); the loss and the small relation head are left out. Counted on the meta device, so even
    ResNet-50 with an 8192-wide projector costs no memory and no time."""
    from torch.utils.flop_counter import FlopCounterMode

    from .train import build_model

    with torch.device("meta"):
        model = build_model(cfg, num_classes=10)
        x = torch.empty(2, 3, cfg.data.image_size, cfg.data.image_size)  # 2: BatchNorm needs a batch
    with FlopCounterMode(display=False) as counter:
        h = model.backbone(x)
        if isinstance(getattr(model, "projector", None), torch.nn.Module):
            model.projector(h)
    return 3 * model.num_views * counter.get_total_flops() / 2


def device_flops(device: torch.device) -> float:
    """Measured matmul FLOP/s of ``device`` (fp32 on CPU, bf16 on CUDA as the trainer's autocast)."""
    cuda = device.type == "cuda"
    # 8192² on a GPU: a 2048² bf16 product takes ~20 µs there, about a kernel launch, so it would time the launch.
    n, dtype = (8192, torch.bfloat16) if cuda else (2048, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    a @ a
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(3):
        a @ a
    if cuda:
        torch.cuda.synchronize()
    return 3 * 2 * n ** 3 / (time.perf_counter() - start)


def efficiency(device: torch.device) -> float:
    return TRAINING_EFFICIENCY.get(device.type, TRAINING_EFFICIENCY["cpu"])


def estimate_seconds(recipe: Recipe, rate: float, share: float) -> float:
    """Training time of the published setup when its model FLOPs run at ``share`` of ``rate`` matmul FLOP/s."""
    cfg = recipe.config()
    return recipe.train_images * cfg.optim.epochs * flops_per_pair(cfg) / (rate * share)


def format_duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:.0f} s"


def describe_recipes(device: torch.device | None = None) -> list[dict[str, Any]]:
    """Every recipe with its source, figure, changes and estimated training time on ``device`` (default CPU)."""
    device = device or torch.device("cpu")
    rate, share = device_flops(device), efficiency(device)
    rows = []
    for r in RECIPES.values():
        seconds = estimate_seconds(r, rate, share)
        rows.append({"name": r.name, "title": r.title, "source": r.source, "published": r.published,
                     "changes": r.changes, "settings": dict(r.settings), "notes": list(r.notes),
                     "estimated_seconds": seconds, "estimated": format_duration(seconds),
                     "estimate_basis": f"model FLOPs at {share:.0%} of {rate / 1e9:,.0f} GFLOP/s "
                                       f"measured on {device.type}"})
    return rows
