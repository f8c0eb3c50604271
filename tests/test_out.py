"""``out=``: preallocated outputs on the NumPy path, through the fused kernels and without them.

The kernels write into C-contiguous outputs in place; everywhere else (kernels off, small or
multiclass inputs, non-contiguous or float16 outputs) the result is copied in. Either way the
returned arrays are the ``out`` arrays and equal what the allocating call returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losslab

N = 20_000  # above the default kernel_min_size: the fused kernels take these


def _data(loss: Any, rng: np.random.Generator, dtype: Any = np.float64) -> tuple[Any, Any]:
    if loss.is_multiclass:
        return rng.integers(0, 3, 50), rng.normal(size=(50, 3)).astype(dtype)
    z = (rng.normal(size=N) * 3).astype(dtype)
    if loss.kind == "binary":
        return (rng.random(N) < 0.2).astype(dtype), z
    y = rng.normal(size=N)
    if hasattr(loss, "target_domain"):  # targets bounded below (Poisson, Gamma, Tweedie)
        y = np.abs(y) + 0.1
    return y.astype(dtype), z


@pytest.mark.parametrize("use_kernels", [True, False], ids=["kernels", "generic"])
@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_out_is_filled_and_returned(name: str, use_kernels: bool) -> None:
    loss = losslab.get_loss(name)
    y, z = _data(loss, np.random.default_rng(0))
    with losslab.config_context(use_kernels=use_kernels):
        ref = loss.loss_gradient_hessian(y, z)
        outs = tuple(np.full_like(r, np.nan) for r in ref)
        got = loss.loss_gradient_hessian(y, z, out=outs)
        assert all(g is o for g, o in zip(got, outs, strict=True))
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_array_equal(g, r)
        v = np.empty_like(ref[0])
        assert loss.loss(y, z, out=v) is v
        np.testing.assert_array_equal(v, ref[0])
        g1, h1 = np.empty_like(ref[1]), np.empty_like(ref[2])
        got2 = loss.gradient_hessian(y, z, out=(g1, h1))
        assert got2[0] is g1
        assert got2[1] is h1
        np.testing.assert_array_equal(h1, ref[2])


def test_kernels_write_in_place_and_weights_apply() -> None:
    loss = losslab.get_loss("focal", gamma=2.0)
    rng = np.random.default_rng(1)
    y, z = _data(loss, rng)
    w = rng.uniform(0.5, 2.0, N)
    g = np.empty(N)
    address = g.__array_interface__["data"][0]
    loss.gradient(y, z, sample_weight=w, out=g)
    assert g.__array_interface__["data"][0] == address
    np.testing.assert_array_equal(g, loss.gradient(y, z, sample_weight=w))


def test_non_contiguous_and_float16_outputs_are_copied_into() -> None:
    loss = losslab.get_loss("huber")
    rng = np.random.default_rng(2)
    y, z = _data(loss, rng)
    base = np.zeros(2 * N)
    strided = base[::2]
    loss.gradient(y, z, out=strided)
    np.testing.assert_array_equal(strided, loss.gradient(y, z))
    assert np.all(base[1::2] == 0)
    y16, z16 = y.astype(np.float16), z.astype(np.float16)
    o16 = np.empty(N, dtype=np.float16)
    loss.loss(y16, z16, out=o16)
    np.testing.assert_array_equal(o16, loss.loss(y16, z16))


def test_bad_out_is_refused() -> None:
    loss = losslab.get_loss("log_loss")
    y, z = _data(loss, np.random.default_rng(3))
    with pytest.raises(ValueError, match="shape"):
        loss.loss(y, z, out=np.empty(N - 1))
    with pytest.raises(ValueError, match="dtype"):
        loss.loss(y, z, out=np.empty(N, dtype=np.float32))
    with pytest.raises(TypeError, match="2 NumPy"):
        loss.gradient_hessian(y, z, out=np.empty(N))
    read_only = np.empty(N)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        loss.loss(y, z, out=read_only)
    with pytest.raises(ValueError, match="shares memory"):
        loss.gradient(y, z, out=z)
    import torch

    with pytest.raises(TypeError, match="NumPy"):
        loss.loss(torch.asarray(y), torch.asarray(z), out=np.empty(N))
