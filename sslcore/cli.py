"""`python -m sslcore …`: the command line that mirrors the app. ``--json`` prints one JSON object as the last
stdout line; bad input exits 2 with a one-line error."""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from .config import FLAT_FIELDS, ConfigError, RunConfig
from .errors import StoreError

# Flags of the training commands: (flat field, type, help). Every one maps to a RunConfig field via FLAT_FIELDS.
TRAIN_FLAGS: list[tuple[str, Any, str]] = [
    ("method", str, "SSL method (see `methods`)"), ("dataset", str, "dataset (see `datasets`)"),
    ("data_root", str, "folder with cifar10/stl10 files or an image folder"),
    ("download", "flag", "download cifar10/stl10 into --data-root (never done otherwise)"),
    ("train_split", str, "split to train on (stl10: train+unlabeled pre-trains on all 105k images)"),
    ("backbone", str, "convnet | resnet18_cifar | resnet18 | resnet34 | resnet50"),
    ("epochs", int, "training epochs"), ("batch_size", int, "pairs per step"), ("lr", float, "peak learning rate"),
    ("optimizer", str, "sgd | adam | adamw | lars | lamb"), ("weight_decay", float, "weight decay"),
    ("lr_biases", float, "peak learning rate of biases and BN parameters (default: --lr)"),
    ("warmup_epochs", float, "linear warm-up epochs before the cosine decay"),
    ("image_size", int, "image side in pixels"), ("train_size", int, "training images (generated sets: how many)"),
    ("augment", str, "augmentation preset"), ("strength", float, "augmentation strength multiplier (0–3)"),
    ("projector_dim", int, "projector width"), ("lambd", float, "Barlow Twins λ (redundancy weight)"),
    ("scale", float, "Barlow Twins loss scale"), ("temperature", float, "SimCLR / MoCo temperature"),
    ("num_views", int, "relational reasoning: augmentations per image"),
    ("focal_gamma", float, "relational reasoning: focal loss γ (0: binary cross-entropy)"),
    ("online_probe", "bool", "train a linear probe on the labelled images during training (default true)"),
    ("stop_gradient", "bool", "SimSiam stop-gradient (false shows collapse)"),
    ("log_every", int, "steps between metric rows"), ("snapshot_every", int, "steps between heatmap snapshots"),
    ("eval_every", int, "epochs between automatic evaluations (0: off)"),
    ("keep_last", int, "checkpoints kept: the last N (default 2) …"),
    ("keep_every", int, "… plus every N-th epoch's (default 5; 0: none) and the final one"),
    ("seed", int, "random seed"), ("device", str, "auto | cpu | cuda | cuda:N | mps"), ("name", str, "run name"),
    ("nproc", int, "launch: processes (GPUs) per run, through torchrun"),
]


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="JSON config file (flags override it)")
    p.add_argument("--recipe", help="start from a published recipe (see `recipes`); --config and flags override it")
    p.add_argument("--set", action="append", default=[], metavar="VIEW.FIELD=VALUE",
                   help="augmentation override, e.g. --set view2.solarize_p=0.5 (repeatable)")
    for name, kind, help_ in TRAIN_FLAGS:
        flag = "--" + name.replace("_", "-")
        if kind == "flag":
            p.add_argument(flag, action="store_true", default=None, help=help_)
        elif kind == "bool":
            p.add_argument(flag, choices=["true", "false"], default=None, help=help_)
        else:
            p.add_argument(flag, type=FLAG_TYPES.get(kind, kind), default=None, help=help_)


def whole_number(text: str) -> int:
    """--epochs 1e3 is 1000; --epochs 1.5 is one line naming the field (argparse's own message is a page)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(number)


def finite_number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return number


FLAG_TYPES = {int: whole_number, float: finite_number}


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line that names the field and where to read more, instead of the
    usage text followed by the one useful line."""

    def error(self, message: str):
        m = re.fullmatch(r"argument (-{0,2}[\w-]+)(?:/[^:]*)?: (.*)", message, flags=re.DOTALL)
        if m:
            message = f"{m.group(1).lstrip('-').replace('-', '_')}: {m.group(2)}"
        self.exit(2, f"error: {' '.join(message.split())}; see `{self.prog} --help`\n")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    cfg = RunConfig.load(args.config) if args.config else RunConfig()
    if args.recipe:
        from .recipes import apply_recipe

        cfg = apply_recipe(RunConfig(), args.recipe)
        if args.config:  # a config file overrides the recipe where it differs from the defaults
            cfg = _overlay(cfg, RunConfig.load(args.config))
    flat = {name: getattr(args, name) for name, _, _ in TRAIN_FLAGS if getattr(args, name) is not None}
    if args.set:
        overrides = dict(cfg.augment.overrides)
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"overrides: --set expects VIEW.FIELD=VALUE, got {item!r}")
            try:
                overrides[key.strip()] = float(value)
            except ValueError:
                raise ConfigError(f"overrides: {key} must be a number, got {value!r}") from None
        flat["overrides"] = overrides
    if "batch_size" in flat:
        flat["fit_batch"] = False           # asked for: a batch larger than the training set stays an error
    from .data import DATASETS
    if "image_size" not in flat and flat.get("dataset", cfg.data.dataset) != cfg.data.dataset \
            and flat["dataset"] in DATASETS:     # the base's image size was for another dataset: photos 64 px …
        flat["image_size"] = DATASETS[flat["dataset"]].default_image_size
    assert set(flat) <= set(FLAT_FIELDS)
    return cfg.replace(**flat).validate()


def _overlay(base: RunConfig, top: RunConfig) -> RunConfig:
    """``base`` with every field where ``top`` differs from the defaults taken from ``top``."""
    default, d, t = RunConfig().to_dict(), base.to_dict(), top.to_dict()
    for section, values in t.items():
        if isinstance(values, dict):
            d[section].update({k: v for k, v in values.items() if v != default[section][k]})
        elif values != default[section]:
            d[section] = values
    return RunConfig.from_dict(d)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m sslcore", description="SSL Lens engine")
    parser.add_argument("--runs-dir", help="run store folder (default: $SSL_LENS_RUNS or ./runs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        # Accept the global options after the command too (`python -m sslcore runs --json`).
        p.add_argument("--runs-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p

    p = command("train", "train in the foreground with a progress bar (under torchrun: one process per GPU)")
    _add_train_flags(p)
    p.add_argument("--resume", metavar="RUN_ID", help="continue this run in the foreground from its checkpoint")
    _add_train_flags(command("launch", "start a background run (queued if the device is busy); prints its id"))
    command("runs", "list runs")
    for name, help_ in [("status", "show one run"), ("cancel", "stop a queued or running run"),
                        ("resume", "continue a failed, cancelled or diverged run from its last checkpoint")]:
        command(name, help_).add_argument("run_id")
    p = command("export", "export a run: the backbone for plain PyTorch (default), metrics CSV, TensorBoard "
                          "event files, the TensorBoard projector's files")
    p.add_argument("run_id")
    p.add_argument("--out", help="backbone file (default: <run>/export/backbone.pt)")
    p.add_argument("--step", type=int, help="checkpoint / embedding step, and the last metric step exported "
                                            "(default: the latest)")
    p.add_argument("--backbone", action="store_true", help="also export the backbone when another format is asked")
    p.add_argument("--metrics", choices=["csv"], help="metrics as CSV, one row per logged value")
    p.add_argument("--metrics-file", help="CSV file, '-' for stdout (default: <run>/export/metrics.csv)")
    p.add_argument("--tensorboard", metavar="DIR", help="TensorBoard event files into DIR/<run id> (scalars, "
                                                        "matrix snapshots as images); needs `pip install tensorboard`")
    p.add_argument("--projector", metavar="DIR", help="tensors.tsv, metadata.tsv, sprite.png and the projector "
                                                      "config of the saved embedding into DIR")
    p = command("eval", "evaluate a run: weighted kNN, linear probe, factor probes, baselines, 2-D embedding")
    p.add_argument("run_id")
    p.add_argument("--step", type=int, help="checkpoint step (default: the latest)")
    p.add_argument("--features", choices=["backbone", "projector"], default="backbone",
                   help="which features to evaluate (default: backbone)")
    p.add_argument("--k", type=int, default=20, help="kNN neighbours (default 20, as solo-learn)")
    p.add_argument("--temperature", "-T", type=float, default=0.07, help="kNN vote temperature (default 0.07)")
    p.add_argument("--train-size", type=int, help="evaluation train images (default: the run's training set)")
    p.add_argument("--test-size", type=int, help="evaluation test images (default: the run's / the dataset's)")
    p.add_argument("--embed", choices=["umap", "pca", "none"], default="umap",
                   help="2-D embedding saved with the features (umap also saves PCA; default umap)")
    p.add_argument("--no-baselines", action="store_true", help="skip the raw-pixel and random-backbone baselines")
    p.add_argument("--finetune", action="store_true",
                   help="fine-tuning protocol: train backbone + linear head with labels, next to the same net "
                        "trained from scratch (with --no-baselines: without it) and the frozen linear / kNN")
    p.add_argument("--epochs", type=int, help="--finetune: epochs (default: the run's pre-training epochs)")
    p.add_argument("--finetune-lr", type=float, default=1e-3, help="--finetune: Adam learning rate (default 1e-3)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p = command("bench", "benchmarks against the reference way of doing the same work")
    p.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes on 2 cores)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--case", help="only this case, e.g. training_step or live_view (what watching a run costs "
                                  "it); an unknown name lists them all")
    p = command("datasets", "list datasets, the built-in ones and those uploaded into the runs folder")
    p.add_argument("--add", metavar="ZIP", help="store a .zip of an image folder as an uploaded dataset")
    p.add_argument("--name", help="--add: the dataset's name (default: the zip's name)")
    p.add_argument("--delete", metavar="NAME", help="delete an uploaded dataset")
    command("methods", "list methods, backbones and augmentation presets")
    p = command("recipes", "list the published recipes (--recipe NAME) with their figures and estimated time here")
    p.add_argument("--device", default="cpu", help="device the time is estimated for: cpu | cuda (default cpu)")
    p = command("lessons", "list the lessons; verify one (or all): run it, evaluate, check each claim")
    p.add_argument("action", choices=["list", "verify", "launch", "show", "publish"],
                   help="list | verify (launch, wait, check) | launch (queue its runs) | show (check what ran) | "
                        "publish (write every lesson's measured claims, all seeds, to --out and print LESSONS.md's "
                        "table)")
    p.add_argument("lesson_id", nargs="?", help="a lesson id from `lessons list` (verify: default every lesson)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run of the lesson (default 0)")
    p.add_argument("--fresh", action="store_true", help="train new runs even where a run with the same "
                                                        "configuration exists in the runs folder")
    p.add_argument("--out", help="publish: where to write the verdicts (default assets/lessons_measured.json, "
                                 "what the Train page shows before a lesson has run here)")
    p = command("sweep", "the paper's ablations: one field, a list of values, optionally two methods")
    p.add_argument("action", choices=["list", "run", "show"],
                   help="list | run (queue its runs; --wait to wait for them) | show (what each value measured)")
    p.add_argument("sweep_id", nargs="?", help="a sweep from `sweep list` (projector_dim, batch_size, lambda, …)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run of the sweep (default 0)")
    p.add_argument("--wait", action="store_true", help="run: wait for every run, then show the results")
    p.add_argument("--fresh", action="store_true", help="train new runs even where a run with the same "
                                                        "configuration exists in the runs folder")
    p = command("doctor", "check the run store: runs.sqlite, run folders without a row, files of interrupted "
                          "writes, free space")
    p.add_argument("--repair", action="store_true", help="index the run folders runs.sqlite lacks and remove the "
                                                         "files of interrupted writes")
    p = command("_worker", argparse.SUPPRESS)
    p.add_argument("run_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = COMMANDS[args.command](args)
    except (ConfigError, KeyError, FileNotFoundError) as e:
        message = str(e) if not isinstance(e, KeyError) or len(e.args) != 1 else str(e.args[0])
        print(f"error: {message}", file=sys.stderr)
        return 2
    except StoreError as e:     # disk full, read-only folder, damaged store: what happened and what to do
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 — a user sees one line; SSL_LENS_DEBUG=1 shows the traceback
        if os.environ.get("SSL_LENS_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {' '.join(str(e).split())} (SSL_LENS_DEBUG=1 shows where)",
              file=sys.stderr)
        return 1
    if isinstance(result, dict) and result.pop("_quiet", False):
        return 0
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "_exit"}, default=str))
    exit_status = result.get("_exit", 0) if isinstance(result, dict) else 0
    return exit_status


def _store(args):
    from .runs import RunStore

    store = RunStore(args.runs_dir)
    if store.repair_message:    # a missing or damaged runs.sqlite was rebuilt from the run folders just now
        print(f"note: {store.repair_message}", file=sys.stderr)
    return store


def _faults(store) -> None:
    """What a command that only reads should still say: the store is read-only, or its upkeep met a full disk."""
    from .store_repair import read_only_error

    if store.read_only:
        print(f"note: {read_only_error(store)}", file=sys.stderr)
    if store.fault:
        print(f"note: {store.fault}", file=sys.stderr)


def _run_dict(run) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(run) | {"progress": round(run.progress, 4)}


def cmd_train(args) -> dict:
    from . import dist
    from .worker import execute_run, follow_run
    from .train import Trainer

    dist.init_from_env()  # under torchrun: one process of several, rank 0 records
    store = _store(args) if dist.is_main_process() else None
    if args.resume:
        cfg = (store.config(args.resume) if store else None)
        cfg = dist.broadcast_object(cfg)
    else:
        cfg = config_from_args(args)
    trainer = Trainer(cfg)  # loads the data first: a missing dataset is a one-line error, not a failed run
    if not dist.is_main_process():
        from .runs import RunStore

        follow_run(RunStore(args.runs_dir), dist.broadcast_object(None), trainer=trainer)
        return {"_quiet": True}
    if args.resume:
        run_id = args.resume
        if store.get(run_id, refresh=True).active:
            raise ConfigError(f"run {run_id} is {store.get(run_id).status}; cancel it before resuming here")
    else:
        run_id = store.create_run(cfg, status="running", total_steps=trainer.total_steps)
    dist.broadcast_object(run_id)
    store.claim_foreground(run_id, str(trainer.device))
    print(f"run {run_id} on {trainer.device} × {trainer.world} → {store.run_dir(run_id)}", file=sys.stderr)
    run = execute_run(store, run_id, progress=True, trainer=trainer)
    if run.status != "finished":
        print(f"run {run_id} {run.status}: {run.error or ''}", file=sys.stderr)
    last = {k: v["value"][-1] for k, v in store.metrics(run_id).items() if v["value"]}
    return _run_dict(run) | {"metrics": last, "_exit": 0 if run.status == "finished" else 1}


def cmd_launch(args) -> dict:
    from .runs import launch

    cfg = config_from_args(args)
    store = _store(args)
    run_id = launch(cfg, store)
    run = store.get(run_id, refresh=False)
    if not args.json:
        print(run_id)
    return _run_dict(run)


def cmd_doctor(args) -> dict:
    from .store_repair import check

    store = _store(args)
    findings = check(store, repair=args.repair)
    runs = len(store.list_runs())
    if not args.json:
        for line in findings:
            print(line)
        if not findings:
            print(f"ok: {runs} run(s); runs.sqlite intact; every run folder indexed; no files of interrupted writes")
    unresolved = [f for f in findings if "--repair" in f or "read-only" in f]
    return {"runs": runs, "findings": findings, "_exit": 1 if unresolved else 0}


def cmd_runs(args) -> dict:
    store = _store(args)
    runs = store.list_runs(refresh=True)  # the CLI repairs the store as it looks (the app has a thread)
    _faults(store)
    if not args.json:
        owners = any(r.owner for r in runs)   # classroom mode's runs say who launched them
        print(f"{'id':42} {'status':9} {'method':13} {'dataset':8} " + (f"{'owner':16} " if owners else "")
              + f"{'progress':>8}  error")
        for r in runs:
            print(f"{r.id:42} {r.status:9} {r.method:13} {r.dataset:8} " + (f"{r.owner or '-':16} " if owners else "")
                  + f"{r.progress:8.0%}  {r.error or ''}")
    return {"runs": [_run_dict(r) for r in runs]}


def cmd_status(args) -> dict:
    store = _store(args)
    run = store.get(args.run_id, refresh=True)
    _faults(store)
    if not args.json:
        print(f"{run.id}: {run.status} ({run.step}/{run.total_steps} steps, {run.progress:.0%}) on {run.device}")
        if run.error:
            print(f"error: {run.error}")
    return _run_dict(run)


def cmd_cancel(args) -> dict:
    store = _store(args)
    status = store.cancel(args.run_id)
    if not args.json:
        print(f"{args.run_id}: {'cancel requested' if status == 'running' else status}")
    return _run_dict(store.get(args.run_id, refresh=False))


def cmd_resume(args) -> dict:
    run = _store(args).resume(args.run_id)
    if not args.json:
        print(f"{run.id}: {run.status}")
    return _run_dict(run)


def cmd_export(args) -> dict:
    from . import export

    store, out = _store(args), {}
    store.get(args.run_id, refresh=False)   # an unknown id fails before any file is written
    if args.metrics:
        if args.metrics_file == "-":
            sys.stdout.write(export.metrics_csv(store, [args.run_id], args.step))
        else:
            default = store.run_dir(args.run_id) / "export" / "metrics.csv"
            target = Path(args.metrics_file) if args.metrics_file else default
            out["metrics"] = str(export.write_metrics_csv(store, args.run_id, target, args.step))
    if args.tensorboard:
        out["tensorboard"] = str(export.export_tensorboard(store, args.run_id, Path(args.tensorboard), args.step))
    if args.projector:
        out["projector"] = export.export_projector(store, args.run_id, Path(args.projector), args.step)
    if args.backbone or args.out or not (args.metrics or args.tensorboard or args.projector):
        out["path"] = str(export.export_backbone(store, args.run_id, Path(args.out) if args.out else None, args.step))
    if not args.json:
        for key, value in out.items():
            if key == "projector":
                print(f"projector: {value['folder']} ({value['points']} points × {value['dim']} at step "
                      f"{value['step']}; " + (f"no sprite: {value['sprite_error']})" if not value["sprite"]
                                              else "sprite.png)"))
            else:
                print(f"{'backbone' if key == 'path' else key}: {value}")
        if "tensorboard" in out:
            print(f"view it: tensorboard --logdir {Path(out['tensorboard']).parent}")
    return out


def cmd_eval(args) -> dict:
    from . import evaluate

    store = _store(args)
    bars: list = []

    def progress(fraction: float, message: str) -> None:
        if args.json:
            print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)
            return
        if not bars:  # created on first use, so an early error stays a single line
            from tqdm import tqdm
            bars.append(tqdm(total=100, dynamic_ncols=True, leave=False, file=sys.stderr,
                             bar_format="{percentage:3.0f}%|{bar:20}| {desc}"))
        bars[0].n = round(100 * fraction)
        bars[0].set_description_str(message, refresh=True)

    embed = {"umap": "umap", "pca": "pca", "none": False}[args.embed]
    if args.finetune:
        from .evaluate.finetune import finetune_run, format_finetune

        try:
            result = finetune_run(store, args.run_id, args.step, epochs=args.epochs, lr=args.finetune_lr,
                                  baseline=not args.no_baselines, train_size=args.train_size,
                                  test_size=args.test_size, device=args.device, progress=progress)
        finally:
            for bar in bars:
                bar.close()
        if not args.json:
            print(format_finetune(result))
        return result
    if args.epochs is not None:
        raise ConfigError("epochs: --epochs sets the fine-tuning budget; add --finetune")
    try:
        result = evaluate.evaluate_run(store, args.run_id, args.step, features=args.features, k=args.k,
                                       temperature=args.temperature, train_size=args.train_size,
                                       test_size=args.test_size, embed=embed, baselines=not args.no_baselines,
                                       device=args.device, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    if not args.json:
        print(evaluate.format_results(result))
    return result


def cmd_datasets(args) -> dict:
    from .data import describe_datasets

    from .data import uploads
    from .runs import default_runs_dir

    runs_dir = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
    if args.add:
        with open(args.add, "rb") as stream:
            saved = uploads.save_upload(runs_dir, args.name or Path(args.add).stem, [(Path(args.add).name, stream)])
        if not args.json:
            print(f"{saved['name']}: {saved['images']} images, classes {', '.join(saved['classes'])} → "
                  f"{saved['path']}" + "".join(f"\nnotice: {n}" for n in saved["notices"]))
        return saved
    if args.delete:
        uploads.delete_uploaded(runs_dir, args.delete)
        if not args.json:
            print(f"deleted {args.delete}")
        return {"deleted": args.delete}
    rows, uploaded = describe_datasets(), uploads.list_uploaded(runs_dir)
    if not args.json:
        for d in rows:
            factors = ", ".join(d.get("factors") or []) or "—"
            print(f"{d['name']:8} {'embedded' if d['embedded'] else 'files':8} splits: {', '.join(d['splits']):24} "
                  f"factors: {factors}\n         {d['description']}")
        print(f"\nuploaded to {uploads.uploads_dir(runs_dir)} (train with --dataset folder --data-root "
              f"{uploads.uploads_dir(runs_dir)}/NAME):" + ("" if uploaded else " none"))
        for u in uploaded:
            print(f"{u['name']:20} {u['images']:6} images {u['mb']:8.1f} MB  {len(u['classes'])} classes  "
                  f"{u['layout']}")
    return {"datasets": rows, "uploaded": uploaded}


def cmd_methods(args) -> dict:
    from .augment import PRESET_SOURCES
    from .backbones import BACKBONES
    from .methods import METHODS

    methods = [{"name": n, "description": c.description, "needs_labels": c.needs_labels} for n, c in METHODS.items()]
    backbones = [{"name": n, "description": b.description, "min_image_size": b.min_image_size}
                 for n, b in BACKBONES.items()]
    presets = [{"name": n, "source": s} for n, s in PRESET_SOURCES.items()]
    if not args.json:
        print("methods:")
        for m in methods:
            print(f"  {m['name']:13} {m['description']}")
        print("backbones:")
        for b in backbones:
            print(f"  {b['name']:15} {b['description']}")
        print("augmentation presets:")
        for p in presets:
            print(f"  {p['name']:13} {p['source']}")
    return {"methods": methods, "backbones": backbones, "presets": presets}


def cmd_recipes(args) -> dict:
    from .recipes import describe_recipes
    from .train import resolve_device

    rows = describe_recipes(resolve_device(args.device))
    if not args.json:
        for r in rows:
            print(f"{r['name']}\n  {r['title']}\n  published: {r['published']}\n  source: {r['source']}\n"
                  f"  changed: {r['changes']}\n  estimated here: {r['estimated']} ({r['estimate_basis']})")
    return {"recipes": rows}


def cmd_bench(args) -> dict:
    from .bench import format_table, run

    result = run(quick=args.quick, device=args.device, progress=lambda m: print(m, file=sys.stderr),
                 case=args.case)
    if not args.json:
        print(format_table(result))
    return result


def _progress_bar(args):
    """A tqdm bar over a lesson's steps on stderr (a line per update under --json); returns (callback, close)."""
    bars: list = []

    def progress(fraction: float, message: str) -> None:
        if args.json:
            print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)
            return
        if not bars:
            from tqdm import tqdm
            bars.append(tqdm(total=100, dynamic_ncols=True, leave=False, file=sys.stderr,
                             bar_format="{percentage:3.0f}%|{bar:20}| {desc}"))
        bars[0].n = round(100 * fraction)
        bars[0].set_description_str(message, refresh=True)

    return progress, lambda: [bar.close() for bar in bars]


def cmd_lessons(args) -> dict:
    from . import lessons

    store = _store(args)
    if args.action == "list":
        rows = [lessons.describe(lesson, store) for lesson in lessons.load_lessons()]
        if not args.json:
            for r in rows:
                print(f"{r['id']:22} {r['runs']:2} runs {r['claims']:2} claims  {r['last']:28} {r['title']}")
        return {"lessons": rows}
    if args.action == "publish":
        from . import lesson_results

        published = lesson_results.publish(store)
        if not published["lessons"]:
            raise ConfigError(f"no lesson has been verified in {store.root}: run `lessons verify` there first")
        path = lesson_results.save(published, args.out)
        if not args.json:
            print(lesson_results.markdown_table(published))
            print(f"\nwritten to {path}", file=sys.stderr)
        return published | {"path": str(path)}
    if args.action != "verify" and not args.lesson_id:
        raise ConfigError(f"lesson_id: `lessons {args.action}` needs a lesson id (see `lessons list`)")
    chosen = [lessons.get_lesson(args.lesson_id)] if args.lesson_id else lessons.load_lessons()
    if args.action == "launch":
        record = lessons.launch(chosen[0], store, seed=args.seed, reuse=not args.fresh)
        if not args.json:
            print("\n".join(f"{run_id}  {label}" for label, run_id in record["runs"].items()))
        return record
    if args.action == "show":
        record = lessons.load_record(store, chosen[0].id, args.seed)
        if record is None:
            raise ConfigError(f"lesson {chosen[0].id}: never launched with seed {args.seed} in {store.root}; "
                              f"run `lessons verify {chosen[0].id}`")
        record["claims"] = lessons.measure(chosen[0], store, record)
        records = [record]
    else:
        progress, close = _progress_bar(args)
        try:
            records = lessons.verify_many(chosen, store, seed=args.seed, reuse=not args.fresh, progress=progress)
        finally:
            close()
    if not args.json:
        print("\n\n".join(lessons.format_report(lesson, r) for lesson, r in zip(chosen, records)))
    held = all(c["held"] for r in records for c in r["claims"] or [])
    return {"seed": args.seed, "lessons": records, "all_held": held, "_exit": 0 if held else 1}


def cmd_sweep(args) -> dict:
    from . import lessons, sweeps

    store = _store(args)
    all_sweeps = [lesson for lesson in lessons.load_lessons() if lesson.sweep]
    if args.action == "list":
        rows = [{"id": s.id, "title": s.title, "field": s.sweep.field, "values": list(s.sweep.values),
                 "methods": [label for label, _ in s.sweep.methods]} for s in all_sweeps]
        if not args.json:
            for r in rows:
                print(f"{r['id']:22} {r['field']:14} {', '.join(map(str, r['values'])):34} "
                      f"{' vs '.join(r['methods'])}")
        return {"sweeps": rows}
    if not args.sweep_id:
        raise ConfigError(f"sweep_id: `sweep {args.action}` needs a sweep (see `sweep list`)")
    by_id = {s.id: s for s in all_sweeps} | {s.id.removeprefix("sweep_"): s for s in all_sweeps}
    if args.sweep_id not in by_id:
        raise ConfigError(f"sweep: unknown sweep {args.sweep_id!r}; choose one of: "
                          f"{', '.join(s.id.removeprefix('sweep_') for s in all_sweeps)}")
    lesson = by_id[args.sweep_id]
    if args.action == "run":
        record = lessons.launch(lesson, store, seed=args.seed, reuse=not args.fresh)
        if not args.wait:
            if not args.json:
                print("\n".join(f"{run_id}  {label}" for label, run_id in record["runs"].items()))
            return record
        progress, close = _progress_bar(args)
        try:
            lessons.wait(store, record, progress=progress)
        finally:
            close()
    record = lessons.load_record(store, lesson.id, args.seed)
    if record is None:
        raise ConfigError(f"sweep {lesson.id}: never run with seed {args.seed} in {store.root}; "
                          f"run `sweep run {args.sweep_id}`")
    result = sweeps.table(lesson.sweep, record["runs"], store)
    if not args.json:
        print(sweeps.format_table(lesson.sweep, result))
    return {"sweep": lesson.id, "seed": args.seed} | result


def cmd_worker(args) -> dict:
    from . import dist
    from .runs import RunStore
    from .worker import execute_run, follow_run

    dist.init_from_env()  # launched through torchrun when the run has nproc > 1
    store = RunStore(args.runs_dir)
    if not dist.is_main_process():
        follow_run(store, args.run_id)
        return {"_quiet": True}
    run = execute_run(store, args.run_id)
    return _run_dict(run) | {"_exit": 0 if run.status == "finished" else 1}


COMMANDS = {"train": cmd_train, "launch": cmd_launch, "runs": cmd_runs, "status": cmd_status, "cancel": cmd_cancel,
            "resume": cmd_resume, "export": cmd_export, "eval": cmd_eval, "datasets": cmd_datasets, "methods": cmd_methods, "recipes": cmd_recipes, "bench": cmd_bench,
            "lessons": cmd_lessons, "sweep": cmd_sweep, "doctor": cmd_doctor, "_worker": cmd_worker}
