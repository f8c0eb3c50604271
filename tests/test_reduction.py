"""One reduction on every backend: the core, ``losslab.torch`` and ``losslab.jax`` agree.

For every registered loss (defaults and declared examples) and every reduction it offers,
the reduced value and its gradient with respect to the raw prediction are the same on NumPy
(the core: ``loss(...)`` and the analytic gradient), PyTorch (``losslab.torch``, autograd) and
JAX (``losslab.jax``, ``jax.grad``), with zero weights, batches whose every element is ignored
or weighs 0, and float16 inputs whose count or sum overflows float16.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from tests._cases import loss_params, make_case

import losslab

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import losslab.jax as lj  # noqa: E402
import losslab.torch as lt  # noqa: E402

LOSSES = loss_params()


def _reductions(loss: Any) -> list[str]:
    out = ["mean", "sum"]
    if loss.supports_positives and getattr(loss, "background_class", 0) is not None:
        out.append("positives")
    return out


def _core(loss: Any, y: Any, z: Any, w: Any, reduction: str) -> tuple[float, np.ndarray]:
    """Value from the core's reduction, gradient from the analytic gradient and the same
    denominator (the reduction is linear in the element-wise values)."""
    value = float(loss(y, z, sample_weight=w, reduction=reduction, validate=False))
    g = loss.gradient(y, z, sample_weight=w, validate=False)
    total = float(np.sum(loss.loss(y, z, sample_weight=w, validate=False)))
    scale = value / total if total != 0 else 0.0
    if total == 0:  # recover the denominator without dividing 0 by 0
        denom = {"sum": 1.0, "mean": max(float(np.sum(w)), 0.0) or 1.0}.get(reduction, 1.0)
        if reduction == "positives":
            pos = np.asarray(loss._positives(y, z, np))
            denom = max(float(np.sum(np.where(w > 0, pos, 0.0))), 1.0)
        scale = 1.0 / denom
    return value, g * scale


def _torch(loss: Any, y: Any, z: Any, w: Any, reduction: str) -> tuple[float, np.ndarray]:
    zt = torch.tensor(z, requires_grad=True)
    out = lt.loss_function(
        loss, zt, torch.tensor(y), weight=torch.tensor(w), reduction=reduction, validate=False
    )
    out.backward()
    return float(out.detach()), zt.grad.numpy()


def _jax(loss: Any, y: Any, z: Any, w: Any, reduction: str) -> tuple[float, np.ndarray]:
    def f(zz: Any) -> Any:
        yy, ww = jnp.asarray(y), jnp.asarray(w)
        return lj.reduce(loss, zz, yy, sample_weight=ww, reduction=reduction)

    value, grad = jax.value_and_grad(f)(jnp.asarray(z))
    return float(value), np.asarray(grad)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weights", ["some_zero", "all_zero"])
def test_value_and_gradient_agree_across_backends(loss: Any, weights: str) -> None:
    case = make_case(loss)
    w = case.w if weights == "some_zero" else np.zeros_like(case.w)
    for reduction in _reductions(loss):
        ref_v, ref_g = _core(loss, case.y, case.z, w, reduction)
        assert np.isfinite(ref_v)
        if weights == "all_zero":  # the documented policy: 0 with a zero gradient
            assert ref_v == 0.0
            assert not np.any(ref_g)
        for backend in (_torch, _jax):
            v, g = backend(loss, case.y, case.z, w, reduction)
            where = f"{backend.__name__} {reduction}"
            assert_allclose(v, ref_v, rtol=1e-12, atol=0, err_msg=where)
            assert_allclose(g, ref_g, rtol=1e-10, atol=1e-300, err_msg=where)


def test_core_raises_for_zero_total_weight_when_validating() -> None:
    loss = losslab.get_loss("log_loss")
    y, z = np.array([0.0, 1.0]), np.array([0.5, -0.5])
    with pytest.raises(ValueError, match="sample_weight sums to 0"):
        loss(y, z, sample_weight=np.zeros(2))
    assert float(loss(y, z, sample_weight=np.zeros(2), validate=False)) == 0.0


def test_every_element_ignored_is_a_no_op_step() -> None:
    """torch: ignore_index on every element gives 0 and a zero gradient, not NaN."""
    z = torch.randn(6, 4, requires_grad=True)
    t = torch.full((6, 4), -1.0)
    for reduction in ("mean", "positives", "sum"):
        out = lt.FocalLoss(reduction=reduction, ignore_index=-1)(z, t)
        (g,) = torch.autograd.grad(out, z)
        assert float(out.detach()) == 0.0
        assert not torch.any(g)


def test_positives_skip_ignored_anchors_on_every_backend() -> None:
    loss = losslab.get_loss("focal")
    y = np.array([1.0, 1.0, 0.0, 1.0])
    z = np.array([0.3, -2.0, 1.0, 4.0])
    w = np.array([1.0, 0.0, 1.0, 1.0])  # the second positive is ignored
    expect = float(np.sum(loss.loss(y, z) * w)) / 2.0
    assert_allclose(float(loss(y, z, sample_weight=w, reduction="positives")), expect, rtol=1e-14)
    assert_allclose(_torch(loss, y, z, w, "positives")[0], expect, rtol=1e-14)
    assert_allclose(_jax(loss, y, z, w, "positives")[0], expect, rtol=1e-14)


@pytest.mark.parametrize("name", ["log_loss", "huber"])
def test_float16_accumulates_in_float32(name: str) -> None:
    """100,000 float16 zeros: the count overflows float16; 3,000 terms of 30 sum past its max."""
    loss = losslab.get_loss(name)
    n = 100_000
    y = np.ones(n, dtype=np.float16)
    z = np.zeros(n, dtype=np.float16)
    ref = float(loss(y.astype(np.float64), z.astype(np.float64)))
    assert_allclose(float(loss(y, z)), ref, rtol=1e-3)
    zt = torch.zeros(n, dtype=torch.float16, requires_grad=True)
    out = lt.loss_function(loss, zt, torch.ones(n, dtype=torch.float16))
    out.backward()
    assert out.dtype == torch.float16
    assert_allclose(float(out.detach()), ref, rtol=1e-3)
    assert torch.all(torch.isfinite(zt.grad))
    big = np.full(3000, -30.0 if name == "log_loss" else 31.0, dtype=np.float16)
    ones = np.ones(3000, dtype=np.float16)
    ref_big = float(loss(ones.astype(np.float64), big.astype(np.float64)))
    assert_allclose(float(loss(ones, big)), ref_big, rtol=1e-3)
    zt = torch.tensor(big, requires_grad=True)
    got = lt.loss_function(loss, zt, torch.tensor(ones)).detach()
    assert_allclose(float(got), ref_big, rtol=1e-3)
