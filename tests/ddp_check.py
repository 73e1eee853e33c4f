"""Run under torchrun (2 processes, gloo): one DDP step of each method on this rank's half of a fixed global batch.
Rank 0 saves the mean loss and the averaged gradients to the file given as argv[1]."""
import sys

import torch
import torch.distributed as torch_dist

from sslcore import dist
from sslcore.backbones import ConvNet
from sslcore.config import MethodConfig
from sslcore.methods import METHODS, build_method

GLOBAL_BATCH = 8


def model_for(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = MethodConfig(name=name, projector_dim=16, queue_size=32, num_views=3)
    return build_method(cfg, ConvNet(widths=(8, 16)), num_classes=4)


def fixed_batch(num_views: int):
    g = torch.Generator().manual_seed(1)
    views = [torch.randn(GLOBAL_BATCH, 3, 8, 8, generator=g) for _ in range(num_views)]
    labels = torch.randint(0, 4, (GLOBAL_BATCH,), generator=g)
    return views, labels


def main(out_path: str) -> None:
    dist.init_from_env()
    rank, world = dist.rank(), dist.world_size()
    lo, hi = rank * GLOBAL_BATCH // world, (rank + 1) * GLOBAL_BATCH // world
    results = {}
    for name, cls in METHODS.items():
        if not cls.trainable:
            continue
        model = dist.convert_batchnorm(model_for(name), torch.device("cpu"))
        ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)  # as the Trainer
        views, labels = fixed_batch(model.num_views)
        out = ddp(*[v[lo:hi] for v in views], y=labels[lo:hi])
        out.loss.backward()  # DDP averages the gradients over ranks
        loss = out.loss.detach().clone()
        torch_dist.all_reduce(loss)
        results[name] = {"loss": float(loss) / world,
                         "grads": {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}}
    if rank == 0:
        torch.save(results, out_path)
    torch_dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
