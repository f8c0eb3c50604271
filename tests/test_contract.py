"""The contract every registered loss keeps (modelled on scikit-learn's test_loss.py).

Parametrised over ``sorted(losslab.LOSSES)`` plus hyperparameter variants, so a newly
registered loss enters every test here automatically. All checks run on NumPy float64
unless a test says otherwise; other backends are covered in test_backends.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

import losslab
from _cases import (
    ALL_METHODS,
    FUSED,
    METHODS,
    N_CLASSES,
    as_tuple,
    kinks,
    loss_params,
    make_case,
    stable_sigmoid,
    weighted,
)

EPS = float(np.finfo(np.float64).eps)
ALL = loss_params()
ELEMENTWISE = [p for p in ALL if not p.values[0].is_multiclass]
WITH_KINKS = [p for p in ALL if kinks(p.values[0])]
HESSIAN_SIGNS = {"positive", "nonnegative", "zero", "indefinite"}


def _kernels_on() -> Any:
    """The fused NumPy kernels forced on for any size (they run where numba is installed,
    as in CI). One thread: a parallel launch costs milliseconds on a busy machine, and these
    inputs are a few dozen elements (tests/test_kernels.py covers the threading)."""
    return losslab.config_context(use_kernels=True, kernel_min_size=0, kernel_threads=1)


@pytest.fixture(autouse=True, params=["generic", "kernels"])
def compute_path(request: pytest.FixtureRequest) -> Any:
    """Every contract test runs on the generic array-API path and on the fused kernels."""
    ctx = losslab.config_context(use_kernels=False) if request.param == "generic" else _kernels_on()
    with ctx:
        yield request.param


def _cases(loss: Any, **kw: Any) -> list[Any]:
    forms = ["index", "proba"] if loss.is_multiclass else ["index"]
    return [make_case(loss, target=t, **kw) for t in forms]


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize("loss", ALL)
def test_registry_and_metadata(loss: Any) -> None:
    assert loss.name in losslab.LOSSES
    assert type(loss) is losslab.LOSSES[loss.name]
    assert loss.hessian_sign in HESSIAN_SIGNS
    for flag in ("convex", "constant_hessian", "differentiable", "is_multiclass"):
        assert isinstance(getattr(loss, flag), bool), flag
    assert loss.kind in ("binary", "multiclass", "regression")
    assert loss.is_multiclass == (loss.kind == "multiclass")
    if loss.kind == "binary":  # a link to P(y = 1): the logit, or the half logit
        assert loss.link.name in ("logit", "half_logit")
    elif loss.kind == "multiclass":
        assert loss.link.name == "softmax"
    # a loss with a kink in its gradient is not differentiable; a kink of the Hessian only
    # (Huber) keeps it differentiable
    assert loss.differentiable == (loss.name not in ("absolute_error", "pinball"))
    assert all(isinstance(k, float) for k in loss.kinks())
    for spec in loss.parameters():  # declared parameters: described, defaults valid
        assert spec.name in loss.params
        assert spec.name in spec.describe()
        assert type(loss)(**{spec.name: spec.default}).params[spec.name] == spec.check(spec.default)
    assert loss.replace(**loss.params) == loss
    policies = [p.name for p in loss.hessian_policies]
    assert len(set(policies)) == len(policies)
    if loss.hessian_sign == "zero":
        assert "exact" not in policies
    if loss.name in ("squared_error", "half_squared_error"):
        assert loss.constant_hessian
    if loss.name in ("focal", "softmax_focal"):
        assert loss.convex == (loss.gamma == 0)
    if loss.convex:
        assert loss.hessian_sign != "indefinite"


@pytest.mark.parametrize("loss", ALL)
def test_hessian_sign_is_honest(loss: Any) -> None:
    """The declared hessian_sign holds on sample points; "indefinite" is really reached."""
    for case in _cases(loss):
        hess = loss.hessian(case.y, case.z)
        if loss.hessian_sign == "positive":
            assert np.all(hess > 0)
        elif loss.hessian_sign == "nonnegative":
            assert np.all(hess >= 0)
        elif loss.hessian_sign == "zero":
            assert np.all(hess == 0)
        if loss.constant_hessian:
            assert np.all(hess == hess.flat[0])
    if loss.hessian_sign == "indefinite":
        # Hard examples: the true class has a very negative logit (margin).
        t = np.linspace(-20.0, 20.0, 81)
        if loss.is_multiclass:
            z = np.zeros((t.size, N_CLASSES))
            z[:, 0] = t
            y = np.zeros(t.size, dtype=np.int64)
            assert np.any(loss.hessian(y, z) < 0)
        else:  # hard positives, or hard negatives (varifocal, ASL focus on the negatives)
            ones = np.ones_like(t)
            assert np.any(loss.hessian(ones, t) < 0) or np.any(loss.hessian(0 * ones, -t) < 0)


@pytest.mark.parametrize("loss", ALL)
def test_link(loss: Any) -> None:
    case = _cases(loss)[0]
    z = case.z
    pred = loss.link.inverse(z)
    assert isinstance(pred, np.ndarray)
    assert pred.shape == z.shape
    assert pred.dtype == np.float64
    name = type(loss.link).__name__
    if loss.is_multiclass:
        assert name == "SoftmaxLink"
        assert_allclose(pred.sum(axis=1), 1.0, rtol=4 * EPS)
        back = loss.link.link(pred)
        # The softmax determines the logits up to a constant per row.
        assert_allclose(
            back - back.mean(axis=1, keepdims=True),
            z - z.mean(axis=1, keepdims=True),
            rtol=0,
            atol=1e-12 * np.abs(z).max(),
        )
    elif name == "LogitLink":
        assert_allclose(pred, stable_sigmoid(z), rtol=2 * EPS)
        assert_allclose(loss.link.link(pred), z, rtol=1e-12, atol=1e-14)
    elif name == "HalfLogitLink":  # the exponential loss: P(y = 1) = sigmoid(2 z)
        assert_allclose(pred, stable_sigmoid(2 * z), rtol=2 * EPS)
        assert_allclose(loss.link.link(pred), z, rtol=1e-12, atol=1e-14)
    elif name == "LogLink":  # Poisson, Gamma, Tweedie: the mean is exp(z)
        assert_allclose(pred, np.exp(z), rtol=2 * EPS)
        assert_allclose(loss.link.link(pred), z, rtol=1e-12, atol=1e-14)
    else:
        assert name == "IdentityLink"
        assert np.array_equal(pred, z)
        assert np.array_equal(loss.link.link(z), z)


# ------------------------------------------------------------------ finite differences
# Central differences f'(z) ~ (f(z + h) - f(z - h)) / (2h) with h = 1e-6 * max(1, |z|).
# Error: truncation h^2 |f'''| / 6 <= 1e-12 * max(1, z^2) * |f'''| / 6, plus rounding of the
# two evaluations, at most ~eps * |f| each, divided by 2h (~1e-10 * max(|f|, 1)). The absolute
# tolerance is 10x that rounding bound plus 1e-10 * max(1, z^2), the truncation bound for
# |f'''| <= 600 (the sample points have |z| <~ 10; every loss here has a bounded f''' there).
# rtol = 1e-8 is slack for the rest: an error of 1e-7 relative in a gradient is caught.
H_REL = 1e-6
FD_RTOL = 1e-8


def _central(
    f: Callable[[np.ndarray], np.ndarray], z: np.ndarray, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Central difference of f (element-wise, or column k of f for column k of z)."""
    col = z if k is None else z[:, k]
    h = H_REL * np.maximum(1.0, np.abs(col))
    zp, zm = z.copy(), z.copy()
    if k is None:
        zp += h
        zm -= h
        dz = zp - zm  # the step actually taken
    else:
        zp[:, k] += h
        zm[:, k] -= h
        dz = zp[:, k] - zm[:, k]
    fp, fm = f(zp), f(zm)
    deriv = (fp - fm) / dz
    atol = 10 * EPS * np.maximum(np.maximum(np.abs(fp), np.abs(fm)), 1.0) / dz
    atol = atol + 1e-10 * np.maximum(1.0, col**2)
    return deriv, atol


def _assert_fd(got: np.ndarray, fd: np.ndarray, atol: np.ndarray, what: str) -> None:
    err = np.abs(got - fd)
    bad = err > FD_RTOL * np.abs(got) + atol
    assert not np.any(bad), (
        f"{what}: analytic {got[bad][:5]} vs finite difference {fd[bad][:5]} "
        f"(max error {err.max():.3g})"
    )


@pytest.mark.parametrize("loss", ALL)
def test_gradient_finite_difference(loss: Any) -> None:
    for case in _cases(loss):
        grad = loss.gradient(case.y, case.z)
        if loss.is_multiclass:
            for k in range(case.z.shape[1]):
                fd, atol = _central(lambda z, y=case.y: loss.loss(y, z), case.z, k)
                _assert_fd(grad[:, k], fd, atol, f"gradient column {k}")
        else:
            fd, atol = _central(lambda z, y=case.y: loss.loss(y, z), case.z)
            _assert_fd(grad, fd, atol, "gradient")


@pytest.mark.parametrize("loss", ALL)
def test_hessian_finite_difference(loss: Any) -> None:
    """FD of the gradient; the multiclass Hessian diagonal is d grad_k / d z_k.

    Losses that are not differentiable (absolute, pinball) have Hessian exactly 0 away
    from the kink; the sample points keep a 0.05 margin from every kink, >> the FD step.
    """
    for case in _cases(loss):
        hess = loss.hessian(case.y, case.z)
        assert hess.shape == case.z.shape
        if not loss.differentiable:
            assert np.all(hess == 0)
            continue
        if loss.is_multiclass:
            for k in range(case.z.shape[1]):
                fd, atol = _central(lambda z, k=k, y=case.y: loss.gradient(y, z)[:, k], case.z, k)
                _assert_fd(hess[:, k], fd, atol, f"hessian diagonal {k}")
        else:
            fd, atol = _central(lambda z, y=case.y: loss.gradient(y, z), case.z)
            _assert_fd(hess, fd, atol, "hessian")


@pytest.mark.parametrize("loss", WITH_KINKS)
def test_values_at_the_kink(loss: Any) -> None:
    """The documented choices at the kinks (residuals formed exactly here)."""
    y = np.array([1.0, -2.0, 0.5])
    if loss.name in ("absolute_error", "pinball"):
        z = y.copy()
        assert np.array_equal(loss.loss(y, z), np.zeros(3))
        assert np.array_equal(loss.gradient(y, z), np.zeros(3))  # sign(0) = 0
        assert np.array_equal(loss.hessian(y, z), np.zeros(3))
    else:  # huber: Hessian 1 for |r| <= delta, gradient r (continuous)
        d = float(loss.delta)
        for s in (1.0, -1.0):
            z = y + s * d
            assert np.array_equal(z - y, np.full(3, s * d))
            assert_allclose(loss.loss(y, z), 0.5 * d * d, rtol=EPS)
            assert_allclose(loss.gradient(y, z), s * d, rtol=EPS)
            assert np.array_equal(loss.hessian(y, z), np.ones(3))


# --------------------------------------------------------------------- fused methods


@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("use_weights", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss", ALL)
def test_fused_methods_equal_single_ones(
    loss: Any, use_weights: bool, dtype: Any, size: str, compute_path: str
) -> None:
    """The one check that every method agrees with every other: the fused methods return
    exactly (np.array_equal) what the single ones return, on both compute paths, in float64
    and float32, with and without weights, and on inputs large enough (30,000 elements) for
    the kernels to split the work between threads and route unneeded outputs to scratch."""
    n = 30_000 if size == "large" else 24
    threads = {} if size == "small" else {"kernel_threads": 2}
    with losslab.config_context(**threads):
        for case in _cases(loss, n=n):
            z = case.z.astype(dtype)
            y = case.y.astype(dtype) if case.y.dtype.kind == "f" else case.y
            kw = {"sample_weight": case.w.astype(dtype)} if use_weights else {}
            single = {m: getattr(loss, m)(y, z, **kw) for m in METHODS}
            for m, arr in single.items():
                assert arr.dtype == dtype, m
            for fused, parts in FUSED.items():
                out = getattr(loss, fused)(y, z, **kw)
                assert isinstance(out, tuple)
                assert len(out) == len(parts)
                for part, arr in zip(parts, out, strict=True):
                    assert np.array_equal(arr, single[part], equal_nan=True), (fused, part)
            if use_weights and compute_path == "kernels" and loss.kernel is not None:
                # the weights multiply the unweighted result (float64: bit for bit, as the
                # generic path does; float32: the kernel rounds once, after the product)
                w = kw["sample_weight"]
                for m, arr in single.items():
                    plain = getattr(loss, m)(y, z)
                    if dtype == np.float64:
                        np.testing.assert_array_equal(arr, plain * w, err_msg=m)
                    else:
                        np.testing.assert_array_max_ulp(arr, plain * w, maxulp=1)


@pytest.mark.parametrize("loss", ALL)
def test_kernels_match_generic_path(loss: Any) -> None:
    """The fused CPU kernels (when installed) agree with the array-API reference path."""
    for case in _cases(loss):
        with losslab.config_context(use_kernels=False):
            ref = loss.loss_gradient_hessian(case.y, case.z, sample_weight=case.w)
        with _kernels_on():
            got = loss.loss_gradient_hessian(case.y, case.z, sample_weight=case.w)
        for a, b in zip(got, ref, strict=True):
            assert_allclose(a, b, rtol=1e-13, atol=1e-15)


# ----------------------------------------------------------- weights and reductions


@pytest.mark.parametrize("loss", ALL)
def test_sample_weight_multiplies_every_output(loss: Any) -> None:
    for case in _cases(loss):
        for method in ALL_METHODS:
            plain = as_tuple(getattr(loss, method)(case.y, case.z))
            weighted_out = as_tuple(getattr(loss, method)(case.y, case.z, sample_weight=case.w))
            for a, b in zip(weighted_out, plain, strict=True):
                assert a.shape == b.shape
                assert_allclose(a, weighted(b, case.w), rtol=1e-15, atol=0, err_msg=method)


@pytest.mark.parametrize("loss", ALL)
def test_reductions(loss: Any) -> None:
    for case in _cases(loss):
        value = loss.loss(case.y, case.z)
        assert value.shape == (case.n,)
        w = case.w
        none_w = loss(case.y, case.z, sample_weight=w, reduction="none")
        assert_allclose(none_w, w * value, rtol=1e-15, atol=0)
        assert_allclose(loss(case.y, case.z, reduction="none"), value, rtol=1e-15, atol=0)
        expected = {
            "sum": np.sum(w * value),
            "mean": np.sum(w * value) / np.sum(w),
        }
        for reduction, exp in expected.items():
            got = loss(case.y, case.z, sample_weight=w, reduction=reduction)
            assert np.ndim(got) == 0
            assert got.dtype == np.float64
            assert_allclose(got, exp, rtol=1e-13, err_msg=reduction)
        plain_mean = loss(case.y, case.z)  # default reduction is "mean"
        assert np.ndim(plain_mean) == 0
        assert_allclose(plain_mean, value.mean(), rtol=1e-13)
        assert_allclose(loss(case.y, case.z, reduction="sum"), value.sum(), rtol=1e-13)


@pytest.mark.parametrize("loss", ALL)
def test_reduction_positives(loss: Any) -> None:
    """RetinaNet normalisation: sum(w * L) / max(number of positives, 1), counting only the
    positives of non-zero weight (ignored anchors are not foreground)."""
    case = make_case(loss, target="index")
    assert np.any(case.w == 0)  # the case carries a zero weight, so the rule is exercised
    value = loss.loss(case.y, case.z)
    kw = {"sample_weight": case.w, "reduction": "positives"}
    kept = case.w > 0
    if isinstance(loss, losslab.FocalLoss):  # focal and poly1_focal: the label mass
        got = loss(case.y, case.z, **kw)
        n_pos = case.y[kept].sum()
        assert_allclose(got, np.sum(case.w * value) / max(n_pos, 1.0), rtol=1e-13)
        y0 = np.zeros_like(case.y)  # no positives: the denominator is 1
        assert_allclose(loss(y0, case.z, **kw), np.sum(case.w * loss.loss(y0, case.z)), rtol=1e-13)
    elif loss.name == "softmax_focal" and loss.background_class is not None:
        n_pos = np.sum(case.y[kept] != loss.background_class)
        got = loss(case.y, case.z, **kw)
        assert_allclose(got, np.sum(case.w * value) / max(n_pos, 1), rtol=1e-13)
        y_bg = np.full_like(case.y, loss.background_class)
        assert_allclose(
            loss(y_bg, case.z, **kw), np.sum(case.w * loss.loss(y_bg, case.z)), rtol=1e-13
        )
    elif loss.name == "softmax_focal":
        with pytest.raises(ValueError, match="background_class"):
            loss(case.y, case.z, **kw)
    elif loss.supports_positives:  # the other detection losses: anchors with a target > 0
        n_pos = np.sum(case.y[kept] > 0)
        assert 0 < n_pos < kept.sum()
        got = loss(case.y, case.z, **kw)
        assert_allclose(got, np.sum(case.w * value) / n_pos, rtol=1e-13)
        y0 = np.zeros_like(case.y)
        assert_allclose(loss(y0, case.z, **kw), np.sum(case.w * loss.loss(y0, case.z)), rtol=1e-13)
    else:
        with pytest.raises(ValueError, match=r"(?i)positives|reduction"):
            loss(case.y, case.z, **kw)


# ------------------------------------------------------------------ fit_intercept_only


@pytest.mark.parametrize("use_weights", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss", ALL)
def test_fit_intercept_only(loss: Any, use_weights: bool) -> None:
    """The constant is the minimiser of the weighted mean loss (and zeroes the summed
    gradient where the loss is differentiable)."""
    for case in _cases(loss):
        w = case.w if use_weights else None
        c = loss.fit_intercept_only(case.y, sample_weight=w)
        if loss.is_multiclass:
            assert isinstance(c, np.ndarray)
            assert c.shape == (case.z.shape[1],)
            assert c.dtype == np.float64
            raw = np.tile(c, (case.n, 1))
        else:
            assert isinstance(c, float)
            raw = np.full(case.n, c)
        assert np.all(np.isfinite(raw))
        if loss.differentiable:
            grad = loss.gradient(case.y, raw, sample_weight=w)
            total = np.abs(grad.sum(axis=0))
            scale = np.abs(grad).sum(axis=0)
            assert np.all(total <= 1e-9 * scale + 1e-300), (total, scale)

        def mean_loss(r: np.ndarray, w: Any = w, y: np.ndarray = case.y) -> float:
            return float(loss(y, r, sample_weight=w, reduction="mean"))

        best = mean_loss(raw)
        for h in (1e-4, 1e-2, 1.0):
            for s in (h, -h):
                if loss.is_multiclass:
                    for k in range(raw.shape[1]):
                        other = raw.copy()
                        other[:, k] += s
                        assert best <= mean_loss(other) * (1 + 4 * EPS), (k, s)
                else:
                    assert best <= mean_loss(raw + s) * (1 + 4 * EPS), s


# ----------------------------------------------------------- inputs, dtypes, NaN


@pytest.mark.parametrize("loss", ALL)
def test_read_only_inputs_and_no_mutation(loss: Any) -> None:
    for case in _cases(loss):
        arrays = (case.y, case.z, case.w)
        originals = [a.copy() for a in arrays]
        for writeable in (True, False):
            for a in arrays:
                a.flags.writeable = writeable
            for method in ALL_METHODS:
                getattr(loss, method)(case.y, case.z, sample_weight=case.w)
            for reduction in ("none", "sum", "mean"):
                loss(case.y, case.z, sample_weight=case.w, reduction=reduction)
            loss.fit_intercept_only(case.y, sample_weight=case.w)
            loss.link.inverse(case.z)
            for a, o in zip(arrays, originals, strict=True):
                assert np.array_equal(a, o)


LOW_PRECISION = [
    pytest.param(np.float32, 2e-5, 2e-6, id="float32"),
    # Computed in float32 and rounded once: within one float16 ulp of the float64 value.
    pytest.param(np.float16, float(np.finfo(np.float16).eps), 6e-8, id="float16"),
]


@pytest.mark.parametrize(("dtype", "rtol", "atol"), LOW_PRECISION)
@pytest.mark.parametrize("loss", ALL)
def test_low_precision_dtype_preserved(loss: Any, dtype: Any, rtol: float, atol: float) -> None:
    """float32 in -> float32 out; float16 -> float16 (computed in float32).

    The reference is float64 on the same (rounded) inputs.
    """
    for case in _cases(loss, scale=2.0):
        z = case.z.astype(dtype)
        y = case.y if case.y.dtype.kind == "i" else case.y.astype(dtype)
        w = case.w.astype(dtype)
        ref = loss.loss_gradient_hessian(
            y.astype(case.y.dtype), z.astype(np.float64), sample_weight=w.astype(np.float64)
        )
        for method in ALL_METHODS:
            out = as_tuple(getattr(loss, method)(y, z, sample_weight=w))
            for arr in out:
                assert arr.dtype == dtype, method
        got = loss.loss_gradient_hessian(y, z, sample_weight=w)
        for name, a, b in zip(METHODS, got, ref, strict=True):
            assert_allclose(a.astype(np.float64), b, rtol=rtol, atol=atol, err_msg=name)
        if case.y.dtype.kind == "f":  # float64 targets with low-precision predictions
            mixed = loss.loss_gradient_hessian(y.astype(np.float64), z)
            assert all(a.dtype == dtype for a in mixed)
        for reduction in ("none", "sum", "mean"):
            assert loss(y, z, sample_weight=w, reduction=reduction).dtype == dtype


def _nan_cases(loss: Any) -> list[tuple[Any, str]]:
    out = [(make_case(loss, target="index"), "z")]
    if not loss.is_multiclass:
        out.append((make_case(loss), "y"))
    else:
        out += [(make_case(loss, target="proba"), "z"), (make_case(loss, target="proba"), "y")]
    return out


@pytest.mark.parametrize("loss", ALL)
def test_nan_propagates_only_where_it_touches(loss: Any) -> None:
    i = 3
    for case, where in _nan_cases(loss):
        clean = {m: getattr(loss, m)(case.y, case.z) for m in METHODS}
        y, z = case.y.copy(), case.z.copy()
        arr = z if where == "z" else y
        if arr.ndim == 2:
            arr[i, 1] = np.nan
        else:
            arr[i] = np.nan
        got = {m: getattr(loss, m)(y, z) for m in METHODS}
        for fused, parts in FUSED.items():
            for part, a in zip(parts, getattr(loss, fused)(y, z), strict=True):
                assert np.array_equal(a, got[part], equal_nan=True), (fused, part)
        for m in METHODS:
            a, b = got[m], clean[m]
            rows = np.arange(case.n) != i
            assert np.array_equal(a[rows], b[rows]), f"{m}: NaN leaked out of row {i}"
            # every output of the element (row) a NaN touches is NaN, also where the formula
            # does not read that input (the Hessian of log loss, a constant Hessian)
            assert np.all(np.isnan(a[i])), f"{m} at NaN {where}: {a[i]}"
        total = loss(y, z, reduction="sum")
        assert np.isnan(total)


# ------------------------------------------------------------------ shapes and inputs


@pytest.mark.parametrize("loss", ELEMENTWISE)
def test_elementwise_shapes(loss: Any) -> None:
    """Any shape works, 0-d included; outputs have the input's shape."""
    case = make_case(loss, n=24)
    flat = loss.loss_gradient_hessian(case.y, case.z, sample_weight=case.w)
    for shape in [(4, 6), (2, 3, 4)]:
        out = loss.loss_gradient_hessian(
            case.y.reshape(shape), case.z.reshape(shape), sample_weight=case.w.reshape(shape)
        )
        for a, b in zip(out, flat, strict=True):
            assert a.shape == shape
            assert np.array_equal(a.ravel(), b)
        assert np.ndim(loss(case.y.reshape(shape), case.z.reshape(shape))) == 0
    plain = loss.loss_gradient_hessian(case.y, case.z)
    out = loss.loss_gradient_hessian(np.asarray(case.y[5]), np.asarray(case.z[5]))
    for a, b in zip(out, plain, strict=True):
        assert a.shape == ()
        assert a == b[5]


@pytest.mark.parametrize("loss", ALL)
def test_python_scalars_and_lists(loss: Any) -> None:
    """Lists are converted with NumPy when neither argument is an array."""
    case = make_case(loss, n=6)
    ref = loss.loss_gradient_hessian(case.y, case.z)
    got = loss.loss_gradient_hessian(case.y.tolist(), case.z.tolist())
    for a, b in zip(got, ref, strict=True):
        assert isinstance(a, np.ndarray)
        assert np.array_equal(a, b)
    got = loss.loss_gradient_hessian(case.y.tolist(), case.z)
    for a, b in zip(got, ref, strict=True):
        assert np.array_equal(a, b)
    if not loss.is_multiclass:
        value = loss.loss(float(case.y[0]), float(case.z[0]))
        assert np.ndim(value) == 0
        assert value == ref[0][0]


@pytest.mark.parametrize("loss", [p for p in ALL if p.values[0].is_multiclass])
def test_multiclass_index_and_proba_targets_agree(loss: Any) -> None:
    """One-hot probabilities equal integer and integral-float class indices."""
    case = make_case(loss, target="index")
    onehot = np.eye(case.z.shape[1])[case.y]
    ref = loss.loss_gradient_hessian(case.y, case.z, sample_weight=case.w)
    for y in (onehot, case.y.astype(np.float64), case.y.astype(np.int32)):
        got = loss.loss_gradient_hessian(y, case.z, sample_weight=case.w)
        for a, b in zip(got, ref, strict=True):
            assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("loss", [p for p in ALL if p.values[0].is_multiclass])
def test_nan_float_class_index_propagates_to_its_row(loss: Any) -> None:
    """A NaN among float class indices is a NaN in y_true: not an error; its row is NaN."""
    case = make_case(loss, target="index")
    i = 3
    y = case.y.astype(np.float64)
    y[i] = np.nan
    clean = loss.loss_gradient_hessian(case.y, case.z)
    got = loss.loss_gradient_hessian(y, case.z)
    rows = np.arange(case.n) != i
    for name, a, b in zip(METHODS, got, clean, strict=True):
        assert np.array_equal(a[rows], b[rows]), name
        assert np.all(np.isnan(a[i])), name
