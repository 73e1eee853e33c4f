"""Running a stored run in this process: the trainer's ``Recorder`` that writes to the run store, and the run's
lifecycle around ``Trainer.fit`` (resume, evaluate at the end, record how it ended).

This module is where the store, the trainer and evaluation meet, so that ``runs`` (the store and the launcher)
depends on neither ``train`` nor ``evaluate``: the CLI's ``train`` and ``_worker`` commands call ``execute_run``.
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from typing import Any

import torch

from .errors import StoreError
from .evaluate import evaluate_model
from .runs import HEARTBEAT_INTERVAL, RunInfo, RunStore
from .store_repair import STOPPED, clean_interrupted_writes


class RunRecorder:
    """The trainer's Recorder for a run in the store (rank 0 only under DDP). A daemon thread beats the
    heartbeat every HEARTBEAT_INTERVAL seconds, so a long step or a slow dataset load never looks dead."""

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self.step = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{run_id}")
        self._thread.start()

    def _beat(self) -> None:
        store = RunStore(self.store.root, max_concurrent=self.store.max_concurrent)  # own connection
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            try:
                store.heartbeat(self.run_id)
            except StoreError:
                pass  # disk full: the trainer's own next write meets the fault and stops the run with its cause

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def log_metrics(self, step: int, epoch: float, values: dict[str, float]) -> None:
        self.step = step
        self.store.log_metrics(self.run_id, step, epoch, values)

    def snapshot(self, step: int, matrices: dict[str, torch.Tensor], stats: dict[str, float]) -> None:
        from .diagnostics import xcorr_summary

        for kind, m in matrices.items():
            summary = xcorr_summary(m)
            self.store.add_snapshot(self.run_id, step, kind, m.cpu().numpy(), summary["xcorr_diag"],
                                    summary["xcorr_offdiag"])

    def checkpoint(self, step: int, state: dict[str, Any]) -> None:
        self.store.save_checkpoint(self.run_id, step, state)
        self.store.heartbeat(self.run_id, step)

    def prune_checkpoints(self, keep) -> None:
        self.store.prune_checkpoints(self.run_id, keep)

    def should_stop(self) -> bool:
        return self.store.cancel_requested(self.run_id)

    def on_epoch_end(self, epoch: int, step: int, state) -> None:
        print(f"epoch {epoch} done at step {step}", flush=True)
        cfg = getattr(self, "cfg", None)
        if cfg is None or not cfg.log.eval_every or epoch % cfg.log.eval_every:
            return
        if epoch == cfg.optim.epochs and cfg.log.eval_at_end:
            return  # execute_run evaluates the finished run (with the full embedding)
        self.evaluate(state, embed="pca")

    def evaluate(self, state, *, embed: bool | str = "pca") -> None:
        """Evaluate the trainer's model in memory and store the results; a failure is logged, never fatal."""
        try:
            t0 = time.perf_counter()
            r = evaluate_model(state.model, self.cfg, step=state.step, epoch=state.epoch, store=self.store,
                               run_id=self.run_id, embed=embed)
            m, b = r["metrics"], r["baselines"].get("raw_pixels", {})
            print(f"eval at step {state.step}: kNN class {m['knn/class']:.1%} (raw pixels "
                  f"{b.get('knn/class', float('nan')):.1%}), linear class {m['linear/class']:.1%} "
                  f"in {time.perf_counter() - t0:.1f} s", flush=True)
        except Exception as e:  # noqa: BLE001 — e.g. an unlabeled dataset: training itself is fine
            print(f"evaluation at step {state.step} skipped: {_last_line(e)}", flush=True)


def execute_run(store: RunStore, run_id: str, *, progress: bool = False, trainer=None) -> RunInfo:
    """Run (or resume) a stored run in this process and record how it ended. Never raises for a training
    failure: the status says failed/diverged, the error's last line is stored, the traceback goes to stdout
    (the run's log.txt for background runs). A foreground caller may pass the ``trainer`` it built already
    (so bad data fails before a run is stored)."""
    from .train import Diverged, Trainer

    run = store.get(run_id, refresh=False)
    files, size = clean_interrupted_writes(store.run_dir(run_id))
    if files:
        print(f"removed {files} file(s) left by interrupted writes ({size / 2**20:.1f} MiB)", flush=True)
    store.update(run_id, pid=os.getpid(), heartbeat=time.time())
    recorder = RunRecorder(store, run_id)
    status, error = "failed", None
    try:
        cfg = store.config(run_id)
        if cfg.device in ("auto", "cuda") and run.device:
            cfg = cfg.replace(device=run.device)
        if trainer is None:
            trainer = Trainer(cfg, recorder)
        recorder.cfg = trainer.cfg
        trainer.recorder = recorder
        for notice in trainer.notices:            # e.g. a lowered batch: the Monitor page shows these lines
            print(f"notice: {notice}", flush=True)
        store.update(run_id, total_steps=trainer.total_steps, world_size=trainer.world)
        if store.checkpoints(run_id):
            trainer.load_checkpoint(store.load_checkpoint(run_id))
            print(f"resuming from step {trainer.state.step}", flush=True)
        store.truncate_after(run_id, trainer.state.step)
        summary = trainer.fit(progress=progress)
        status = summary["status"]
        if status == "finished" and cfg.log.eval_at_end:
            recorder.evaluate(trainer.state, embed="pca")
    except Diverged as e:
        status, error = "diverged", str(e)
        print(f"diverged: {e}", flush=True)
    except StoreError as e:  # disk full, read-only folder: the cause, in one line, is the whole story
        error = str(e)
        _say(f"{STOPPED}{error}")
    except BaseException as e:  # noqa: BLE001 — any crash must end as a recorded failure
        _say(traceback.format_exc())
        error = _last_line(e)
        if isinstance(e, KeyboardInterrupt):
            status, error = "cancelled", "interrupted"
    finally:
        recorder.close()
        try:
            store.finish(run_id, status, error)
            store.schedule()
        except StoreError as e:   # log.txt keeps the cause; `runs` / `status` read it from there (last_words)
            _say(f"{STOPPED}{error or status}; the store could not record it: {e}")
    return store.get(run_id, refresh=False)


def _say(text: str) -> None:
    """Print to the run's log.txt, which may itself sit on the full disk."""
    try:
        print(text, flush=True)
    except OSError:
        pass


def _last_line(e: BaseException) -> str:
    lines = traceback.format_exception_only(type(e), e)
    return lines[-1].strip() if lines else repr(e)


def follow_run(store: RunStore, run_id: str, trainer=None) -> None:
    """What ranks other than 0 do in a torchrun run: train in lock-step from the same checkpoint, record nothing.
    Collectives must come in the same order as on rank 0 (execute_run): build the trainer (DDP), then train."""
    from .train import Diverged, Trainer

    trainer = trainer or Trainer(store.config(run_id))
    if store.checkpoints(run_id):
        trainer.load_checkpoint(store.load_checkpoint(run_id))
    try:
        trainer.fit()
    except Diverged:
        pass  # rank 0 records it
