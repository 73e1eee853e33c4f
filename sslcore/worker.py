"""Running a stored run in this process: the trainer's ``Recorder`` that writes to the run store, and the run's
lifecycle around ``Trainer.fit`` (resume, evaluate at the end, record how it ended).

This module is where the store, the trainer and evaluation meet, so that ``runs`` (the store and the launcher)
depends on neither ``train`` nor ``evaluate``: the CLI's ``train`` and ``_worker`` commands call ``execute_run``.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Any

import torch

from .evaluate import evaluate_model
from .runs import HEARTBEAT_INTERVAL, RunInfo, RunStore


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
            store.heartbeat(self.run_id)

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
    except BaseException as e:  # noqa: BLE001 — any crash must end as a recorded failure
        traceback.print_exc()
        sys.stdout.flush()
        error = _last_line(e)
        if isinstance(e, KeyboardInterrupt):
            status, error = "cancelled", "interrupted"
    finally:
        recorder.close()
        store.finish(run_id, status, error)
        store.schedule()
    return store.get(run_id, refresh=False)


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
