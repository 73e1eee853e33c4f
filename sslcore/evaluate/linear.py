"""The linear probe: multinomial logistic regression on frozen, standardised features (``LINEAR_PROBE_PROTOCOL``),
one head per target fitted jointly by L-BFGS."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from .inputs import _as_tensor, _check_labels, _compute_device
from .lbfgs import _lbfgs
from .protocol import LINEAR_MAX_ITER, LINEAR_WEIGHT_DECAY


def _fit_softmax_heads(x: torch.Tensor, ys: list[torch.Tensor], classes: list[int], weight_decay: float,
                       max_iter: int) -> torch.Tensor:
    """Minimise Σ_heads [mean CE(x·W_h + b_h, y_h)] + wd/2·‖W‖² by L-BFGS on an analytic gradient.
    One head per label vector; the objective separates by head, so a joint fit reaches the separate fits' optimum
    while reading the (often large) feature matrix once per evaluation for all heads. Returns [W; b], (F+1)×ΣC.
    No autograd and no torch.optim: nothing to import or warm up (the first torch.optim step imports ≈ 5 s)."""
    n, f = x.shape
    x = x.float().contiguous()
    xt = x.T.contiguous()                       # Xᵀ·D on a transposed view is ~10× slower on CPU
    heads, total, cmax = len(classes), sum(classes), max(classes)
    # column j of the ΣC logits ↔ slot (head, class) in a heads×cmax grid padded with −inf: one log_softmax call
    slots = torch.cat([torch.arange(c) + h * cmax for h, c in enumerate(classes)]).to(x.device)
    onehot = torch.zeros(n, total, dtype=torch.float64, device=x.device)
    rows = torch.arange(n, device=x.device)
    for y, lo in zip(ys, np.cumsum([0, *classes[:-1]]).tolist()):
        onehot[rows, y + lo] = 1
    grid = torch.full((n, heads * cmax), -torch.inf, dtype=torch.float64, device=x.device)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        wb = torch.from_numpy(theta).to(x.device).view(f + 1, total)
        w, b = wb[:-1], wb[-1]
        grid[:, slots] = (x @ w.float()).double() + b                    # float32 matmul, float64 loss
        logp = torch.log_softmax(grid.view(n, heads, cmax), 2).view(n, -1)[:, slots]
        loss = -(logp * onehot).sum() / n + 0.5 * weight_decay * w.square().sum()
        d = (logp.exp() - onehot) / n
        grad = torch.cat([(xt @ d.float()).double() + weight_decay * w, d.sum(0, keepdim=True)])
        return float(loss), grad.cpu().numpy().ravel()

    theta = _lbfgs(fun, np.zeros((f + 1) * total), max_iter)
    return torch.from_numpy(theta).to(x.device).view(f + 1, total)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor | dict[str, torch.Tensor], test_x: torch.Tensor,
                 test_y: torch.Tensor | dict[str, torch.Tensor], *, weight_decay: float = LINEAR_WEIGHT_DECAY,
                 max_iter: int = LINEAR_MAX_ITER, num_classes: int | None = None,
                 device: str | torch.device | None = None, return_predictions: bool = False):
    """Top-1 accuracy of a linear classifier on frozen features (protocol: ``LINEAR_PROBE_PROTOCOL``).

    ``train_y`` / ``test_y`` may be dicts {target: labels}: one head per target, fitted jointly (see
    ``_fit_softmax_heads``), and the result is {target: accuracy}. ``return_predictions`` adds the test predictions.
    """
    single = not isinstance(train_y, dict)
    tr_ys = {"_": train_y} if single else dict(train_y)
    te_ys = {"_": test_y} if single else dict(test_y)
    if set(tr_ys) != set(te_ys):
        raise ConfigError(f"labels: train targets {sorted(tr_ys)} differ from test targets {sorted(te_ys)}")
    train_x, test_x = _as_tensor(train_x), _as_tensor(test_x)
    tr_ys = {k: _as_tensor(v, torch.long) for k, v in tr_ys.items()}
    te_ys = {k: _as_tensor(v, torch.long) for k, v in te_ys.items()}
    for name in tr_ys:
        _check_labels(tr_ys[name], "train")
        _check_labels(te_ys[name], "test")
        if tr_ys[name].shape[0] != train_x.shape[0] or te_ys[name].shape[0] != test_x.shape[0]:
            raise ConfigError(f"labels: {name}: {tr_ys[name].shape[0]}/{te_ys[name].shape[0]} labels for "
                              f"{train_x.shape[0]}/{test_x.shape[0]} train/test features")
    if train_x.shape[0] < 2:
        raise ConfigError(f"train_size: the linear probe needs at least 2 training images, got {train_x.shape[0]}")
    if weight_decay < 0 or max_iter < 1:
        raise ConfigError(f"linear probe: weight_decay must be ≥ 0 and max_iter ≥ 1, got {weight_decay}, {max_iter}")
    names = list(tr_ys)
    classes = [num_classes or int(max(int(tr_ys[k].max()), int(te_ys[k].max()) if te_ys[k].numel() else 0)) + 1
               for k in names]
    dev = _compute_device(train_x, device=device)
    with torch.no_grad():
        xtr = train_x.to(dev, torch.float32)
        mean, std = xtr.mean(0), xtr.std(0, unbiased=False) + 1e-6
        xtr = (xtr - mean) / std
        xte = (test_x.to(dev, torch.float32) - mean) / std
        wb = _fit_softmax_heads(xtr, [tr_ys[k].to(dev) for k in names], classes, weight_decay, max_iter)
        logits = (xte @ wb[:-1].float() + wb[-1].float()).cpu()
    accs, preds = {}, {}
    lo = 0
    for name, c in zip(names, classes):
        preds[name] = logits[:, lo:lo + c].argmax(1)
        lo += c
        accs[name] = float((preds[name] == te_ys[name]).float().mean()) if te_ys[name].numel() else float("nan")
    if single:
        return (accs["_"], preds["_"]) if return_predictions else accs["_"]
    return (accs, preds) if return_predictions else accs
