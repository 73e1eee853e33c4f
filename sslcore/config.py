"""The one configuration tree of a run: built by the CLI, the Train page and `resume` alike, validated here.

Every invalid value raises ``ConfigError`` with a message that names the field and says how to fix it.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass
class DataConfig:
    dataset: str = "shapes"
    root: str | None = None          # where cifar10 / stl10 / folder images live
    image_size: int = 32
    train_size: int | None = None    # generated datasets: how many images; others: an optional subset
    test_size: int | None = None
    download: bool = False           # cifar10 / stl10 only, and only when asked


@dataclass
class AugmentConfig:
    preset: str = "shapes"           # the Barlow Twins recipe + the nuisances of the default dataset (augment.py)
    strength: float = 1.0
    # Per-operation overrides of the preset recipe, "view1.blur_p" / "view2.solarize_p" / "crop_scale_min" (both
    # views). See sslcore.augment.ViewRecipe for the keys.
    overrides: dict[str, float] = field(default_factory=dict)


@dataclass
class MethodConfig:
    name: str = "barlow_twins"
    backbone: str = "convnet"
    projector_dim: int = 1024        # output (and hidden) width of the projector
    projector_layers: int = 3
    lambd: float = 0.0051            # Barlow Twins: weight of the redundancy term
    scale: float = 1.0               # Barlow Twins: overall loss scale
    temperature: float = 0.1         # SimCLR, MoCo
    momentum: float = 0.99           # BYOL / MoCo: EMA rate of the target / key encoder
    queue_size: int = 4096           # MoCo
    stop_gradient: bool = True       # SimSiam: turn off to watch it collapse
    num_views: int = 2               # relational reasoning: K augmentations per image
    vicreg_weights: tuple[float, float, float] = (25.0, 25.0, 1.0)  # variance, invariance, covariance


@dataclass
class OptimConfig:
    optimizer: str = "adamw"         # sgd | adam | adamw | lars
    lr: float = 2e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    epochs: int = 6                  # ≈ 2 minutes of the default run on 2 CPU cores (24,000 pairs at 180–240 pairs/s)
    batch_size: int = 256
    warmup_epochs: float = 1.0


@dataclass
class LogConfig:
    log_every: int = 5               # steps between metric rows
    snapshot_every: int = 20         # steps between heatmap snapshots
    snapshot_size: int = 64          # k of the stored k×k block (≤ 128)
    eval_every: int = 0              # epochs between automatic evaluations (0 = only at the end, if enabled)
    eval_at_end: bool = True         # evaluate (kNN, linear, factor probes, baselines, PCA) when training finishes
    checkpoint_every: int = 1        # epochs between checkpoints


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    seed: int = 0
    device: str = "auto"             # auto | cpu | cuda | cuda:N | mps
    name: str = ""
    nproc: int = 1                   # processes (GPUs) per run; > 1 trains through torchrun with DDP

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return _from_dict(cls, d, "")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        try:
            d = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config: file {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config: {path} is not valid JSON ({e.msg}, line {e.lineno})") from None
        return cls.from_dict(d)

    def replace(self, **flat: Any) -> RunConfig:
        """A copy with flat overrides applied, e.g. ``replace(method="simclr", lr=0.1)`` (see FLAT_FIELDS)."""
        d = self.to_dict()
        for key, value in flat.items():
            if key not in FLAT_FIELDS:
                raise ConfigError(f"{key}: unknown option; known: {', '.join(sorted(FLAT_FIELDS))}")
            section, name = FLAT_FIELDS[key]
            if section:
                d[section][name] = value
            else:
                d[name] = value
        return RunConfig.from_dict(d)

    # ---- validation: the one place ----
    def validate(self) -> RunConfig:
        from . import augment, backbones, data, methods

        d, a, m, o, lg = self.data, self.augment, self.method, self.optim, self.log
        _choice("dataset", d.dataset, data.DATASETS)
        _choice("method", m.name, methods.METHODS)
        _choice("backbone", m.backbone, backbones.BACKBONES)
        _choice("augment", a.preset, augment.PRESETS)
        _choice("optimizer", o.optimizer, OPTIMIZERS)
        _positive_int("image_size", d.image_size)
        _positive_int("nproc", self.nproc)
        _positive_int("epochs", o.epochs)
        _positive_int("batch_size", o.batch_size)
        _positive_int("projector_dim", m.projector_dim)
        _positive_int("projector_layers", m.projector_layers)
        for name in ("train_size", "test_size"):
            if getattr(d, name) is not None:
                _positive_int(name, getattr(d, name))
        _positive_float("lr", o.lr)
        _positive_float("temperature", m.temperature)
        _positive_float("scale", m.scale)
        if o.weight_decay < 0:
            raise ConfigError(f"weight_decay: must be ≥ 0, got {o.weight_decay}")
        if m.lambd < 0:
            raise ConfigError(f"lambd: must be ≥ 0, got {m.lambd}")
        if not 0 <= m.momentum < 1:
            raise ConfigError(f"momentum: must be in [0, 1), got {m.momentum}")
        if not 0 <= a.strength <= 3:
            raise ConfigError(f"strength: must be between 0 and 3, got {a.strength}")
        if o.warmup_epochs < 0:
            raise ConfigError(f"warmup_epochs: must be ≥ 0, got {o.warmup_epochs}")
        if m.num_views < 2:
            raise ConfigError(f"num_views: must be ≥ 2 (K augmentations per image), got {m.num_views}")
        if m.queue_size < 1:
            raise ConfigError(f"queue_size: must be ≥ 1, got {m.queue_size}")
        for name in ("log_every", "snapshot_every", "checkpoint_every"):
            _positive_int(name, getattr(lg, name))
        if not 1 <= lg.snapshot_size <= 128:
            raise ConfigError(f"snapshot_size: must be between 1 and 128, got {lg.snapshot_size}")
        if lg.eval_every < 0:
            raise ConfigError(f"eval_every: must be ≥ 0 (0 turns periodic evaluation off), got {lg.eval_every}")
        method_cls = methods.METHODS[m.name]
        if method_cls.needs_batch_stats and o.batch_size < 2:
            raise ConfigError(f"batch_size: {m.name} uses batch statistics and needs batch_size ≥ 2, "
                              f"got {o.batch_size}")
        min_size = backbones.BACKBONES[m.backbone].min_image_size
        if d.image_size < min_size:
            raise ConfigError(f"image_size: backbone {m.backbone} needs images of at least {min_size} px, "
                              f"got {d.image_size}; pass --image-size {min_size} or pick --backbone convnet")
        augment.validate_overrides(a.overrides)
        if self.device != "auto" and self.device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise ConfigError(f"device: must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        return self


OPTIMIZERS = ("sgd", "adam", "adamw", "lars")

# Flat option name (CLI flag / form field) → (section, field). The CLI derives its flags from this table.
FLAT_FIELDS: dict[str, tuple[str, str]] = {
    "dataset": ("data", "dataset"), "data_root": ("data", "root"), "image_size": ("data", "image_size"),
    "train_size": ("data", "train_size"), "test_size": ("data", "test_size"), "download": ("data", "download"),
    "augment": ("augment", "preset"), "strength": ("augment", "strength"), "overrides": ("augment", "overrides"),
    "method": ("method", "name"), "backbone": ("method", "backbone"), "projector_dim": ("method", "projector_dim"),
    "projector_layers": ("method", "projector_layers"), "lambd": ("method", "lambd"), "scale": ("method", "scale"),
    "temperature": ("method", "temperature"), "ema": ("method", "momentum"), "queue_size": ("method", "queue_size"),
    "stop_gradient": ("method", "stop_gradient"), "num_views": ("method", "num_views"),
    "optimizer": ("optim", "optimizer"), "lr": ("optim", "lr"), "weight_decay": ("optim", "weight_decay"),
    "epochs": ("optim", "epochs"), "batch_size": ("optim", "batch_size"), "warmup_epochs": ("optim", "warmup_epochs"),
    "log_every": ("log", "log_every"), "snapshot_every": ("log", "snapshot_every"),
    "snapshot_size": ("log", "snapshot_size"), "eval_every": ("log", "eval_every"),
    "eval_at_end": ("log", "eval_at_end"),
    "seed": ("", "seed"), "device": ("", "device"), "name": ("", "name"), "nproc": ("", "nproc"),
}


def _from_dict(cls: type, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected an object, got {type(d).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(known)
    if unknown:
        raise ConfigError(f"{prefix}{sorted(unknown)[0]}: unknown field; known: {', '.join(known)}")
    kwargs = {}
    for name, value in d.items():
        f = known[name]
        sub = _SECTIONS.get((cls.__name__, name))
        if sub is not None:
            kwargs[name] = _from_dict(sub, value, f"{prefix}{name}.")
        elif name == "vicreg_weights":
            kwargs[name] = tuple(float(v) for v in value)
        else:
            kwargs[name] = _coerce(f"{prefix}{name}", value, f.default)
    return cls(**kwargs)


def _coerce(path: str, value: Any, default: Any) -> Any:
    """Coerce JSON / form values to the type of the field's default; optional fields accept None."""
    name = path.rsplit(".", 1)[-1]
    if value is None or default is dataclasses.MISSING:
        return value
    kind = _OPTIONAL_TYPES.get(name) or type(default)
    if kind is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return bool(value)
    if kind in (int, float):
        return _as_number(path, value, kind)
    return kind(value)


_OPTIONAL_TYPES = {"train_size": int, "test_size": int, "root": str}


def _as_number(path: str, value: Any, kind: type) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: expected a number, got {value!r}") from None
    if kind is int:
        if number != int(number):
            raise ConfigError(f"{path}: expected a whole number, got {value!r}")
        return int(number)
    return number


_SECTIONS = {("RunConfig", "data"): DataConfig, ("RunConfig", "augment"): AugmentConfig,
             ("RunConfig", "method"): MethodConfig, ("RunConfig", "optim"): OptimConfig,
             ("RunConfig", "log"): LogConfig}


def _choice(name: str, value: str, registry) -> None:
    if value not in registry:
        raise ConfigError(f"{name}: unknown {name} {value!r}; choose one of: {', '.join(registry)}")


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name}: must be a positive whole number, got {value!r}")


def _positive_float(name: str, value: Any) -> None:
    if not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{name}: must be positive, got {value!r}")
