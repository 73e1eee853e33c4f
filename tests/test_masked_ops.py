"""sslcore.masked_ops: flip, grayscale and solarize give kornia's results on the drawn images, leave the others
alone, draw with probability p, and change a chunk in place exactly as the batch."""
import kornia.augmentation as K
import pytest
import torch

from sslcore.masked_ops import RandomGrayscale, RandomHorizontalFlip, RandomSolarize

PAIRS = [(RandomHorizontalFlip, K.RandomHorizontalFlip(p=1.0)), (RandomGrayscale, K.RandomGrayscale(p=1.0)),
         (RandomSolarize, K.RandomSolarize(thresholds=0.0, additions=0.0, p=1.0))]


def _images(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 12, 16, generator=g) * 1.1 - 0.05     # a little outside [0, 1], as after a hue turn


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_drawn_images_equal_kornias_and_the_rest_are_untouched(ours, theirs):
    x = _images()
    op = ours(p=0.5)
    torch.manual_seed(0)
    params = op.forward_parameters(x.shape)
    drawn = params["batch_prob"]
    assert 10 < int(drawn.sum()) < 30
    out = op(x, params=params)
    assert torch.equal(out[~drawn], x[~drawn])
    assert torch.equal(out[drawn], theirs(x[drawn]))
    assert torch.equal(x, _images())                         # forward leaves its input alone
    chunk = x[:20].clone()
    assert torch.equal(op.apply_(chunk, {"batch_prob": drawn[:20]}), out[:20]) and torch.equal(chunk, out[:20])


def test_p_zero_and_one():
    x = _images()
    for ours, _ in PAIRS:
        assert torch.equal(ours(p=0.0)(x), x)
        assert not torch.equal(ours(p=1.0)(x), x)


def test_flip_mirrors_a_one_channel_mask():
    mask = torch.zeros(2, 1, 4, 6)
    mask[:, :, :, 0] = 1
    out = RandomHorizontalFlip(p=1.0)(mask)
    assert out[:, :, :, -1].eq(1).all() and out[:, :, :, :-1].eq(0).all()


def test_solarize_inverts_pixels_at_or_above_half():
    x = torch.tensor([0.2, 0.49, 0.5, 0.8, 1.2]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    out = RandomSolarize(p=1.0)(x)[0, 0, 0]
    torch.testing.assert_close(out, torch.tensor([0.2, 0.49, 0.5, 0.2, 0.0]))
