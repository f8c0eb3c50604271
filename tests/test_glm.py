"""The GLM losses (half Poisson, half Gamma, half Tweedie, exponential) beyond the contract suite.

* Exact arithmetic (mpmath, 50 digits) at the overflow edges of every exponential, in float64
  and float32, on both code paths: finite wherever the true value is finite, within 1e-13 (float64)
  plus the conditioning of the input; +-inf only where the true value overflows, with its sign.
* z = +-inf gives the limit (the exact value at |z| = 1e400, rounded).
* Side by side with scikit-learn's ``sklearn._loss.loss`` classes: value, gradient, Hessian,
  ``fit_intercept_only``, the links and the dropped constants (``constant_to_optimal_zero``).
* The fused kernels against the generic path, in ulps of the magnitude of the terms that cancel.
* Metadata (convexity and Hessian sign per Tweedie power, the Hessian policies of the
  exponential loss, the p = 0, 1, 2 dispatch) and the target-domain errors.

The golden vectors (``tests/data/golden/half_*.json``, ``exponential.json``) enter
``test_golden.py`` by their files; ``test_golden_files_reach_every_branch`` here checks that they
exercise both zones of every formula.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import losslab
from _golden_utils import GOLDEN_DIR, compare, fail_if_any

mpmath = pytest.importorskip("mpmath")
sk_loss = pytest.importorskip("sklearn._loss.loss")
sk_link = pytest.importorskip("sklearn._loss.link")
pytest.importorskip("numba")

F64_MAX = float(np.finfo(np.float64).max)
F32_MAX = float(np.finfo(np.float32).max)
EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)
TINY64 = float(np.finfo(np.float64).smallest_normal)
TINY32 = float(np.finfo(np.float32).smallest_normal)

# (registry name, params): every branch of every loss, negative and sub-1 powers included
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("half_poisson", {}),
    ("half_gamma", {}),
    ("half_tweedie", {"power": 1.5}),
    ("half_tweedie", {"power": 1.2}),
    ("half_tweedie", {"power": 3.0}),
    ("half_tweedie", {"power": 2.5}),
    ("half_tweedie", {"power": 0.5}),
    ("half_tweedie", {"power": 0.0}),
    ("half_tweedie", {"power": -1.0}),
    ("half_tweedie", {"power": 1.0}),
    ("half_tweedie", {"power": 2.0}),
    ("exponential", {}),
]
IDS = [f"{n}{json.dumps(p)}" for n, p in CONFIGS]
PATHS = ("generic", "kernels")


@contextmanager
def code_path(path: str) -> Iterator[None]:
    """The generic array-API path, or the fused kernels forced on for any size."""
    if path == "generic":
        with losslab.config_context(use_kernels=False):
            yield
    else:
        with losslab.config_context(use_kernels=True, kernel_min_size=0, kernel_threads=1):
            yield


def _power(name: str, params: dict[str, Any]) -> float | None:
    """The Tweedie power a config evaluates (Poisson is 1, Gamma 2), None for exponential."""
    return {"half_poisson": 1.0, "half_gamma": 2.0}.get(name, params.get("power"))


def _targets(name: str, params: dict[str, Any]) -> list[float]:
    """Targets inside the loss's domain, from the bound up to 1e5."""
    if name == "exponential":
        return [0.0, 1.0, 0.3, 1e-5, 0.99999]
    p = _power(name, params)
    assert p is not None
    ys = [1e-5, 0.3, 1.0, 2.5, 123.456, 1e5]
    if p < 2:
        ys.append(0.0)
    if p <= 0:
        ys += [-2.5, -1e3]
    return ys


def _rates(name: str, params: dict[str, Any]) -> list[float]:
    """The k of every e^(k z) the loss contains."""
    if name == "exponential":
        return [1.0]
    p = _power(name, params)
    assert p is not None
    return sorted({abs(k) for k in (2.0 - p, 1.0 - p, 1.0) if k != 0})


# ------------------------------------------------------------------ exact reference
mp = mpmath.mp
mp.dps = 50


def _exact(name: str, params: dict[str, Any], y: float, z: Any, order: int = 0) -> tuple[Any, ...]:
    """(value, gradient, Hessian, third derivative) in mpmath, from the definitions
    (scikit-learn's dispatch at Tweedie power 0, 1, 2); ``z`` may be an mpf."""
    yy, zz = mp.mpf(y), mp.mpf(z)
    if name == "exponential":
        a, b = yy * mp.exp(-zz), (1 - yy) * mp.exp(zz)
        return a + b, b - a, a + b, b - a
    p = _power(name, params)
    if p == 1:
        e = mp.exp(zz)
        return e - yy * zz, e - yy, e, e
    if p == 2:
        t = yy * mp.exp(-zz)
        return zz + t, 1 - t, t, -t
    if p == 0:
        e = mp.exp(zz)
        d = e - yy
        return d * d / 2, e * d, e * (2 * e - yy), 4 * e * e - yy * e
    k2, k1 = 2 - mp.mpf(p), 1 - mp.mpf(p)
    e2, e1 = mp.exp(k2 * zz), mp.exp(k1 * zz)
    return (
        e2 / k2 - yy * e1 / k1,
        e2 - yy * e1,
        k2 * e2 - k1 * yy * e1,
        k2 * k2 * e2 - k1 * k1 * yy * e1,
    )


def _round(x: Any, fmax: float) -> float:
    """An mpf rounded to the format whose largest finite number is ``fmax`` (inf beyond)."""
    if abs(x) > fmax * (1 + 2.0**-54):  # beyond max + half an ulp: overflow
        return math.copysign(math.inf, float(mp.sign(x)))
    return float(x)


def _reference(name: str, params: dict[str, Any], y: float, z: float, unit: float) -> list[Any]:
    """(exact output, conditioning tolerance) for value, gradient and Hessian.

    The tolerance is |d output / dz| times ``unit * max(1, |z|)``: the change of the output when
    z moves by a few rounding errors of |z|-sized intermediates (golden README, f64_atol).
    """
    out = _exact(name, params, y, z)
    step = unit * max(1.0, abs(z))
    return [(out[k], abs(out[k + 1]) * step) for k in range(3)]


def _agrees(got: float, exact: Any, cond: Any, rtol: float, fmax: float, tiny: float) -> bool:
    """|got - exact| <= rtol |exact| + max(cond, tiny); got = +-inf exactly where the exact
    value overflows the format (either is right where the tolerance straddles the edge)."""
    tol = rtol * abs(exact) + cond
    edge = mp.mpf(fmax) * (1 + mp.mpf(2) ** -54)  # beyond max + half an ulp: rounds to inf
    if math.isinf(got):
        return bool(abs(exact) + tol > edge) and got * float(mp.sign(exact)) > 0
    if math.isnan(got) or abs(exact) - tol > edge:
        return False
    return bool(abs(mp.mpf(got) - exact) <= max(tol, mp.mpf(tiny)))


# ------------------------------------------------------------------ overflow edges
def _edge_points(name: str, params: dict[str, Any], edge: float) -> tuple[np.ndarray, np.ndarray]:
    """(y, z) pairs on both sides of every overflow edge ``k z = edge - log|c|`` for each rate
    k and coefficient c in {1, y, 1/k}, plus moderate z."""
    ys, zs = [], []
    for y in _targets(name, params):
        logs = [0.0] + ([math.log(abs(y))] if y != 0 else [])
        for k in _rates(name, params):
            for lg in logs:
                for lk in (0.0, math.log(k)):
                    for delta in (-2.0, -0.4, -0.01, 0.0, 0.01, 0.3, 1.0, 3.0, 40.0):
                        for s in (1.0, -1.0):
                            ys.append(y)
                            zs.append(s * (edge - lg + lk + delta) / k)
        for z in (0.0, 1e-9, -0.6, 0.9999, -1.0, 2.0, -7.5, 30.0, -30.0):
            ys.append(y)
            zs.append(z)
    return np.array(ys), np.array(zs)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=IDS)
def test_exact_at_overflow_edges_float64(name: str, params: dict[str, Any], path: str) -> None:
    """Within 1e-13 (plus the conditioning) of the exact result, finite wherever it is."""
    loss = losslab.get_loss(name, **params)
    y, z = _edge_points(name, params, 709.782712893384)
    with code_path(path):
        got = loss.loss_gradient_hessian(y, z)
    problems = []
    for i in range(y.size):
        ref = _reference(name, params, float(y[i]), float(z[i]), 2.0**-51)
        for k, (r, cond) in enumerate(ref):
            g = float(got[k][i])
            if not _agrees(g, r, 2 * cond, 1e-13, F64_MAX, TINY64):
                label = ("value", "grad", "hess")[k]
                problems.append(f"{label} y={y[i]!r} z={z[i]!r}: {g!r} vs {mp.nstr(r, 17)}")
    fail_if_any(problems, f"{name}{params} outputs off the exact values ({path} path)")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=IDS)
def test_exact_at_overflow_edges_float32(name: str, params: dict[str, Any], path: str) -> None:
    """float32 in, float32 out: finite wherever the exact result fits in float32, within 4e-6
    relative plus the conditioning of a float32 input (the generic path computes in float32)."""
    loss = losslab.get_loss(name, **params)
    y64, z64 = _edge_points(name, params, 88.72283905206835)
    y, z = y64.astype(np.float32), z64.astype(np.float32)
    keep = np.isfinite(y) & np.isfinite(z)
    y, z = y[keep], z[keep]
    with code_path(path):
        got = loss.loss_gradient_hessian(y, z)
    assert all(g.dtype == np.float32 for g in got)
    problems = []
    for i in range(y.size):
        ref = _reference(name, params, float(y[i]), float(z[i]), 2.0**-21)
        for k, (r, cond) in enumerate(ref):
            g = float(got[k][i])
            if not _agrees(g, r, 2 * cond, 4e-6, F32_MAX, TINY32):
                label = ("value", "grad", "hess")[k]
                problems.append(f"{label} y={y[i]!r} z={z[i]!r}: {g!r} vs {mp.nstr(r, 9)}")
    fail_if_any(problems, f"{name}{params} float32 outputs off the exact values ({path} path)")


def _near_zero_of_gradient(name: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(y, z) with |z| < 1 around the zero of the gradient, where e^z meets y (log link) or
    e^(2z) meets y / (1 - y) (exponential), and tiny z down to the smallest subnormal."""
    if name == "exponential":
        ys = [0.5, 0.5 + 2.0**-30, 0.5 - 2.0**-40, 0.5 + 1e-5]
        opt = [0.25 * math.log(y / (1 - y)) * 2 for y in ys]
    else:
        ys = [1.0, 1.0 + 2.0**-30, 1.0 - 2.0**-40, 1.0 + 1e-5, 1.0 - 1e-3]
        opt = [math.log(y) for y in ys]
    out_y, out_z = [], []
    for y, o in zip(ys, opt, strict=True):
        for z in (o, o * (1 + 1e-9), o * (1 - 1e-6), o + 1e-12, 1e-12, -1e-12, 1e-300, 5e-324):
            out_y.append(y)
            out_z.append(z)
    return np.array(out_y), np.array(out_z)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=IDS)
def test_gradient_exact_near_its_zero(name: str, params: dict[str, Any], path: str) -> None:
    """Near the minimiser the gradient is as accurate as its conditioning in z itself allows
    (a perturbation of a few ulps of |z|, not of max(1, |z|)): the expm1 forms, where
    ``e^z - y`` computed from a rounded ``e^z`` would be off by 1e-16 absolute."""
    loss = losslab.get_loss(name, **params)
    y, z = _near_zero_of_gradient(name, params)
    with code_path(path):
        g = loss.gradient(y, z)
    problems = []
    for i in range(y.size):
        with mp.workdps(420):  # e^z - y at z = 5e-324 needs 330 digits more than 1 - y
            out = _exact(name, params, float(y[i]), float(z[i]))
        cond = abs(out[2]) * abs(mp.mpf(float(z[i]))) * 2.0**-50
        if not _agrees(float(g[i]), out[1], cond, 1e-13, F64_MAX, 1e-320):
            problems.append(f"y={y[i]!r} z={z[i]!r}: {g[i]!r} vs {mp.nstr(out[1], 17)}")
    fail_if_any(problems, f"{name}{params} gradients off near their zero ({path} path)")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=IDS)
def test_infinite_raw_prediction_gives_the_limit(
    name: str, params: dict[str, Any], path: str
) -> None:
    """z = +-inf: the limit of each output (the exact value at |z| = 1e400, rounded), never NaN.

    For example half_poisson at y = 0, z = -inf is 0 (no 0 * inf), half_gamma at z = +inf has
    gradient 1, Tweedie p = 3 at z = -inf is +inf (no inf - inf), exponential at y = 1,
    z = +inf is 0.
    """
    loss = losslab.get_loss(name, **params)
    ys = np.array(_targets(name, params) * 2)
    zs = np.array([math.inf] * (ys.size // 2) + [-math.inf] * (ys.size // 2))
    with code_path(path):
        got = loss.loss_gradient_hessian(ys, zs)
    problems = []
    for i in range(ys.size):
        ref = _exact(name, params, float(ys[i]), mp.mpf("1e400") * int(np.sign(zs[i])))
        for k in range(3):
            want = _round(ref[k], F64_MAX)
            if want != 0 and abs(want) < 1e-300:
                want = 0.0
            if float(got[k][i]) != want:
                problems.append(
                    f"output {k} y={ys[i]!r} z={zs[i]!r}: {got[k][i]!r}, limit {want!r}"
                )
    fail_if_any(problems, f"{name}{params} outputs at infinite z that are not the limit")


# ------------------------------------------------------------------ scikit-learn side by side
def _sklearn(name: str, params: dict[str, Any]) -> Any:
    if name == "half_poisson":
        return sk_loss.HalfPoissonLoss()
    if name == "half_gamma":
        return sk_loss.HalfGammaLoss()
    if name == "half_tweedie":
        return sk_loss.HalfTweedieLoss(power=params["power"])
    return sk_loss.ExponentialLoss()


def _sample(name: str, params: dict[str, Any], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets in the domain (with the bound where it is allowed) and z in [-20, 20]."""
    rng = np.random.default_rng(seed)
    z = np.clip(rng.normal(0.0, 4.0, n), -20.0, 20.0)
    if name == "exponential":
        y = rng.uniform(0.0, 1.0, n)
        y[: n // 4] = rng.integers(0, 2, n // 4)
        return y, z
    p = _power(name, params)
    assert p is not None
    y = rng.gamma(1.5, 2.0, n)
    if p < 2:
        y[: n // 5] = 0.0
    if p <= 0:
        y[n // 5 : n // 3] *= -1.0
    return y, z


def _term_scale(name: str, params: dict[str, Any], y: np.ndarray, z: np.ndarray) -> list[Any]:
    """Per output, the sum of the absolute values of its terms (what the rounding scales with)."""
    if name == "exponential":
        s = y * np.exp(-z) + (1 - y) * np.exp(z)
        return [s, s, s]
    p = _power(name, params)
    ez = np.exp(z)
    if p == 1:
        return [ez + np.abs(y * z), ez + y, ez]
    if p == 2:
        t = y * np.exp(-z)
        return [np.abs(z) + t, 1.0 + t, t]
    if p == 0:
        a = ez + np.abs(y)
        return [0.5 * a * a, ez * a, ez * (2 * ez + np.abs(y))]
    assert p is not None
    k2, k1 = 2.0 - p, 1.0 - p
    e2, ye1 = np.exp(k2 * z), np.abs(y) * np.exp(k1 * z)
    return [e2 / abs(k2) + ye1 / abs(k1), e2 + ye1, abs(k2) * e2 + abs(k1) * ye1]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=IDS)
def test_matches_sklearn(name: str, params: dict[str, Any], path: str) -> None:
    """Value, gradient and Hessian equal scikit-learn's to 1e-13 of the magnitude of their terms
    (scikit-learn evaluates the textbook forms; both are exact to a few ulps of the terms)."""
    loss = losslab.get_loss(name, **params)
    sk = _sklearn(name, params)
    y, z = _sample(name, params, 2000, seed=3)
    with code_path(path):
        v, g, h = loss.loss_gradient_hessian(y, z)
    sv = sk.loss(y, z)
    sg, sh = sk.gradient_hessian(y, z)
    for label, a, b, s in zip(
        ("value", "grad", "hess"),
        (v, g, h),
        (sv, sg, sh),
        _term_scale(name, params, y, z),
        strict=True,
    ):
        err = np.abs(a - b)
        bad = ~(err <= 1e-13 * s)
        assert not bad.any(), (label, y[bad][:3], z[bad][:3], a[bad][:3], b[bad][:3])


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=IDS)
def test_fit_intercept_only_matches_sklearn(
    name: str, params: dict[str, Any], weighted: bool
) -> None:
    """The closed forms log(mean) and logit(mean) / 2, the mean clipped at 10 eps as there."""
    loss = losslab.get_loss(name, **params)
    sk = _sklearn(name, params)
    y, _ = _sample(name, params, 500, seed=5)
    if _power(name, params) is not None and _power(name, params) <= 0:  # type: ignore[operator]
        y = np.abs(y)  # sklearn clips a negative mean like a zero one; keep the mean positive
    w = np.random.default_rng(6).uniform(0.0, 3.0, y.size) if weighted else None
    ours = loss.fit_intercept_only(y, sample_weight=w)
    theirs = float(sk.fit_intercept_only(y, sample_weight=w))
    assert isinstance(ours, float)
    assert ours == pytest.approx(theirs, rel=1e-13, abs=1e-15)
    # the closed form zeroes the weighted summed gradient
    g = loss.gradient(y, np.full(y.size, ours), sample_weight=w)
    assert abs(g.sum()) <= 1e-11 * np.abs(g).sum()
    # all-zero (or all-one, exponential) targets: clipped like scikit-learn, finite
    if name == "exponential":
        for c in (0.0, 1.0):
            yc = np.full(10, c)
            assert loss.fit_intercept_only(yc) == pytest.approx(
                float(sk.fit_intercept_only(yc)), rel=1e-12
            )
    elif _power(name, params) < 2:  # type: ignore[operator]
        yc = np.zeros(10)
        assert loss.fit_intercept_only(yc) == float(sk.fit_intercept_only(yc))
        assert loss.fit_intercept_only(yc) == math.log(10 * EPS64)


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=IDS)
def test_dropped_constant_is_sklearns(name: str, params: dict[str, Any]) -> None:
    """loss + scikit-learn's ``constant_to_optimal_zero`` is 0 at the optimum z = link(y):
    the constant the docstrings say is dropped is the one scikit-learn drops."""
    loss = losslab.get_loss(name, **params)
    sk = _sklearn(name, params)
    y, _ = _sample(name, params, 400, seed=7)
    y = np.clip(y, 0.001, 1 - 0.001) if name == "exponential" else np.abs(y) + 0.01
    z = np.asarray(loss.link.link(y))
    total = loss.loss(y, z) + sk.constant_to_optimal_zero(y)
    scale = np.abs(loss.loss(y, z)) + np.abs(sk.constant_to_optimal_zero(y))
    assert np.all(np.abs(total) <= 1e-13 * scale + 1e-15), total[np.argmax(np.abs(total))]


def test_links_match_sklearn() -> None:
    z = np.linspace(-30.0, 30.0, 241)
    log_link = losslab.get_loss("half_poisson").link
    assert log_link.name == "log"
    np.testing.assert_array_equal(log_link.inverse(z), sk_link.LogLink().inverse(z))
    mu = np.exp(z)
    np.testing.assert_array_equal(log_link.link(mu), sk_link.LogLink().link(mu))
    half = losslab.get_loss("exponential").link
    assert half.name == "half_logit"
    np.testing.assert_allclose(half.inverse(z), sk_link.HalfLogitLink().inverse(z), rtol=4 * EPS64)
    proba = sk_loss.ExponentialLoss().predict_proba(z)[:, 1]
    np.testing.assert_allclose(half.inverse(z), proba, rtol=4 * EPS64)
    p = np.linspace(0.01, 0.99, 99)
    np.testing.assert_allclose(half.link(p), sk_link.HalfLogitLink().link(p), rtol=1e-13)
    assert half.inverse(np.array([-1e308, 1e308])).tolist() == [0.0, 1.0]  # 2z overflows


# ------------------------------------------------------------------ kernels vs generic
def _ulps(got: np.ndarray, ref: np.ndarray, scale: np.ndarray, eps: float) -> np.ndarray:
    """|got - ref| in units of eps * max(|ref|, scale); equal values (infinities) count 0."""
    with np.errstate(all="ignore"):
        mag = np.maximum(np.abs(ref), scale).astype(np.float64)
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        d = diff / (eps * mag)
    tiny = float(np.finfo(got.dtype).smallest_normal)  # subnormal differences carry no precision
    d = np.where((got == ref) | (diff <= tiny), 0.0, d)
    return np.where(np.isnan(d) & ~(np.isnan(got) & np.isnan(ref)), np.inf, np.nan_to_num(d))


def _wide(name: str, params: dict[str, Any], n: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Targets in the domain and z from 0.01 to 300 in scale (40 in float32): every zone."""
    rng = np.random.default_rng(11)
    y, _ = _sample(name, params, n, seed=12)
    top = 300.0 if dtype == np.float64 else 40.0
    z = rng.normal(0.0, 1.0, n) * rng.choice([0.01, 0.5, 3.0, 30.0, top], n)
    return y.astype(dtype), z.astype(dtype)


# Measured worst case 5.8 ulps of the term magnitude (200 000 random points, Tweedie p = 0
# value; 2.7 for Poisson, 3.9 for Tweedie p = 1.5): each side's exponential is faithful and
# squared from a half exponential, and the expm1 forms differ (series here, libm there).
KERNEL_ULPS = 12.0


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=IDS)
def test_kernel_agrees_with_generic_path(name: str, params: dict[str, Any]) -> None:
    """float64: within KERNEL_ULPS of the magnitude of the terms (both sides use faithful
    exponentials of their own); float32: the float64 generic result rounded, within one float32
    ulp of that magnitude."""
    loss = losslab.get_loss(name, **params)
    for dtype, eps, bound in ((np.float64, EPS64, KERNEL_ULPS), (np.float32, EPS32, 1.0)):
        y, z = _wide(name, params, 30_000, dtype)
        with code_path("kernels"):
            got = loss.loss_gradient_hessian(y, z)
        with code_path("generic"):
            ref = loss.loss_gradient_hessian(y.astype(np.float64), z.astype(np.float64))
        with np.errstate(all="ignore"):  # 0 * inf where y = 0: no scale needed there
            scales = _term_scale(name, params, y.astype(np.float64), z.astype(np.float64))
            if dtype == np.float32:
                ref = tuple(r.astype(np.float32) for r in ref)
        for label, a, b, s in zip(("value", "grad", "hess"), got, ref, scales, strict=True):
            assert a.dtype == dtype
            d = _ulps(a, b, np.nan_to_num(s, nan=0.0, posinf=0.0), eps)
            i = int(np.argmax(d))
            assert d[i] <= bound, (label, str(dtype), d[i], y[i], z[i], a[i], b[i])


# ------------------------------------------------------------------ metadata and dispatch
@pytest.mark.parametrize("power", [-1.0, 0.0, 0.5, 0.99, 1.0, 1.2, 1.5, 1.99, 2.0, 2.5, 3.0])
def test_tweedie_convexity_and_hessian_sign(power: float) -> None:
    """Convex with a positive Hessian exactly for 1 <= p <= 2; otherwise negative somewhere."""
    loss = losslab.get_loss("half_tweedie", power=power)
    assert loss.convex == (1.0 <= power <= 2.0)
    y = np.repeat(np.array([0.3, 1.0, 2.5]), 121)
    z = np.tile(np.linspace(-30.0, 30.0, 121), 3)
    h = loss.hessian(y, z)
    if loss.convex:
        assert loss.hessian_sign == "positive"
        assert np.all(h > 0)
        assert loss.hessian_policies[0].name == "exact"
    else:
        assert loss.hessian_sign == "indefinite"
        assert np.any(h < 0)
        assert loss.hessian_policies[0].name != "exact"


def test_metadata() -> None:
    for name in ("half_poisson", "half_gamma", "half_tweedie"):
        loss = losslab.get_loss(name)
        assert loss.kind == "regression"
        assert type(loss.link).__name__ == "LogLink"
        assert loss.convex
        assert loss.differentiable
        assert not loss.constant_hessian
    exp_loss = losslab.get_loss("exponential")
    assert exp_loss.kind == "binary"
    assert type(exp_loss.link).__name__ == "HalfLogitLink"
    assert exp_loss.convex
    assert exp_loss.hessian_sign == "positive"
    names = [p.name for p in exp_loss.hessian_policies]
    assert names[0] == "exact"
    assert "gauss_newton" not in names  # the Gauss-Newton formula assumes sigmoid(z)
    assert losslab.get_loss("half_tweedie").power == 1.5
    with pytest.raises(ValueError, match="power"):
        losslab.get_loss("half_tweedie", power=math.inf)
    assert losslab.get_loss("half_tweedie", power=3.0).target_domain.describe() == "y > 0"
    assert losslab.get_loss("half_tweedie", power=0.0).target_domain.describe() == "finite y"
    assert exp_loss.target_domain.describe() == "0 <= y <= 1"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("power", "other"), [(1.0, "half_poisson"), (2.0, "half_gamma")])
def test_tweedie_dispatch_at_one_and_two(power: float, other: str, path: str) -> None:
    """Power 1 and 2 are exactly half Poisson and half Gamma (scikit-learn's dispatch)."""
    y, z = _sample(other, {}, 500, seed=9)
    y = np.abs(y) + 0.5
    with code_path(path):
        a = losslab.get_loss("half_tweedie", power=power).loss_gradient_hessian(y, z)
        b = losslab.get_loss(other).loss_gradient_hessian(y, z)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


DOMAIN_ERRORS: list[tuple[str, dict[str, Any], float, str]] = [
    ("half_poisson", {}, -1e-300, r"y_true must be finite and >= 0"),
    ("half_poisson", {}, math.inf, r"y_true must be finite and >= 0"),
    ("half_gamma", {}, 0.0, r"y_true must be finite and > 0"),
    ("half_gamma", {}, -2.0, r"y_true must be finite and > 0"),
    ("half_tweedie", {"power": 1.5}, -0.5, r"y_true must be finite and >= 0"),
    ("half_tweedie", {"power": 0.5}, -0.5, r"y_true must be finite and >= 0"),
    ("half_tweedie", {"power": 3.0}, 0.0, r"y_true must be finite and > 0"),
    ("half_tweedie", {"power": 2.0}, 0.0, r"y_true must be finite and > 0"),
    ("half_tweedie", {"power": 0.0}, -math.inf, r"y_true must be finite \("),
    ("exponential", {}, 1.5, r"y_true must lie in \[0, 1\]"),
    ("exponential", {}, -0.1, r"y_true must lie in \[0, 1\]"),
]


@pytest.mark.parametrize(("name", "params", "bad", "match"), DOMAIN_ERRORS)
def test_targets_outside_the_domain_raise(
    name: str, params: dict[str, Any], bad: float, match: str
) -> None:
    loss = losslab.get_loss(name, **params)
    y = np.array([0.5, 1.0, bad, 0.25])
    z = np.zeros(4)
    for call in (
        lambda: loss.loss(y, z),
        lambda: loss.gradient_hessian(y, z),
        lambda: loss(y, z),
        lambda: loss.fit_intercept_only(y),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    # a NaN target is no error: it propagates to its own element
    y_nan = np.array([0.5, 1.0, math.nan, 0.25])
    v = loss.loss(y_nan, z)
    assert np.isnan(v[2])
    assert np.all(np.isfinite(np.delete(v, 2)))
    # validate=False skips the check
    if math.isfinite(bad):
        assert loss.loss(y, z, validate=False).shape == (4,)


@pytest.mark.parametrize(
    ("name", "params", "good"),
    [
        ("half_poisson", {}, [0.0, 3.0]),
        ("half_tweedie", {"power": 1.5}, [0.0, 3.0]),
        ("half_tweedie", {"power": 0.0}, [-3.0, 3.0]),
        ("half_tweedie", {"power": -1.0}, [-3.0, 0.0]),
        ("half_gamma", {}, [1e-300, 3.0]),
        ("exponential", {}, [0.0, 1.0]),
    ],
)
def test_targets_on_the_bound_are_accepted(
    name: str, params: dict[str, Any], good: list[float]
) -> None:
    v = losslab.get_loss(name, **params).loss(np.array(good), np.zeros(2))
    assert np.all(np.isfinite(v))


# ------------------------------------------------------------------ golden coverage
GOLDEN_FAMILIES = ("half_poisson", "half_gamma", "half_tweedie", "exponential")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("family", GOLDEN_FAMILIES)
def test_golden_on_both_paths(family: str, path: str) -> None:
    """Every golden case within 1e-13 plus its f64_atol, on the generic path and through the
    fused kernels (``test_golden.py``'s default path leaves these small inputs to the generic
    one). No floating-point warning is allowed, not even where the result overflows."""
    doc = json.loads((GOLDEN_DIR / f"{family}.json").read_text())
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in doc["cases"]:
        groups.setdefault(json.dumps(c["params"], sort_keys=True), []).append(c)
    problems: list[Any] = []
    for cases in groups.values():
        loss = losslab.get_loss(family, **cases[0]["params"])
        y = np.array([c["y"] for c in cases])
        z = np.array([c["z"] for c in cases])
        with code_path(path):
            got = loss.loss_gradient_hessian(y, z)
        ids = [c["id"] for c in cases]
        for k, qty in enumerate(("value", "grad", "hess")):
            ref = np.array([float(c[qty]) for c in cases])
            atol = np.array([float(c.get("f64_atol", {}).get(qty, 0.0)) for c in cases])
            problems += compare(ids, qty, got[k], ref, atol=atol)
    fail_if_any(problems, f"{family} outputs off the golden values ({path} path)")


def test_golden_files_reach_every_branch() -> None:
    """The copied golden files cover both zones (|z| < 1 and beyond) of every loss, the
    overflowing cases and every Tweedie power of the README's grid."""
    seen: dict[str, set[str]] = {}
    for fam in GOLDEN_FAMILIES:
        doc = json.loads((GOLDEN_DIR / f"{fam}.json").read_text())
        assert doc["n_cases"] == len(doc["cases"])
        assert doc["dropped"] == []
        for c in doc["cases"]:
            tags = seen.setdefault(f"{fam}{json.dumps(c['params'])}", set())
            tags.add("small" if abs(c["z"]) < 1 else "large")
            tags.update(c["tags"])
    for key, tags in seen.items():
        assert {"small", "large", "random"} <= tags, key
    hard = {
        json.loads(k[len("half_tweedie") :])["power"]
        for k, t in seen.items()
        if "tweedie" in k and "hard" in t
    }
    assert hard == {0.5, 1.5, 3.0}  # the README's grid; 1.2 and 2.5 are random cases only
    assert any("nonfinite" in t for t in seen.values())
