"""losslab.targets: the two-hot target and Distribution Focal Loss, class-balanced weights.

Checked against their definitions (GFL's two-hot weights, Cui et al.'s effective number),
on every array backend, under ``jax.jit``, and through the torch and JAX training routes.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np
import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, settings
from hypothesis import strategies as st

import losslab
from losslab._array_api import to_numpy
from losslab.targets import (
    class_balanced_weights,
    distribution_focal_loss,
    sample_weight_from_class_weights,
    two_hot,
)


def _asarray(xp: ModuleType, x: Any, dtype: str = "float64") -> Any:
    return xp.asarray(np.asarray(x, dtype=dtype))


def _log_softmax(z: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    m = np.max(z, axis=-1, keepdims=True)
    return np.asarray(z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))


def _dfl_mmdet(t: np.ndarray[Any, Any], z: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """mmdet's ``distribution_focal_loss`` (from its documentation and formula):
    ``CE(z, left) * (right - t) + CE(z, right) * (t - left)``, ``left = long(t)``."""
    left = t.astype(np.int64)
    right = left + 1
    lp = _log_softmax(z)
    ce_l = -np.take_along_axis(lp, left[..., None], axis=-1)[..., 0]
    ce_r = -np.take_along_axis(lp, right[..., None], axis=-1)[..., 0]
    return np.asarray(ce_l * (right - t) + ce_r * (t - left))


# ------------------------------------------------------------------------------- two_hot


def test_two_hot_definition_on_every_backend(xp: ModuleType) -> None:
    t = _asarray(xp, [0.0, 0.3, 2.5, 3.0, 1.0])
    out = two_hot(t, 4)
    assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(t)
    assert tuple(out.shape) == (5, 4)
    assert out.dtype == t.dtype
    expected = [
        [1.0, 0.0, 0.0, 0.0],
        [0.7, 0.3, 0.0, 0.0],  # (0 + 1) - 0.3 on bin 0, 0.3 - 0 on bin 1
        [0.0, 0.0, 0.5, 0.5],
        [0.0, 0.0, 0.0, 1.0],  # the top value: i clipped to n_bins - 2
        [0.0, 1.0, 0.0, 0.0],
    ]
    np.testing.assert_allclose(to_numpy(out), expected, rtol=0, atol=1e-16)


@settings(max_examples=200, deadline=None)
@given(
    n_bins=st.integers(2, 40),
    frac=st.floats(0.0, 1.0, allow_nan=False),
)
def test_two_hot_mean_is_the_value(n_bins: int, frac: float) -> None:
    t = np.array([frac * (n_bins - 1)])
    out = two_hot(t, n_bins)[0]
    nz = np.flatnonzero(out)
    assert 1 <= nz.size <= 2
    assert nz.size == 1 or nz[1] == nz[0] + 1
    assert np.all(out >= 0)
    assert abs(np.sum(out) - 1.0) <= 2**-52
    assert abs(np.dot(np.arange(n_bins), out) - t[0]) <= 4 * 2**-52 * max(1.0, t[0])


def test_two_hot_integer_values_and_shapes() -> None:
    out = two_hot(np.array([[0, 2], [1, 1]]), 3)  # integer arrays: float64 for NumPy
    assert out.shape == (2, 2, 3)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.eye(3)[[[0, 2], [1, 1]]])
    assert two_hot(1.5, 3).shape == (3,)
    np.testing.assert_array_equal(two_hot([0.5], 2), [[0.5, 0.5]])


def test_two_hot_float32_stays_float32() -> None:
    t = np.array([0.25, 6.75], dtype=np.float32)
    out = two_hot(t, 8)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[1, 6:], np.array([0.25, 0.75], dtype=np.float32))


def test_two_hot_nan_gives_a_nan_row_only() -> None:
    out = two_hot(np.array([np.nan, 1.5]), 3)
    assert np.all(np.isnan(out[0]))
    np.testing.assert_array_equal(out[1], [0.0, 0.5, 0.5])


def test_two_hot_range_errors_and_clip() -> None:
    with pytest.raises(ValueError, match=r"values must lie in \[0, n_bins - 1\] = \[0, 3\]"):
        two_hot(np.array([3.5]), 4)
    with pytest.raises(ValueError, match="found values outside"):
        two_hot(np.array([-0.1]), 4)
    np.testing.assert_array_equal(two_hot(np.array([-2.0, 7.0]), 4, clip=True), np.eye(4)[[0, 3]])
    # validate=False skips the check (a training loop's choice): the row then extrapolates
    # linearly and has a negative weight, which is why the check is on by default.
    np.testing.assert_array_equal(two_hot(np.array([3.5]), 4, validate=False), [[0, 0, -0.5, 1.5]])


@pytest.mark.parametrize("bad", [1, 0, 2.0, True, "4"])
def test_two_hot_n_bins_errors(bad: Any) -> None:
    with pytest.raises(ValueError, match="n_bins must be an integer >= 2"):
        two_hot(np.array([0.0]), bad)


def test_two_hot_under_jax_jit(jax: ModuleType) -> None:
    jnp = jax.numpy
    t = jnp.asarray([0.25, 2.0, 3.0])
    out = jax.jit(lambda v: two_hot(v, 4))(t)  # range check skipped on tracers
    np.testing.assert_allclose(np.asarray(out), two_hot(np.asarray(t), 4), rtol=0, atol=0)


# ------------------------------------------------------------------ distribution_focal_loss


def _dfl_data(
    seed: int = 0, n: int = 6, k: int = 8
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, k - 1.0, size=(n, 4))
    t[0, 0], t[1, 1] = 2.0, 0.0  # integer targets: the right weight is 0
    z = rng.normal(scale=3.0, size=(n, 4, k))
    return t, z


def test_dfl_equals_mmdet_formula_and_softmax_ce_of_two_hot() -> None:
    t, z = _dfl_data()
    ours = distribution_focal_loss(t, z, reduction="none")
    assert ours.shape == t.shape
    np.testing.assert_allclose(ours, _dfl_mmdet(t, z), rtol=1e-13)
    ce = losslab.get_loss("softmax_cross_entropy")
    direct = ce(two_hot(t, 8).reshape(-1, 8), z.reshape(-1, 8), reduction="none")
    np.testing.assert_array_equal(ours.reshape(-1), direct)
    np.testing.assert_allclose(distribution_focal_loss(t, z), np.mean(ours), rtol=1e-14)


def test_dfl_gradient_is_p_minus_two_hot() -> None:
    t, z = _dfl_data(1)
    y = two_hot(t, 8).reshape(-1, 8)
    zz = z.reshape(-1, 8)
    g = losslab.get_loss("softmax_cross_entropy").gradient(y, zz)
    p = np.exp(_log_softmax(zz))
    np.testing.assert_allclose(g, p - y, rtol=1e-12, atol=1e-15)


def test_dfl_top_value_where_mmdet_formula_indexes_past_the_last_bin() -> None:
    """t = K - 1: mmdet's right bin would be K (out of range; mmdet clamps distances to
    reg_max - 0.1 beforehand, in bbox2distance); the clipped left bin gives -log p_(K-1)."""
    z = np.random.default_rng(2).normal(size=(1, 5))
    ours = distribution_focal_loss(np.array([4.0]), z, reduction="none")
    with pytest.raises(IndexError):
        _dfl_mmdet(np.array([4.0]), z)
    np.testing.assert_allclose(ours, -_log_softmax(z)[:, 4], rtol=1e-14)


def test_dfl_sample_weight_and_errors() -> None:
    t, z = _dfl_data(3)
    w = np.random.default_rng(4).uniform(0.1, 2.0, size=t.shape)
    none = distribution_focal_loss(t, z, reduction="none")
    np.testing.assert_allclose(
        distribution_focal_loss(t, z, sample_weight=w, reduction="sum"), np.sum(w * none)
    )
    np.testing.assert_allclose(
        distribution_focal_loss(t, z, sample_weight=w), np.sum(w * none) / np.sum(w)
    )
    with pytest.raises(ValueError, match=r"sample_weight must have the shape of y_true \(6, 4\)"):
        distribution_focal_loss(t, z, sample_weight=w[:, :2])
    with pytest.raises(ValueError, match=r"y_true \(6, 4\) and raw_prediction \(6, 8\)"):
        distribution_focal_loss(t, z[:, 0, :])
    with pytest.raises(ValueError, match="values must lie in"):
        distribution_focal_loss(t + 7.5, z)
    clipped = distribution_focal_loss(t + 7.5, z, clip=True, reduction="none")
    np.testing.assert_allclose(clipped, -_log_softmax(z)[..., 7], rtol=1e-13)


def test_dfl_on_every_backend(xp: ModuleType) -> None:
    t, z = _dfl_data(5, n=3, k=6)
    out = distribution_focal_loss(_asarray(xp, t), _asarray(xp, z), reduction="none")
    assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(
        _asarray(xp, t)
    )
    np.testing.assert_allclose(to_numpy(out), _dfl_mmdet(t, z), rtol=1e-13)


def test_dfl_function_differentiates_in_torch_and_jax(torch: ModuleType, jax: ModuleType) -> None:
    """distribution_focal_loss itself on torch tensors (autograd through the core's formulas)
    and under jax.jit(jax.grad(...)): the gradient is p - two_hot(t)."""
    t, z = _dfl_data(9, n=3)
    expected = np.exp(_log_softmax(z)) - two_hot(t, 8)
    zt = torch.tensor(z, requires_grad=True)
    distribution_focal_loss(torch.tensor(t), zt, reduction="sum").backward()
    np.testing.assert_allclose(zt.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    jnp = jax.numpy
    grad = jax.jit(jax.grad(lambda v, w: distribution_focal_loss(w, v, reduction="sum")))
    np.testing.assert_allclose(
        np.asarray(grad(jnp.asarray(z), jnp.asarray(t))), expected, rtol=1e-12, atol=1e-15
    )


def test_dfl_torch_module_route(torch: ModuleType) -> None:
    """The training route in torch: losslab.torch.SoftmaxCrossEntropy with the two-hot target;
    its gradient is the analytic p - y."""
    import losslab.torch as lt

    t, z = _dfl_data(6)
    zt = torch.tensor(z.reshape(-1, 8), requires_grad=True)
    target = two_hot(torch.tensor(t.reshape(-1)), 8)
    loss = lt.SoftmaxCrossEntropy(reduction="sum")(zt, target)
    (g,) = torch.autograd.grad(loss, zt)
    np.testing.assert_allclose(loss.item(), np.sum(_dfl_mmdet(t, z)), rtol=1e-13)
    p = np.exp(_log_softmax(z.reshape(-1, 8)))
    np.testing.assert_allclose(g.numpy(), p - to_numpy(target), rtol=1e-12, atol=1e-15)


def test_dfl_jax_route_under_jit_and_grad(jax: ModuleType) -> None:
    import losslab.jax as lj

    jnp = jax.numpy
    t, z = _dfl_data(7)
    tt, zz = jnp.asarray(t.reshape(-1)), jnp.asarray(z.reshape(-1, 8))

    def total(logits: Any, values: Any) -> Any:
        return jnp.sum(lj.softmax_cross_entropy(logits, two_hot(values, 8)))

    value, grad = jax.jit(jax.value_and_grad(total))(zz, tt)
    np.testing.assert_allclose(float(value), np.sum(_dfl_mmdet(t, z)), rtol=1e-13)
    p = np.exp(_log_softmax(z.reshape(-1, 8)))
    np.testing.assert_allclose(
        np.asarray(grad), p - two_hot(t.reshape(-1), 8), rtol=1e-12, atol=1e-15
    )


# ------------------------------------------------------------------ class-balanced weights


def _cb_reference(counts: list[float], beta: float) -> np.ndarray[Any, Any]:
    """The paper's formula, evaluated directly: (1 - beta) / (1 - beta^n), sum = K."""
    w = np.array([(1.0 - beta) / (1.0 - beta**n) for n in counts])
    return np.asarray(w * len(counts) / w.sum())


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999, 0.9999])
def test_class_balanced_weights_formula(beta: float) -> None:
    counts = [5000, 800, 120, 7, 1]
    w = class_balanced_weights(counts, beta)
    assert w.shape == (5,)
    assert w.dtype == np.float64
    np.testing.assert_allclose(w, _cb_reference(counts, beta), rtol=1e-12)
    assert abs(np.sum(w) - 5.0) <= 1e-14
    # rarer classes weigh more (beta^n saturates: 5000 and 800 samples tie at beta = 0.9)
    assert np.all(np.diff(w) >= 0)
    assert w[-1] > w[-2] > w[0]


def test_class_balanced_weights_limits() -> None:
    counts = [1000.0, 10.0, 1.0]
    np.testing.assert_array_equal(class_balanced_weights(counts, 0.0), np.ones(3))
    # beta -> 1: inverse class frequency, normalised to sum K
    inv = 1.0 / np.array(counts)
    np.testing.assert_allclose(
        class_balanced_weights(counts, 1.0 - 1e-12), inv * 3 / inv.sum(), rtol=1e-6
    )
    # beta^n underflows for large counts: the weight tends to (1 - beta), still finite
    w = class_balanced_weights([1e9, 1.0], 0.5)
    np.testing.assert_allclose(w, np.array([0.5, 1.0]) * 2 / 1.5, rtol=1e-15)


def test_class_balanced_weights_backends(xp: ModuleType) -> None:
    counts = xp.asarray(np.array([300, 20, 4]))  # integer counts: the default float dtype
    w = class_balanced_weights(counts, 0.99)
    assert array_api_compat.array_namespace(w) is array_api_compat.array_namespace(counts)
    np.testing.assert_allclose(to_numpy(w), _cb_reference([300, 20, 4], 0.99), rtol=1e-6)


@pytest.mark.parametrize(
    ("counts", "beta", "match"),
    [
        ([10, -1, 3], 0.99, "counts must be >= 0"),
        ([10, 0, 3], 0.99, r"no samples \(class indices \[1\]\)"),
        ([10, math.nan], 0.99, "counts must be finite"),
        ([[10, 3]], 0.99, r"non-empty 1-D array .* got shape \(1, 2\)"),
        ([], 0.99, "non-empty 1-D"),
        ([10, 3], 1.0, r"beta must be a finite number in \[0.0, 1.0\)"),
        ([10, 3], -0.1, "beta must be a finite number"),
        ([10, 3], math.nan, "beta must be a finite number"),
        ([10, 3], True, "beta must be a real number"),
    ],
)
def test_class_balanced_weights_errors(counts: Any, beta: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        class_balanced_weights(counts, beta)


def test_sample_weight_from_class_weights(xp: ModuleType) -> None:
    w = class_balanced_weights([100, 10, 1], 0.999)
    idx = xp.asarray(np.array([2, 0, 1, 2]))
    out = sample_weight_from_class_weights(idx, w)
    np.testing.assert_allclose(to_numpy(out), w[[2, 0, 1, 2]], rtol=1e-15)
    probs = _asarray(xp, [[0.1, 0.0, 0.9], [1.0, 0.0, 0.0]])
    out2 = sample_weight_from_class_weights(probs, w)
    np.testing.assert_allclose(to_numpy(out2), [0.1 * w[0] + 0.9 * w[2], w[0]], rtol=1e-14)
    floats = _asarray(xp, [1.0, 2.0])
    np.testing.assert_allclose(to_numpy(sample_weight_from_class_weights(floats, w)), w[[1, 2]])


@pytest.mark.parametrize(
    ("y", "w", "error", "match"),
    [
        (np.array([0, 3]), [1.0, 2.0, 3.0], ValueError, r"must lie in \[0, 3\)"),
        (np.array([0.5]), [1.0, 2.0], ValueError, "whole finite numbers"),
        (np.array([np.nan]), [1.0, 2.0], ValueError, "whole finite numbers"),
        (np.ones((2, 3)), [1.0, 2.0], ValueError, "3 classes but class_weights has 2"),
        (np.ones((2, 2, 2)), [1.0, 2.0], ValueError, r"got shape \(2, 2, 2\)"),
        (np.array([0]), [1.0, -2.0], ValueError, "finite numbers >= 0"),
        (np.array([0]), [[1.0]], ValueError, "non-empty 1-D"),
        (np.array(["a"]), [1.0], TypeError, "must be integers"),
    ],
)
def test_sample_weight_from_class_weights_errors(
    y: Any, w: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        sample_weight_from_class_weights(y, w)


def test_class_balanced_softmax_focal_two_ways() -> None:
    """The paper's CB focal loss, w_y FL(y, z): as softmax_focal's per-class alpha, and as
    sample_weight on the unweighted loss (sum reductions agree; the weighted mean divides by
    sum(w) instead of n)."""
    rng = np.random.default_rng(8)
    counts = [400, 60, 9, 2]
    y = rng.integers(0, 4, size=50)
    z = rng.normal(scale=2.0, size=(50, 4))
    w = class_balanced_weights(counts, 0.999)
    with_alpha = losslab.get_loss("softmax_focal", gamma=2.0, alpha=w)
    plain = losslab.get_loss("softmax_focal", gamma=2.0)
    sw = sample_weight_from_class_weights(y, w)
    np.testing.assert_allclose(
        with_alpha(y, z, reduction="none"), sw * plain(y, z, reduction="none"), rtol=1e-13
    )
    np.testing.assert_allclose(
        with_alpha(y, z, reduction="sum"), plain(y, z, sample_weight=sw, reduction="sum")
    )


def test_class_balanced_binary_focal_alpha() -> None:
    """Binary focal with alpha = w[1] / 2 is the CB focal loss divided by 2 (w_0 + w_1 = 2)."""
    rng = np.random.default_rng(9)
    y = (rng.uniform(size=40) < 0.1).astype(np.float64)
    z = rng.normal(scale=3.0, size=40)
    w = class_balanced_weights([36, 4], 0.99)
    cb = losslab.get_loss("focal", gamma=2.0, alpha=w[1] / 2)
    plain = losslab.get_loss("focal", gamma=2.0, alpha=None)
    sw = sample_weight_from_class_weights(y, w)
    np.testing.assert_allclose(
        cb(y, z, reduction="none"), sw * plain(y, z, reduction="none") / 2, rtol=1e-13
    )
