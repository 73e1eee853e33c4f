"""Background work started from the Embeddings page, so a page never blocks for long.

- Evaluating a checkpoint runs ``python -m sslcore eval RUN_ID --step N --embed pca --json`` as a subprocess;
  its progress lines (``[ 40%] message`` on stderr) go to ``<run>/eval_step_<N>.log`` and are read back.
- UMAP coordinates for a saved embedding are computed in a thread of the app server, where umap's numba code is
  compiled once (``warm_up_umap`` at start-up) instead of in every subprocess.

Jobs live in a per-process registry (``st.cache_resource``), so every browser tab sees the same job.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from lens_ui.common import ROOT, runs_dir, store

_PROGRESS = re.compile(r"\[\s*(\d+)%\]\s*(.*)")


@dataclass
class Job:
    kind: str                  # "eval" | "umap"
    run_id: str
    step: int
    started: float = field(default_factory=time.time)
    fraction: float = 0.0
    message: str = "starting…"
    error: str | None = None
    done: bool = False
    proc: Any = None
    log: Path | None = None

    @property
    def running(self) -> bool:
        return not self.done

    def poll(self) -> Job:
        """Refresh a subprocess job's progress from its log (threads update themselves)."""
        if self.proc is None or self.done:
            return self
        lines = self.log.read_text(errors="replace").splitlines() if self.log and self.log.exists() else []
        for line in reversed(lines):
            m = _PROGRESS.search(line)
            if m:
                self.fraction, self.message = int(m.group(1)) / 100, m.group(2).strip()
                break
        rc = self.proc.poll()
        if rc is not None:
            self.done = True
            if rc != 0:
                errors = [ln for ln in lines if ln.startswith("error:")]
                self.error = errors[-1][len("error:"):].strip() if errors else (
                    lines[-1] if lines else f"evaluation exited with status {rc}")
            else:
                self.fraction, self.message = 1.0, "evaluation done"
        return self


@st.cache_resource(show_spinner=False)
def _registry(root: str) -> dict[tuple[str, str, int], Job]:
    return {}


def registry() -> dict[tuple[str, str, int], Job]:
    return _registry(str(runs_dir()))


def get(kind: str, run_id: str, step: int) -> Job | None:
    job = registry().get((kind, run_id, int(step)))
    return job.poll() if job else None


def start_eval(run_id: str, step: int) -> Job:
    """Evaluate one checkpoint in a background process (kNN, probes, baselines, PCA embedding)."""
    key = ("eval", run_id, int(step))
    job = registry().get(key)
    if job and job.running:
        return job
    log = store().run_dir(run_id) / f"eval_step_{int(step):08d}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sslcore", "--runs-dir", str(runs_dir()), "eval", run_id, "--step", str(step),
             "--embed", "pca", "--json"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(ROOT), env=env,
            start_new_session=True)
    job = Job("eval", run_id, int(step), proc=proc, log=log, message="starting the evaluation process…")
    registry()[key] = job
    return job


def start_umap(run_id: str, step: int) -> Job:
    """Add UMAP coordinates to a saved embedding, in a thread of this server."""
    from sslcore import evaluate

    key = ("umap", run_id, int(step))
    job = registry().get(key)
    if job and (job.running or not job.error):
        return job
    job = Job("umap", run_id, int(step), message="queued")
    s = store()

    def progress(fraction: float, message: str) -> None:
        job.fraction, job.message = fraction, message

    def work() -> None:
        try:
            if not evaluate.umap_is_warm():
                job.message = "compiling UMAP's code (about a minute, once per app start)…"
            evaluate.ensure_umap(s, run_id, step, progress=progress)
            job.fraction, job.message = 1.0, "UMAP done"
        except Exception as e:  # noqa: BLE001 — shown on the page
            job.error = str(e)
        finally:
            job.done = True

    registry()[key] = job
    threading.Thread(target=work, name=f"umap-{run_id}-{step}", daemon=True).start()
    return job


def auto_umap() -> bool:
    """``SSL_LENS_UMAP=auto`` (default): warm umap up at start and compute missing UMAPs by themselves;
    ``manual``: only when asked (a button) — the tests use this to keep the ≈ 1 min numba compile out."""
    return os.environ.get("SSL_LENS_UMAP", "auto") != "manual"


@st.cache_resource(show_spinner=False)
def warm_up() -> bool:
    """Compile umap's numba code once per server, in the background (not with SSL_LENS_UMAP=manual)."""
    if not auto_umap():
        return False
    from sslcore.evaluate import warm_up_umap

    warm_up_umap()
    return True
