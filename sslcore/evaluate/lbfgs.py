"""A plain L-BFGS for the linear probe's smooth convex objective.

Hand-written rather than torch.optim.LBFGS / scipy: deterministic, float64 on numpy vectors, and nothing to import
or warm up (the first torch.optim step imports ≈ 5 s on 2 cores)."""
from __future__ import annotations

from typing import Callable

import numpy as np


def _lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, max_iter: int, *,
           history: int = 10, gtol: float = 1e-6, ftol: float = 1e-10) -> np.ndarray:
    """Plain L-BFGS (two-loop recursion, Armijo backtracking from step 1; the first step is scaled to unit
    length) for smooth convex objectives. Deterministic; float64 numpy vectors."""
    x = x0.astype(np.float64)
    f, g = fun(x)
    mem: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        if not np.isfinite(f) or np.abs(g).max() <= gtol:
            break
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(mem):
            a = rho * s.dot(q)
            alphas.append(a)
            q -= a * y
        if mem:
            s, y, _ = mem[-1]
            q *= s.dot(y) / y.dot(y)
        else:
            q /= max(1.0, float(np.linalg.norm(g)))
        for (s, y, rho), a in zip(mem, reversed(alphas)):
            q += s * (a - rho * y.dot(q))
        d = -q
        slope = g.dot(d)
        if slope >= 0:  # not a descent direction (numerical trouble): restart from the gradient
            mem.clear()
            d = -g / max(1.0, float(np.linalg.norm(g)))
            slope = g.dot(d)
        t = 1.0
        while True:
            x_new = x + t * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * t * slope or t < 1e-10:
                break
            t *= 0.5
        s, y = x_new - x, g_new - g
        sy = s.dot(y)
        if sy > 1e-12 * max(1.0, y.dot(y)):
            mem.append((s, y, 1.0 / sy))
            if len(mem) > history:
                mem.pop(0)
        done = abs(f - f_new) <= ftol * max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x
