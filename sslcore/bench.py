"""`python -m sslcore bench`: each case side by side with its reference in one process, after a warm-up,
repeated; medians and ratios. Figures, not pass/fail: BENCHMARKS.md records the last full table."""
from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from .augment import TwoViewAugment
from .config import RunConfig
from .errors import ConfigError


def _median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_augmentation(size: int, n: int, repeats: int) -> dict:
    """Two views of n uint8 images: TwoViewAugment (per-image parameters, the whole batch in cache-sized chunks) vs a
    per-image torchvision v2 loop."""
    from torchvision.transforms import v2

    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
    ours = TwoViewAugment("simclr", size)
    # The reference: what a DataLoader pipeline does, one image at a time with torchvision v2 (same recipe).
    ref = v2.Compose([v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip(),
                      v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), v2.RandomGrayscale(0.2),
                      v2.RandomApply([v2.GaussianBlur(max(3, size // 10 * 2 + 1), (0.1, 2.0))], p=0.5),
                      v2.ToDtype(torch.float32, scale=True)])
    t_ours = _median_time(lambda: ours(images), repeats)
    t_ref = _median_time(lambda: [(ref(x), ref(x)) for x in images], repeats)
    return {"case": f"two-view augmentation, {size} px, {n} images", "ours": f"{n / t_ours:,.0f} img/s",
            "reference": f"{n / t_ref:,.0f} img/s (torchvision v2 per-image loop)", "ratio": t_ref / t_ours,
            "goal": f"≥ 4× at {size} px"}


def _matmul_rate(device: torch.device) -> float:
    a = torch.randn(2048, 2048, device=device)
    t = _median_time(lambda: a @ a, 5)
    return 2 * 2048 ** 3 / t


def bench_train_step(cfg: RunConfig, steps: int) -> list[dict]:
    """Barlow Twins steps of the default convnet: bare loop, against the FLOP floor and with logging on."""
    from torch.utils.flop_counter import FlopCounterMode

    from .runs import RunStore
    from .worker import RunRecorder
    from .train import Recorder, Trainer

    cfg = cfg.replace(train_size=cfg.optim.batch_size * steps, epochs=1, log_every=5, snapshot_every=20)
    trainer = Trainer(cfg)
    idx = torch.arange(cfg.optim.batch_size)
    with FlopCounterMode(display=False) as counter:
        trainer._step(idx, cfg.optim.lr)
    flops_per_step = counter.get_total_flops()
    rate = _matmul_rate(trainer.device)

    def run(recorder) -> float:
        t = Trainer(cfg, recorder)
        t._step(idx, cfg.optim.lr)  # warm-up
        start = time.perf_counter()
        t.fit()
        return t.total_steps * cfg.optim.batch_size / (time.perf_counter() - start)

    bare = statistics.median(run(Recorder()) for _ in range(2))
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        logged = []
        for _ in range(2):
            run_id = store.create_run(cfg, status="running")
            recorder = RunRecorder(store, run_id)
            logged.append(run(recorder))
            recorder.close()
        logged_rate = statistics.median(logged)
    floor = rate / (flops_per_step / cfg.optim.batch_size)
    return [
        {"case": f"Barlow Twins step, {cfg.method.backbone}, batch {cfg.optim.batch_size}, "
                 f"{cfg.data.image_size} px, projector {cfg.method.projector_dim}",
         "ours": f"{bare:,.0f} pairs/s", "reference": f"{floor:,.0f} pairs/s (model FLOPs ÷ matmul "
                                                       f"{rate / 1e9:,.0f} GFLOP/s)",
         "ratio": bare / floor, "goal": "≥ 50 % of the floor; ≥ 250 pairs/s on 2 cores"},
        {"case": "same, with logging + snapshots to the run store", "ours": f"{logged_rate:,.0f} pairs/s",
         "reference": f"{bare:,.0f} pairs/s (bare loop)", "ratio": logged_rate / bare, "goal": "≥ 0.95"},
    ]


def bench_online_probe(cfg: RunConfig, steps: int, repeats: int = 5) -> dict:
    """Training pairs/s with the online linear probe against the same run without it: what watching accuracy live
    costs the training. Like with like: fresh trainers of one seed draw the same augmentations (the probe's head
    init used to move the RNG, so the two timed different crops and blurs), each is warmed up by one step, and the
    runs alternate in ABBA order. The probe's own step is 0.24 ms of a 230 ms step (quiet machine, 2026-11-26),
    far below the run-to-run spread: this bench's earlier form (3 pairs of 10 steps, always without first) read
    0.94, 1.01 and 1.05 on the same code; hence 5 pairs of 20 steps."""
    from .train import Recorder, Trainer

    cfg = cfg.replace(train_size=cfg.optim.batch_size * steps, epochs=1)
    idx = torch.arange(cfg.optim.batch_size)

    def rate(probe: bool) -> float:
        t = Trainer(cfg.replace(online_probe=probe), Recorder())
        t._step(idx, cfg.optim.lr)  # warm-up, the probe's first step included
        start = time.perf_counter()
        t.fit()
        return t.total_steps * cfg.optim.batch_size / (time.perf_counter() - start)

    rates: dict[bool, list[float]] = {True: [], False: []}
    for r in range(repeats):
        for probe in ((False, True) if r % 2 == 0 else (True, False)):
            rates[probe].append(rate(probe))
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    return {"case": f"online linear probe, {cfg.method.name} {cfg.method.backbone}, batch {cfg.optim.batch_size}",
            "ours": f"{on:,.0f} pairs/s (with the probe)", "reference": f"{off:,.0f} pairs/s (without)",
            "ratio": on / off, "goal": "≥ 0.97 (≤ 3 % overhead)"}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_recipe(recipe: str, backbones: tuple[str, ...], steps: int, device: str, repeats: int = 3,
                 batch_size: int | None = None) -> list[dict]:
    """A published recipe's training throughput (issue 18: ``keras_barlow_twins_cifar10`` on a GPU, bf16 autocast,
    the uint8 images and their augmentation on the device): the real Trainer over ``steps`` steps, logging and
    diagnostics at the recipe's cadence, each timed run after one warm-up step (a bare Recorder: no store, so no
    checkpoint write in the timing). The images are random, of the recipe dataset's shape and count per step: a
    step's work does not depend on what the pixels show, and CIFAR-10's files need no download. Beside the pairs/s:
    the augmentation's share of a step, and the model's FLOPs as a share of the device's matmul rate."""
    from .recipes import get_recipe

    rows = []
    for backbone in backbones:
        cfg = get_recipe(recipe).config(RunConfig()).replace(device=device, backbone=backbone, epochs=1)
        rows.append(_bench_recipe_config(recipe, cfg.replace(batch_size=batch_size) if batch_size else cfg, steps,
                                         repeats))
    return rows


def _bench_recipe_config(recipe: str, cfg: RunConfig, steps: int, repeats: int) -> dict:
    from .data.imageset import ImageSet
    from .recipes import device_flops, flops_per_pair
    from .train import Recorder, Trainer

    b, size = cfg.optim.batch_size, cfg.data.image_size
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (b * steps, 3, size, size), dtype=torch.uint8, generator=g)
    train_set = ImageSet(images, torch.randint(0, 10, (b * steps,), generator=g), [f"class {i}" for i in range(10)],
                         name=f"random {size} px images")

    def timed_fit() -> float:
        t = Trainer(cfg, Recorder(), train_set=train_set)
        t._step(torch.arange(b, device=t.device), cfg.optim.lr)   # warm-up: cuDNN's search, the allocator
        _synchronize(t.device)
        start = time.perf_counter()
        t.fit()
        _synchronize(t.device)
        return t.total_steps * b / (time.perf_counter() - start)

    rate = statistics.median(timed_fit() for _ in range(repeats))
    trainer = Trainer(cfg, Recorder(), train_set=train_set)
    dev, idx = trainer.device, torch.arange(b, device=trainer.device)

    def synced(fn: Callable[[], object]) -> Callable[[], None]:
        return lambda: (fn(), _synchronize(dev))

    step_s = _median_time(synced(lambda: trainer._step(idx, cfg.optim.lr)), 2 * repeats - 1)
    augment_s = _median_time(synced(lambda: trainer.augment(trainer.images[idx], num_views=2)), 2 * repeats - 1)
    model_share = rate * flops_per_pair(cfg) / device_flops(dev)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    return {
        "case": f"{recipe}, {cfg.method.backbone}, batch {b}, {size} px, projector {cfg.method.projector_dim}, "
                f"{'bf16 autocast' if dev.type == 'cuda' else 'fp32'}, data + augmentation on the {where}",
        "ours": f"{rate:,.0f} pairs/s (a step {step_s * 1e3:.1f} ms, its augmentation {augment_s * 1e3:.1f} ms; "
                f"model FLOPs at {model_share:.0%} of the {'bf16 ' if dev.type == 'cuda' else ''}matmul rate)",
        "reference": "10,000 pairs/s (the goal on an H100; lightly ≈ 1,100 on an A6000, fp32)",
        "ratio": rate / 10_000, "goal": "≥ 10,000 pairs/s on an H100 (ratio ≥ 1)"}


def bench_knn(n_query: int, n_train: int, dim: int, repeats: int, sklearn: bool = True) -> list[dict]:
    from .evaluate import knn_accuracy

    g = torch.Generator().manual_seed(0)
    train = torch.randn(n_train, dim, generator=g)
    query = torch.randn(n_query, dim, generator=g)
    ytr = torch.randint(0, 10, (n_train,), generator=g)
    yq = torch.randint(0, 10, (n_query,), generator=g)
    chunk = max(1, int(5e6 // n_train))
    tn = torch.nn.functional.normalize(train, dim=1)

    def bare():
        qn = torch.nn.functional.normalize(query, dim=1)
        for i in range(0, n_query, chunk):
            (qn[i:i + chunk] @ tn.T).topk(20, dim=1)

    t_ours = _median_time(lambda: knn_accuracy(train, ytr, query, yq, k=20, temperature=0.07), repeats)
    t_bare = _median_time(bare, repeats)
    rows = [{"case": f"weighted kNN {n_query:,} × {n_train:,} × {dim}", "ours": f"{t_ours:.2f} s",
             "reference": f"{t_bare:.2f} s (bare chunked matmul + top-k)", "ratio": t_ours / t_bare,
             "goal": "≤ 2× the matmul"}]
    if sklearn:
        from sklearn.neighbors import KNeighborsClassifier

        clf = KNeighborsClassifier(n_neighbors=20, metric="cosine", algorithm="brute").fit(train.numpy(), ytr.numpy())
        t_sk = _median_time(lambda: clf.predict(query.numpy()), 1, warmup=0)
        rows.append({"case": rows[0]["case"], "ours": f"{t_ours:.2f} s",
                     "reference": f"{t_sk:.2f} s (scikit-learn brute kNN)", "ratio": t_ours / t_sk,
                     "goal": "faster than scikit-learn (< 1)"})
    return rows


def bench_umap(n: int, dim: int) -> dict:
    import umap

    from .evaluate import umap_2d, warm_up_umap

    warm_up_umap(block=True)
    x = torch.nn.functional.normalize(torch.randn(n, dim), dim=1).numpy()
    t_ours = _median_time(lambda: umap_2d(x), 2, warmup=0)
    t_ref = _median_time(lambda: umap.UMAP().fit_transform(x), 1, warmup=0)
    return {"case": f"UMAP {n:,} points × {dim} (warm)", "ours": f"{t_ours:.2f} s",
            "reference": f"{t_ref:.2f} s (umap-learn defaults)", "ratio": t_ours / t_ref,
            "goal": "≤ 3 s and faster than defaults"}


def bench_time_to_insight(cfg: RunConfig) -> dict:
    """The default Train-page run, evaluated after every epoch (evaluation time not counted): seconds of training
    until the evaluation issue's quality target holds — kNN(class) ≥ raw pixels + 25 points and above the random
    backbone, with the colour probe below raw pixels."""
    from .evaluate import (DEFAULT_K, DEFAULT_TEMPERATURE, eval_sets, targets, extract_features, knn_predict,
                           random_backbone, raw_pixel_features)
    from .train import Recorder, Trainer

    train, test = eval_sets(cfg, None, None)
    tr_t, te_t = targets(train), targets(test)

    def knn(ftr, fte) -> dict[str, float]:
        preds = knn_predict(ftr, {t: tr_t[t] for t in ("class", "colour")}, fte, k=DEFAULT_K,
                            temperature=DEFAULT_TEMPERATURE)
        return {t: float((p == te_t[t]).float().mean()) for t, p in preds.items()}

    raw = knn(raw_pixel_features(train.images), raw_pixel_features(test.images))
    holder = random_backbone(cfg)
    rnd = knn(extract_features(holder, train.images), extract_features(holder, test.images))
    reached: list[tuple[int, float, dict]] = []

    class EveryEpoch(Recorder):
        def __init__(self):
            self.train_s, self.since = 0.0, time.perf_counter()

        def on_epoch_end(self, epoch, step, state):
            self.train_s += time.perf_counter() - self.since
            acc = knn(extract_features(state.model, train.images), extract_features(state.model, test.images))
            state.model.train()
            if acc["class"] >= raw["class"] + 0.25 and acc["class"] > rnd["class"] and acc["colour"] < raw["colour"]:
                reached.append((epoch, self.train_s, acc))
            self.last = (epoch, self.train_s, acc)
            self.since = time.perf_counter()

    recorder = EveryEpoch()
    Trainer(cfg, recorder).fit()
    epoch, seconds, acc = reached[0] if reached else recorder.last
    verdict = (f"reached at epoch {epoch}" if reached else "not reached") + f" of {cfg.optim.epochs}"
    return {"case": f"time to insight: default run on {cfg.data.dataset}, to the quality target ({verdict})",
            "ours": f"{seconds:.0f} s (kNN class {acc['class']:.1%}, colour {acc['colour']:.1%})",
            "reference": f"raw pixels: class {raw['class']:.1%}, colour {raw['colour']:.1%}; random backbone: "
                         f"class {rnd['class']:.1%}", "ratio": seconds / 120, "goal": "≤ 120 s (ratio ≤ 1)"}


def bench_folder_decode(n: int, image_size: int = 64) -> list[dict]:
    """A folder of n generated 500×375 JPEG photos (q 90): our first load (thread pool, JPEG draft, into the decode
    cache) vs torchvision's ImageFolder + DataLoader(num_workers=2) resizing to the same size; then our cached load."""
    import os
    from pathlib import Path

    import numpy as np
    from PIL import Image
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from .data import decode_cache
    from .data.folders import _list_images, _open_rgb

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        y, x = np.mgrid[0:375, 0:500].astype(np.float32)
        for i in range(n):                               # noisy gradients: JPEG-sized like photos, not flat colour
            a = rng.uniform(0, 2 * np.pi)
            g = (np.cos(a) * x + np.sin(a) * y) / 625
            img = np.stack([g, 1 - g, 0.5 + 0 * g], -1) * rng.uniform(120, 230, 3)
            img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
            path = f"{tmp}/photos/class{i % 2}/{i:05d}.jpg"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(img).save(path, quality=90)
        files = _list_images(Path(tmp, "photos"))
        old = os.environ.get("SSL_LENS_CACHE")
        os.environ["SSL_LENS_CACHE"] = f"{tmp}/cache"
        try:
            start = time.perf_counter()
            decode_cache.decode_images(files, image_size, _open_rgb)
            t_first = time.perf_counter() - start
            t_cached = _median_time(lambda: decode_cache.decode_images(files, image_size, _open_rgb), 3, warmup=0)
        finally:
            if old is None:
                os.environ.pop("SSL_LENS_CACHE")
            else:
                os.environ["SSL_LENS_CACHE"] = old
        ref = datasets.ImageFolder(f"{tmp}/photos", transform=transforms.Compose([
            transforms.Resize(image_size), transforms.CenterCrop(image_size), transforms.PILToTensor()]))
        start = time.perf_counter()
        for _ in DataLoader(ref, batch_size=256, num_workers=2):
            pass
        t_ref = time.perf_counter() - start
    return [{"case": f"folder first load, {n} JPEGs 500×375 → {image_size} px", "ours": f"{n / t_first:,.0f} img/s",
             "reference": f"{n / t_ref:,.0f} img/s (torchvision ImageFolder + DataLoader, 2 workers)",
             "ratio": t_ref / t_first, "goal": "≥ 1"},
            {"case": f"folder cached load, {n} images at {image_size} px", "ours": f"{t_cached:.2f} s",
             "reference": f"{t_first:.1f} s (our first load)", "ratio": t_first / t_cached,
             "goal": "≤ 1 s for 5,000 at 64 px"}]


def bench_live_view(window: float) -> list[dict]:
    """What watching a run costs the run (issue 12): training pairs/s with 0, 1 (Chromium), 10 and 30 Monitor
    viewers, the server's CPU and the Monitor lag. The harness drives the app, so it lives with the app
    (lens_ui/live_bench.py) and runs as its own process: the engine never imports the app."""
    out = subprocess.run([sys.executable, "-m", "lens_ui.live_bench", "--json", "--window", str(window)],
                         cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise ConfigError(f"live view bench failed (exit {out.returncode}); its message is above")
    return json.loads(out.stdout.strip().splitlines()[-1])["rows"]


def run(quick: bool = False, device: str = "cpu", progress: Callable[[str], None] = print,
        case: str | None = None) -> dict:
    """Every case (``quick``: small sizes, without the minutes-long ones), or only ``case`` (a key of ``cases``)."""
    cfg = RunConfig().replace(device=device)
    rows: list[dict] = []
    cases: dict[str, tuple[str, Callable[[], object]]] = {
        "augmentation_32": ("augmentation 32 px",
                            lambda: bench_augmentation(32, 256 if quick else 1024, 2 if quick else 5)),
        "augmentation_96": ("augmentation 96 px",
                            lambda: bench_augmentation(96, 64 if quick else 256, 2 if quick else 3)),
        "training_step": ("training step", lambda: bench_train_step(cfg, 3 if quick else 10)),
        "online_probe": ("online probe", lambda: bench_online_probe(cfg, 3 if quick else 20, 2 if quick else 5)),
        "knn": ("kNN", lambda: bench_knn(1000, 5000, 512, 2) if quick else bench_knn(10_000, 50_000, 512, 3)),
        "folder_decode": ("folder decode", lambda: bench_folder_decode(200 if quick else 5000)),
        "umap": ("UMAP", lambda: bench_umap(5000, 128)),
        "time_to_insight": ("time to insight", lambda: bench_time_to_insight(cfg)),
        "live_view": ("live view", lambda: bench_live_view(10 if quick else 20)),
        # A GPU case: ResNet-34 at batch 512 takes minutes per step on 2 CPU cores, so a full run leaves it out there.
        "recipe_gpu": ("keras_barlow_twins_cifar10 on the device",
                       lambda: bench_recipe("keras_barlow_twins_cifar10", ("resnet18_cifar", "resnet34"),
                                            5 if quick else 40, device, repeats=1 if quick else 3)),
    }
    if case is not None:
        if case not in cases:
            raise ConfigError(f"case: unknown bench case {case!r}; choose one of: {', '.join(cases)}")
        if case == "recipe_gpu" and device == "cpu":
            raise ConfigError("case: recipe_gpu trains ResNets at batch 512 (minutes per step on a CPU); "
                              "run it with --device cuda")
        chosen = [cases[case]]
    else:
        slow = ("umap", "time_to_insight", "live_view") if quick else ()
        chosen = [v for k, v in cases.items() if k not in slow and (k != "recipe_gpu" or device != "cpu")]
    for name, fn in chosen:
        progress(f"bench: {name} …")
        out = fn()
        rows.extend(out if isinstance(out, list) else [out])
    return {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                       f"torch {torch.__version__}", "device": device, "quick": quick, "rows": rows}


def format_table(result: dict) -> str:
    lines = [f"machine: {result['machine']}; device: {result['device']}; quick: {result['quick']}", "",
             "| case | ours | reference | ratio | goal |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['case']} | {r['ours']} | {r['reference']} | {r['ratio']:.2f} | {r['goal']} |")
    return "\n".join(lines)
