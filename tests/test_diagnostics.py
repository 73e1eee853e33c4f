"""sslcore.diagnostics: RankMe from the Gram matrix's eigenvalues equals its definition on the singular values."""
import pytest
import torch

from sslcore.diagnostics import rankme


def _rankme_by_definition(z: torch.Tensor, eps: float = 1e-7) -> float:
    s = torch.linalg.svdvals(z.double())
    p = s / (s.sum() + eps) + eps
    return float(torch.exp(-(p * p.log()).sum()))


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (32, 32)])   # tall (D×D Gram), wide (N×N), square
def test_rankme_equals_the_singular_value_definition(shape):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(*shape, generator=g)
    z[:, : shape[1] // 2] *= 0.01     # an uneven spectrum, so the entropy is not simply log(rank)
    assert rankme(z) == pytest.approx(_rankme_by_definition(z), rel=1e-5)


def test_rankme_counts_the_dimensions_in_use():
    assert rankme(torch.ones(32, 8)) == pytest.approx(1.0, abs=1e-3)           # collapsed: one direction
    q, _ = torch.linalg.qr(torch.randn(32, 8, generator=torch.Generator().manual_seed(1)))
    assert rankme(q) == pytest.approx(8.0, rel=1e-4)                           # 8 equal singular values
    assert rankme(torch.randn(32, 8, dtype=torch.bfloat16)) > 5               # a bf16 embedding (autocast)
