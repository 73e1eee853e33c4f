"""sslcore.online_probe: a linear head on detached backbone features, trained on the labelled images of each step."""
import pytest
import torch
from torch import nn

from sslcore.config import RunConfig
from sslcore.methods import METHODS
from sslcore.online_probe import OnlineProbe
from sslcore.train import Recorder, Trainer


class _Linear(nn.Linear):
    """The smallest backbone: a linear map with the ``out_dim`` every backbone exposes."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__(d_in, d_out)
        self.out_dim = d_out


def _separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) + 3 * (2 * y[:, None] - 1).float()
    return x, y


def test_probe_never_sends_gradients_into_the_backbone():
    backbone = _Linear(4, 8)
    probe = OnlineProbe(backbone, num_classes=2)
    x, y = _separable(32, 0)
    backbone(x)                       # the method's forward (here without a loss: only the probe trains)
    before = [p.detach().clone() for p in backbone.parameters()]
    probe.step(y)
    assert all(p.grad is None for p in backbone.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, backbone.parameters()))
    assert probe.head.weight.grad is not None


def test_probe_learns_a_separable_problem_and_reports_running_accuracy():
    backbone = _Linear(4, 4)
    probe = OnlineProbe(backbone, num_classes=2, lr=0.05)
    first = None
    for step in range(60):
        x, y = _separable(64, step)
        backbone(x)
        probe.step(y)
        if step == 0:
            first = probe.read()["online_probe_accuracy"]
        if step == 49:
            probe.read()              # the last read covers steps 50–59 only
    last = probe.read()
    assert last["online_probe_accuracy"] > 0.95 and last["online_probe_accuracy"] >= first
    assert probe.read() == {}         # read resets: nothing seen since


def test_unlabeled_images_are_ignored():
    backbone = _Linear(4, 4)
    probe = OnlineProbe(backbone, num_classes=2)
    x, y = _separable(16, 1)
    backbone(x)
    probe.step(torch.full_like(y, -1))            # an all-unlabeled batch (STL-10's unlabeled split)
    assert probe.read() == {} and probe.head.weight.grad is None
    backbone(x)
    y[:10] = -1
    probe.step(y)
    assert probe.read()["online_probe_accuracy"] in {k / 6 for k in range(7)}   # only the 6 labelled images



def test_a_partly_labelled_batch_updates_the_head_as_training_on_its_labelled_images_alone():
    """The head sees every row with the unlabelled ones weighted 0 (no data-dependent index, no host sync): the
    update must equal Adam on the cross-entropy of the labelled rows only."""
    backbone = _Linear(4, 4)
    probe = OnlineProbe(backbone, num_classes=2, lr=0.1)
    reference = nn.Linear(4, 2)
    reference.load_state_dict(probe.head.state_dict())
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.1)
    for step in range(3):
        x, y = _separable(16, 10 + step)
        y[step::3] = -1
        h = backbone(x).detach()
        probe.step(y)
        keep = y >= 0
        optimizer.zero_grad()
        nn.functional.cross_entropy(reference(h[keep]), y[keep]).backward()
        optimizer.step()
    torch.testing.assert_close(probe.head.weight, reference.weight)
    torch.testing.assert_close(probe.head.bias, reference.bias)

def test_probe_ignores_evaluation_forwards():
    backbone = _Linear(4, 4)
    probe = OnlineProbe(backbone, num_classes=2)
    backbone.eval()
    backbone(torch.randn(3, 4))
    backbone.train()
    x, y = _separable(8, 2)
    backbone(x)
    probe.step(y)                      # used the training batch of 8, not the 3 evaluation images
    assert probe.read() != {}


class _Metrics(Recorder):
    def __init__(self):
        self.rows: list[dict] = []

    def log_metrics(self, step, epoch, values):
        self.rows.append(values)


def _cfg(**flat) -> RunConfig:
    return RunConfig().replace(dataset="shapes", train_size=64, test_size=32, batch_size=32, epochs=1,
                               projector_dim=32, log_every=1, device="cpu", **flat)


def test_trainer_logs_the_probe_accuracy_and_checkpoints_the_head():
    recorder = _Metrics()
    trainer = Trainer(_cfg(), recorder)
    trainer.fit()
    accuracies = [row["online_probe_accuracy"] for row in recorder.rows]
    assert len(accuracies) == trainer.total_steps and all(0 <= a <= 1 for a in accuracies)
    assert set(trainer.state.state_dict()["probe"]) == {"head", "optimizer"}


def test_trainer_without_probe_logs_none():
    recorder = _Metrics()
    trainer = Trainer(_cfg(online_probe=False), recorder)
    trainer.fit()
    assert trainer.state.probe is None
    assert all("online_probe_accuracy" not in row for row in recorder.rows)



def test_the_probe_changes_nothing_in_the_training_it_watches():
    """Same seed with and without the probe: the same losses step by step and the same backbone at the end (its
    head's init once shifted the RNG stream, so every later augmentation differed)."""
    runs = []
    for probe in (False, True):
        recorder = _Metrics()
        trainer = Trainer(_cfg(online_probe=probe).replace(train_size=96), recorder)
        trainer.fit()
        runs.append(([row["loss"] for row in recorder.rows], trainer.model.backbone.state_dict()))
    (losses_off, backbone_off), (losses_on, backbone_on) = runs
    assert len(losses_on) == 3 and losses_on == losses_off
    assert all(torch.equal(backbone_off[k], backbone_on[k]) for k in backbone_off)

@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_feeds_the_probe_from_its_own_forward(method):
    """The probe reads the backbone's first training-mode call of the step: every method must make one."""
    recorder = _Metrics()
    cfg = _cfg(method=method).replace(train_size=32, batch_size=16, image_size=16)
    Trainer(cfg, recorder).fit()
    assert all("online_probe_accuracy" in row for row in recorder.rows)
