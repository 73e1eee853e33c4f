"""Reading a run's metrics incrementally and presenting them (no Streamlit here).

``MetricCache`` keeps the rows read so far and asks the store only for steps after the last one it has, so the
Monitor's once-a-second refresh reads a handful of new rows instead of the whole history.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Names the trainer logs besides the loss and its terms (sslcore.train.Trainer._log, sslcore.diagnostics).
DIAGNOSTICS = ("embedding_std", "rankme", "alignment", "uniformity", "xcorr_diag", "xcorr_offdiag")
BOOKKEEPING = ("lr", "pairs_per_s")
# The online linear probe trains beside the method with its own loss (sslcore.online_probe): not a loss term.
SIDE_TASKS = ("online_probe_",)


def loss_terms(names: list[str] | set[str]) -> list[str]:
    """The loss's named parts among the logged metric names (everything that is not loss, bookkeeping,
    a diagnostic or an accuracy)."""
    return sorted(n for n in names if n != "loss" and n not in DIAGNOSTICS and n not in BOOKKEEPING
                  and "accuracy" not in n and "/" not in n and not n.startswith(SIDE_TASKS))


def accuracies(names: list[str] | set[str]) -> list[str]:
    return sorted(n for n in names if "accuracy" in n)


@dataclass
class MetricCache:
    run_id: str
    last_step: int = -1
    data: dict[str, dict[str, list]] = field(default_factory=dict)

    def update(self, store: Any, run_step: int | None = None) -> int:
        """Fetch rows after ``last_step``; returns how many steps were new. A run that went back (resumed from
        an earlier checkpoint, its later rows deleted) starts the cache over."""
        if run_step is not None and run_step < self.last_step:
            self.last_step, self.data = -1, {}
        new = store.metrics(self.run_id, since_step=self.last_step)
        added = 0
        for name, series in new.items():
            target = self.data.setdefault(name, {"step": [], "epoch": [], "value": [], "wall_time": []})
            for key in target:
                target[key].extend(series[key])
            if series["step"]:
                added = max(added, len(series["step"]))
                self.last_step = max(self.last_step, int(series["step"][-1]))
        return added

    def series(self, name: str) -> tuple[list, list]:
        s = self.data.get(name)
        return (s["step"], s["value"]) if s else ([], [])

    def latest(self, name: str) -> float | None:
        s = self.data.get(name)
        return s["value"][-1] if s and s["value"] else None

    def previous(self, name: str, back: int = 1) -> float | None:
        s = self.data.get(name)
        return s["value"][-1 - back] if s and len(s["value"]) > back else None


def steps_per_second(cache: MetricCache, window: int = 10) -> float | None:
    """Recent training speed from the wall-clock times of the last ``window`` logged steps."""
    s = cache.data.get("loss")
    if not s or len(s["step"]) < 2:
        return None
    steps, times = s["step"][-window:], s["wall_time"][-window:]
    dt = times[-1] - times[0]
    return (steps[-1] - steps[0]) / dt if dt > 0 else None


def eta_seconds(step: int, total: int, rate: float | None) -> float | None:
    if not rate or total <= 0 or step >= total:
        return None if step < total else 0.0
    return (total - step) / rate


def collapse_verdict(embedding_std: float | None, rankme: float | None, dim: int | None,
                     batch: int | None = None) -> tuple[str, str]:
    """('healthy' | 'collapsed' | 'dimensional' | 'unknown', explanation) from the latest diagnostics.

    A healthy L2-normalised embedding of dimension D has a per-dimension std near 1/√D; complete collapse (every
    image → the same vector) drives it to 0. RankMe counts the effectively used dimensions; far below D means
    dimensional collapse (the embeddings live in a small subspace). RankMe is measured on one batch, so it can
    never exceed min(batch, D)."""
    if embedding_std is None or not math.isfinite(embedding_std):
        return "unknown", "no diagnostics logged yet"
    if dim:
        healthy = 1 / math.sqrt(dim)
        if embedding_std < 0.2 * healthy:
            return "collapsed", (f"embedding std {embedding_std:.4f} is far below 1/√D = {healthy:.4f}: the "
                                 "embeddings of different images are nearly identical")
    if rankme is not None and math.isfinite(rankme) and rankme < 2.0:
        return "collapsed", f"RankMe {rankme:.2f}: the embeddings use about one direction"
    usable = min(d for d in (dim, batch) if d) if (dim or batch) else None
    if rankme is not None and usable and math.isfinite(rankme) and rankme < 0.05 * usable:
        return "dimensional", (f"RankMe {rankme:.1f} of at most {usable}: the embeddings use only a small "
                               "subspace (dimensional collapse)")
    return "healthy", "embeddings are spread out and use many dimensions"
