"""The one configuration tree of a run: built by the CLI, the Train page and `resume` alike, validated here.

Every invalid value raises ``ConfigError`` with a message that names the field and says how to fix it.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import limits
from .errors import ConfigError
from .limits import NAME_MAX_CHARS


@dataclass
class DataConfig:
    dataset: str = "shapes"
    root: str | None = None          # where cifar10 / stl10 / folder images live
    image_size: int = 32
    train_size: int | None = None    # generated datasets: how many images; others: an optional subset
    test_size: int | None = None
    download: bool = False           # cifar10 / stl10 only, and only when asked
    train_split: str = "train"       # the split training draws from: stl10 "train+unlabeled" pre-trains on 105k


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
    focal_gamma: float = 0.0         # relational reasoning: 0 = BCE; > 0 = focal loss (reference relationnet.py: 2)
    vicreg_weights: tuple[float, float, float] = (25.0, 25.0, 1.0)  # variance, invariance, covariance


@dataclass
class OptimConfig:
    optimizer: str = "adamw"         # sgd | adam | adamw | lars | lamb
    lr: float = 2e-3
    lr_biases: float | None = None   # peak lr of biases and BN parameters (None: lr); reference BT: 0.0048 vs 0.2
    weight_decay: float = 1e-4
    momentum: float = 0.9
    epochs: int = 6                  # ≈ 2 minutes of the default run on 2 CPU cores (24,000 pairs at 180–240 pairs/s)
    batch_size: int = 256
    # A batch larger than the training set is lowered to the largest power of two that fits, with a notice
    # (data/batching.py); False when batch_size was asked for explicitly, so that too large stays an error.
    fit_batch: bool = True
    warmup_epochs: float = 1.0


@dataclass
class LogConfig:
    log_every: int = 5               # steps between metric rows
    snapshot_every: int = 20         # steps between heatmap snapshots
    snapshot_size: int = 64          # k of the stored k×k block (≤ 128)
    eval_every: int = 0              # epochs between automatic evaluations (0 = only at the end, if enabled)
    eval_at_end: bool = True         # evaluate (kNN, linear, factor probes, baselines, PCA) when training finishes
    checkpoint_every: int = 1        # epochs between checkpoints
    # Checkpoint retention: the last ``keep_last``, every ``keep_every``-th epoch's (0: none) and the final one stay;
    # the others are deleted once a newer one is safely written.
    keep_last: int = 2
    keep_every: int = 5
    online_probe: bool = True        # train a linear head on detached features of labelled images (online_probe.py)


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
    recipe: str = ""                 # the named recipe this config started from (recipes.py), "" for none

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
        path = Path(path)
        try:
            if path.stat().st_size > CONFIG_MAX_BYTES:
                raise ConfigError(f"config: {path} is {path.stat().st_size:,} bytes; a config file is a few KB")
            d = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config: file {path} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"config: {path} is a folder; pass a JSON file") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"config: {path} is not UTF-8 text (byte {e.start}); save it as UTF-8 JSON") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config: {path} is not valid JSON ({e.msg}, line {e.lineno})") from None
        except RecursionError:
            raise ConfigError(f"config: {path} is nested too deeply to be a config") from None
        except OSError as e:
            raise ConfigError(f"config: cannot read {path} ({e.strerror or e})") from None
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
    def validate(self, caps: limits.Limits = limits.DEFAULT) -> RunConfig:
        """Check every field (``caps``: the resource caps, e.g. ``limits.CLASSROOM``); return self."""
        from . import augment, backbones, data, methods

        d, a, m, o = self.data, self.augment, self.method, self.optim
        _choice("dataset", d.dataset, data.DATASETS)
        train_splits = [s for s in data.DATASETS[d.dataset].splits if s != "test"]
        if d.train_split not in train_splits:
            raise ConfigError(f"train_split: dataset {d.dataset} has no training split {str(d.train_split)!r}; "
                              f"choose one of: {', '.join(train_splits)}")
        _choice("method", m.name, methods.METHODS)
        _choice("backbone", m.backbone, backbones.BACKBONES)
        _choice("augment", a.preset, augment.PRESETS)
        _choice("optimizer", o.optimizer, OPTIMIZERS)
        self._check_numbers(caps)
        method_cls = methods.METHODS[m.name]
        if method_cls.needs_batch_stats and o.batch_size < 2:
            raise ConfigError(f"batch_size: {m.name} uses batch statistics and needs batch_size ≥ 2, "
                              f"got {o.batch_size}")
        min_size = backbones.BACKBONES[m.backbone].min_image_size
        if d.image_size < min_size:
            raise ConfigError(f"image_size: backbone {m.backbone} needs images of at least {min_size} px, "
                              f"got {d.image_size}; pass --image-size {min_size} or pick --backbone convnet")
        augment.validate_overrides(a.overrides)
        if not isinstance(self.name, str) or len(self.name) > NAME_MAX_CHARS:
            raise ConfigError(f"name: must be text of at most {NAME_MAX_CHARS} characters")
        if not isinstance(self.recipe, str) or len(self.recipe) > NAME_MAX_CHARS:
            raise ConfigError(f"recipe: must be text of at most {NAME_MAX_CHARS} characters (see `recipes`)")
        if not isinstance(self.device, str) or (self.device != "auto"
                                                 and self.device.split(":")[0] not in ("cpu", "cuda", "mps")):
            raise ConfigError(f"device: must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        return self

    def _check_numbers(self, caps: limits.Limits) -> None:
        """Every numeric field a number of its type (no bool as int), finite, and within ``limits``."""
        d, a, m, o, lg = self.data, self.augment, self.method, self.optim, self.log
        _whole("epochs", o.epochs, 1, caps.epochs)
        _whole("batch_size", o.batch_size, 1, caps.batch_size)
        _whole("image_size", d.image_size, 1, caps.image_size)
        _whole("projector_dim", m.projector_dim, 1, caps.projector_dim)
        for name in ("train_size", "test_size"):
            if getattr(d, name) is not None:
                _whole(name, getattr(d, name), limits.RANGES[name][0],
                       min(limits.RANGES[name][1], caps.train_images or limits.RANGES[name][1]))
        for name, value in (("projector_layers", m.projector_layers), ("queue_size", m.queue_size),
                            ("num_views", m.num_views), ("nproc", self.nproc), ("seed", self.seed),
                            *((f, getattr(lg, f)) for f in ("log_every", "snapshot_every", "snapshot_size",
                                                            "eval_every", "checkpoint_every", "keep_last",
                                                            "keep_every"))):
            _whole(name, value, *limits.RANGES[name])
        for name, value in (("lr", o.lr), ("weight_decay", o.weight_decay), ("momentum", o.momentum),
                            ("warmup_epochs", o.warmup_epochs), ("temperature", m.temperature),
                            ("lambd", m.lambd), ("scale", m.scale), ("ema", m.momentum), ("strength", a.strength),
                            ("focal_gamma", m.focal_gamma)):
            _real(name, value)
        if o.lr_biases is not None:
            _real("lr", o.lr_biases, "lr_biases")
        if not isinstance(m.vicreg_weights, tuple | list) or len(m.vicreg_weights) != 3:
            raise ConfigError(f"vicreg_weights: expected 3 numbers (variance, invariance, covariance), "
                              f"got {m.vicreg_weights!r}")
        for w in m.vicreg_weights:
            _real("vicreg_weights", w)
        if o.warmup_epochs > o.epochs:
            raise ConfigError(f"warmup_epochs: must be at most epochs ({o.epochs}), got {o.warmup_epochs}")


OPTIMIZERS = ("sgd", "adam", "adamw", "lars", "lamb")
CONFIG_MAX_BYTES = 1 << 20

# Flat option name (CLI flag / form field) → (section, field). The CLI derives its flags from this table.
FLAT_FIELDS: dict[str, tuple[str, str]] = {
    "dataset": ("data", "dataset"), "data_root": ("data", "root"), "image_size": ("data", "image_size"),
    "train_split": ("data", "train_split"),
    "train_size": ("data", "train_size"), "test_size": ("data", "test_size"), "download": ("data", "download"),
    "augment": ("augment", "preset"), "strength": ("augment", "strength"), "overrides": ("augment", "overrides"),
    "method": ("method", "name"), "backbone": ("method", "backbone"), "projector_dim": ("method", "projector_dim"),
    "projector_layers": ("method", "projector_layers"), "lambd": ("method", "lambd"), "scale": ("method", "scale"),
    "temperature": ("method", "temperature"), "ema": ("method", "momentum"), "queue_size": ("method", "queue_size"),
    "stop_gradient": ("method", "stop_gradient"), "num_views": ("method", "num_views"),
    "focal_gamma": ("method", "focal_gamma"),
    "optimizer": ("optim", "optimizer"), "lr": ("optim", "lr"), "lr_biases": ("optim", "lr_biases"),
    "weight_decay": ("optim", "weight_decay"),
    "epochs": ("optim", "epochs"), "batch_size": ("optim", "batch_size"), "warmup_epochs": ("optim", "warmup_epochs"),
    "fit_batch": ("optim", "fit_batch"),
    "log_every": ("log", "log_every"), "snapshot_every": ("log", "snapshot_every"),
    "snapshot_size": ("log", "snapshot_size"), "eval_every": ("log", "eval_every"),
    "eval_at_end": ("log", "eval_at_end"), "online_probe": ("log", "online_probe"), "recipe": ("", "recipe"),
    "checkpoint_every": ("log", "checkpoint_every"), "keep_last": ("log", "keep_last"),
    "keep_every": ("log", "keep_every"),
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
            if not isinstance(value, list | tuple) or len(value) != 3:
                raise ConfigError(f"{prefix}{name}: expected a list of 3 numbers, got {_short(value)}")
            kwargs[name] = tuple(_as_number(f"{prefix}{name}", v, float) for v in value)
        elif name == "overrides":
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise ConfigError(f"{prefix}{name}: expected an object of view.field: number, got {_short(value)}")
            kwargs[name] = {k: _as_number(f"{prefix}{name}.{k}", v, float) for k, v in value.items()}
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
            raise ConfigError(f"{path}: expected true or false, got {_short(value)}")
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_short(value)}")
        return value
    if kind in (int, float):
        return _as_number(path, value, kind)
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{path}: expected text, got {_short(value)}")
    return kind(value)


_OPTIONAL_TYPES = {"train_size": int, "test_size": int, "root": str, "lr_biases": float}


def _as_number(path: str, value: Any, kind: type) -> Any:
    """A JSON / form value as an int or a float: numbers and numeric text only (a bool is not a number), finite,
    and an int only if whole. Range checks are ``validate``'s."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{path}: expected a number, got {_short(value)}")
    if kind is int and isinstance(value, int):
        return value
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ConfigError(f"{path}: expected a number, got {_short(value)}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{path}: must be a finite number, got {_short(value)}")
    if kind is int:
        if number != int(number):
            raise ConfigError(f"{path}: expected a whole number, got {_short(value)}")
        return int(number)
    return number


_SECTIONS = {("RunConfig", "data"): DataConfig, ("RunConfig", "augment"): AugmentConfig,
             ("RunConfig", "method"): MethodConfig, ("RunConfig", "optim"): OptimConfig,
             ("RunConfig", "log"): LogConfig}


def _choice(name: str, value: str, registry) -> None:
    if not isinstance(value, str) or value not in registry:
        raise ConfigError(f"{name}: unknown {name} {value!r}; choose one of: {', '.join(registry)}")


def _whole(name: str, value: Any, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name}: must be a whole number, got {_short(value)}")
    if not lo <= value <= hi:
        low = "a positive whole number" if lo == 1 else f"a whole number ≥ {lo}"
        raise ConfigError(f"{name}: must be {low} of at most {hi:,}, got {_short(value)}"
                          + (" (a cap of limits.py)" if hi < 2**31 else ""))


def _real(name: str, value: Any, field_name: str | None = None) -> None:
    """``value`` within ``limits.RANGES[name]``; the message names ``field_name`` (default ``name``)."""
    lo, hi = limits.RANGES[name]
    open_lo, open_hi = name in limits.OPEN_BELOW, name in limits.OPEN_ABOVE
    name = field_name or name
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"{name}: must be a number, got {_short(value)}")
    if not math.isfinite(value):
        raise ConfigError(f"{name}: must be a finite number, got {value}")
    if value < lo or (open_lo and value == lo) or value > hi or (open_hi and value == hi):
        interval = f"{'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}"
        raise ConfigError(f"{name}: must be in {interval}, got {value:g}")


def _short(value: Any) -> str:
    """repr of a bad value, cut to one short line (a config file may hold anything)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
