"""sslcore.color_jitter: brightness / contrast / saturation equal torchvision's; the YIQ hue rotation keeps luma;
every image gets its own factors; p and the params API behave as kornia's ColorJitter does in a view pipeline."""
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from sslcore.color_jitter import ColorJitter, grey, jitter


def _images(n=4, lo=0.0, hi=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, 3, 8, 8, generator=g)


@pytest.mark.parametrize("op, reference", [(0, TF.adjust_brightness), (1, TF.adjust_contrast),
                                           (2, TF.adjust_saturation)])
def test_blends_equal_torchvision(op, reference):
    x = _images()
    factors = torch.tensor([0.2, 0.9, 1.0, 1.7])
    args = [torch.ones(4), torch.ones(4), torch.ones(4), torch.zeros(4)]
    args[op] = factors
    ours = jitter(x, *args, order=[op])
    expected = torch.stack([reference(img, float(f)) for img, f in zip(x, factors)])
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_hue_rotation_keeps_luma_and_undoes_itself():
    x = _images(lo=0.4, hi=0.6)                    # chroma small enough that a rotation stays inside [0, 1]
    ones = torch.ones(4)
    half = jitter(x, ones, ones, ones, torch.full((4,), 0.5), order=[3])
    torch.testing.assert_close(grey(half), grey(x), atol=1e-4, rtol=0)   # YIQ's Y weighs red .299, grey .2989
    assert (half - x).abs().max() > 0.01          # it did change the colours
    back = jitter(half, ones, ones, ones, torch.full((4,), 0.5), order=[3])
    torch.testing.assert_close(back, x, atol=1e-5, rtol=0)
    same = jitter(x, ones, ones, ones, torch.zeros(4), order=[3])
    torch.testing.assert_close(same, x, atol=1e-6, rtol=0)


def test_hue_turns_red_towards_the_same_neighbour_as_torchvision():
    red = torch.tensor([0.8, 0.2, 0.2]).view(1, 3, 1, 1).expand(1, 3, 4, 4).contiguous()
    ones = torch.ones(1)
    ours = jitter(red, ones, ones, ones, torch.tensor([0.1]), order=[3])[0, :, 0, 0]
    theirs = TF.adjust_hue(red[0], 0.1)[:, 0, 0]
    assert ours.argmax() == theirs.argmax() == 0 and (ours[1] > ours[2]) == (theirs[1] > theirs[2])


def test_each_image_gets_its_own_factors_and_p_selects_images():
    x = _images(n=1).expand(64, 3, 8, 8).contiguous()      # 64 copies of one image
    op = ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.5)
    torch.manual_seed(0)
    params = op.forward_parameters(x.shape)
    out = op(x, params=params)
    changed = (out - x).flatten(1).abs().amax(1) > 0
    assert torch.equal(changed, params["batch_prob"])
    assert 10 < int(changed.sum()) < 54
    distinct = {tuple(v.round(decimals=4).tolist()) for v in out[changed].flatten(1)[:, :3]}
    assert len(distinct) == int(changed.sum())
    torch.testing.assert_close(op(x, params=params), out)   # the same params give the same result
    assert torch.equal(ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.0)(x), x)
