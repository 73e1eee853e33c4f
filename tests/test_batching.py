"""Tests of sslcore.data.batching and the Trainer's use of it: a default batch lowered to fit a small training set
(with its notice), an explicit one that does not fit refused, every image seen each epoch, no batch of one."""
from __future__ import annotations

import pytest
import torch

from sslcore.config import ConfigError, RunConfig
from sslcore.data import ImageSet
from sslcore.data.batching import epoch_batches, fit_batch_size
from sslcore.train import Trainer


def test_default_batch_is_lowered_to_the_largest_power_of_two_that_fits_with_a_notice():
    assert fit_batch_size(256, 245, explicit=False) == (128, "batch 256 → 128: the training set has 245 images")
    assert fit_batch_size(256, 256, explicit=False) == (256, None)
    assert fit_batch_size(64, 1000, explicit=False) == (64, None)
    assert fit_batch_size(256, 3, explicit=False)[0] == 2
    assert fit_batch_size(256, 100, explicit=False, world=3)[0] == 63      # a multiple of the processes


def test_explicit_batch_that_does_not_fit_is_a_one_line_error():
    with pytest.raises(ConfigError) as e:
        fit_batch_size(256, 245, explicit=True)
    assert str(e.value) == ("batch_size: 256 is larger than the training set (245 images); lower --batch-size")


def test_one_image_is_too_few_for_batch_statistics():
    with pytest.raises(ConfigError, match=r"^batch_size: the training set has 1 image, too few for a batch of 2"):
        fit_batch_size(256, 1, explicit=False)


@pytest.mark.parametrize("n, batch", [(245, 128), (129, 128), (257, 128), (4000, 256), (7, 2), (1000, 3)])
def test_every_image_of_a_small_set_is_seen_once_and_no_batch_is_smaller_than_two(n, batch):
    bounds = epoch_batches(n, batch)
    starts = [s for s, _ in bounds]
    assert starts == sorted(starts) and all(a + size == b for (a, size), b in zip(bounds, starts[1:]))
    seen = sum(size for _, size in bounds)
    assert all(size >= 2 for _, size in bounds)
    if n - (n // batch) * batch >= 0.1 * n:        # a small set: nothing left out
        assert seen == n
    else:                                          # a large set: only an incomplete last batch under 10 % is left
        assert n - seen < 0.1 * n and seen == n // batch * batch
    assert epoch_batches(245, 128) == [(0, 128), (128, 117)]
    assert epoch_batches(5, 4) == [(0, 5)]                        # a last batch of 1 joins the one before
    assert epoch_batches(129, 128) == [(0, 128)]                  # 1 of 129 left out: a random one each epoch


def _tiny_set(n: int) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    return ImageSet(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                    torch.arange(n) % 2, ["a", "b"])


def test_trainer_lowers_a_default_batch_and_covers_the_set_each_epoch():
    cfg = RunConfig().replace(epochs=1, projector_dim=32, log_every=1, snapshot_every=100, online_probe=False)
    t = Trainer(cfg, train_set=_tiny_set(45))
    assert t.batch_size == 32 and t.notices == ["batch 256 → 32: the training set has 45 images"]
    batches = [idx for _, idx in t._batches(0, 0)]
    assert t.steps_per_epoch == len(batches) == 2
    assert sorted(torch.cat(batches).tolist()) == list(range(45))       # every image, once
    assert t.fit()["status"] == "finished"


def test_trainer_refuses_an_explicit_batch_larger_than_the_set():
    cfg = RunConfig().replace(batch_size=64, fit_batch=False, epochs=1, projector_dim=32)
    with pytest.raises(ConfigError, match=r"^batch_size: 64 is larger than the training set \(45 images\)"):
        Trainer(cfg, train_set=_tiny_set(45))


def test_cli_batch_flag_is_explicit_and_folder_images_default_to_64_px():
    from sslcore.cli import build_parser, config_from_args

    cfg = config_from_args(build_parser().parse_args(["train", "--dataset", "folder", "--data-root", "x"]))
    assert cfg.data.image_size == 64 and cfg.optim.fit_batch
    cfg = config_from_args(build_parser().parse_args(["train", "--batch-size", "64", "--image-size", "48",
                                                      "--dataset", "folder", "--data-root", "x"]))
    assert cfg.data.image_size == 48 and not cfg.optim.fit_batch
    assert config_from_args(build_parser().parse_args(["train"])).data.image_size == 32
