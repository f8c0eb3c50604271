"""The fused NumPy kernels (``losslab._kernels``) against the golden data and the generic path.

* Golden: every float64 golden case of every element-wise loss, through the kernels (size
  threshold lowered to 0), under the golden README's rule (rel 1e-13, exact infinities,
  ``extreme`` cases skipped, no Hessian at kinks).
* Generic path: for every element-wise loss, hyperparameter set and dtype (and every method on
  one loss per kernel family), the kernels agree with ``config_context(use_kernels=False)`` to
  a bounded number of ulps, measured in units of the *condition-scaled magnitude*
  ``max(|ref|, scale)`` where ``scale`` is the sum of the absolute values of the terms that
  cancel (``_scales``). Away from cancellation that is
  the plain ulp distance. Bounds (float64), from the error analysis in ``_impl.py``:

  - regression (squared, absolute, huber, pinball): 0 ulp, the same IEEE operations;
  - log_loss, focal_star: both sides use faithful (< 1 ulp) exp/log1p of their own and round
    3-5 times, about 3 ulp each way; bound 6 ulp (measured maximum over 400 000 random
    points: 4);
  - log_cosh: the value ``log1p(2 sinh(r/2)^2)`` doubles the error of ``sinh``, about 4 ulp
    each way; bound 8 (measured: 6);
  - pseudo_huber: ``(1/h)^3`` triples the error of ``1/h`` (about 1.5 ulp) and rounds twice,
    about 4.5 ulp on each side (at one point 4.4 and 4.6 ulp from the truth, opposite signs);
    bound 12 (measured: 9);
  - focal: ``q^gamma l`` multiplies the relative error of ``exp(-|x_t|)`` by about
    ``2 gamma + 1`` on both sides (``q^gamma`` via ``pow`` generically, ``q * q`` here);
    bound ``6 gamma + 8`` ulp (measured: 10 at gamma 2, 17 at gamma 4, 13 at gamma 5).

  float32: the kernels compute in float64 and round once, so they must agree with the generic
  path run in float64 on the same float32 inputs, rounded to float32, within 1 float32 ulp;
  focal_f32 computes in float32 (its bound is focal's, in float32 ulps, and the generic
  path's float32 error plus 1 ulp), and its ``exp``/``log1p`` are checked on their own.
* Layout: strided, Fortran-ordered, read-only, 0-d and 2-D inputs, sample weights; NaN
  stays in its element; finite results at |z| = 1e300 (float64) and 1e4 (float32).
* Switches: ``use_kernels=False``, ``kernel_min_size``, ``kernel_threads``; ``import losslab``
  does not import numba; concurrent calls from two threads.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import losslab
from losslab import config_context, get_config

pytest.importorskip("numba")

from losslab._kernels import _variant
from losslab._kernels import try_fused as _try_fused

GOLDEN = Path(__file__).parent / "data" / "golden"
RTOL = 1e-13
TINY = 2.2250738585072014e-308
ALL: tuple[bool, bool, bool] = (True, True, True)
NEEDS = {
    "loss": (True, False, False),
    "gradient": (False, True, False),
    "hessian": (False, False, True),
    "loss_gradient": (True, True, False),
    "gradient_hessian": (False, True, True),
    "loss_gradient_hessian": ALL,
}

# Every registered loss that declares a kernel, with its defaults and declared examples, plus
# hyperparameters that reach branches of the compiled kernels the defaults do not (integer
# gammas, which focal computes as products, and other zones of the regression kernels).
KERNEL_LOSSES = [name for name, cls in losslab.LOSSES.items() if cls.kernel is not None]
_BRANCHES: list[tuple[str, dict[str, Any]]] = [
    ("focal", {"gamma": 2.0, "alpha": 0.25}),
    ("focal", {"gamma": 1.0, "alpha": 0.75}),
    ("focal", {"gamma": 5.0, "alpha": 0.25}),
    ("focal", {"gamma": 3.0, "alpha": 0.5}),
    ("focal", {"gamma": 4.0, "alpha": None}),
    ("focal_star", {"gamma": 2.0, "beta": 1.0}),
    ("focal_star", {"gamma": 0.5, "beta": -3.0}),
    ("huber", {"delta": 0.7}),
    ("pseudo_huber", {"delta": 0.7}),
    ("pinball", {"quantile": 0.3}),
    ("quality_focal", {"beta": 1.5}),
    ("poly1_focal", {"gamma": 3.0, "alpha": 0.25, "epsilon": -0.5}),
    ("poly1_focal", {"gamma": 2.5, "alpha": 0.75, "epsilon": 2.0}),
    ("asymmetric", {"gamma_pos": 0.5, "gamma_neg": 2.5, "clip": 0.1}),
    ("asymmetric", {"gamma_pos": 2.0, "gamma_neg": 0.0, "clip": 0.05}),
    ("asymmetric", {"gamma_pos": 0.0, "gamma_neg": 1.0, "clip": 0.2}),
]


def _kernel_configs() -> list[tuple[str, dict[str, Any]]]:
    configs: list[tuple[str, dict[str, Any]]] = []
    for name in KERNEL_LOSSES:
        cls = losslab.LOSSES[name]
        configs += [(name, {}), *((name, dict(e)) for e in cls.examples)]
    configs += [b for b in _BRANCHES if b[0] in KERNEL_LOSSES]
    unique = {json.dumps([n, p], sort_keys=True): (n, p) for n, p in configs}
    return list(unique.values())


CONFIGS = _kernel_configs()
BINARY = {name for name, cls in losslab.LOSSES.items() if cls.kind == "binary"}


def try_fused(loss: Any, y: Any, z: Any, w: Any, need: tuple[bool, bool, bool]) -> Any:
    """The loss's declared kernel through the dispatcher (None: none declared or applies)."""
    if loss.kernel is None:
        return None
    return _try_fused(loss.kernel, loss._kernel_args(), y, z, w, need)


@pytest.fixture(autouse=True)
def _kernels_on_small_inputs() -> Any:
    with config_context(use_kernels=True, kernel_min_size=0):
        yield


def _ids(configs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [f"{n}{json.dumps(p, sort_keys=True)}" for n, p in configs]


def _fused(loss: Any, y: Any, z: Any, w: Any = None, need: tuple[bool, bool, bool] = ALL) -> Any:
    out = try_fused(loss, y, z, w, need)
    assert out is not None, f"no kernel ran for {loss.name}"
    return out


def _generic(loss: Any, y: Any, z: Any, w: Any = None) -> Any:
    with config_context(use_kernels=False):
        return loss.loss_gradient_hessian(y, z, sample_weight=w)


# --------------------------------------------------------------------------- golden

_GOLDEN_FILES = {
    "sigmoid_bce": ("sigmoid_bce.json", "log_loss"),
    "sigmoid_focal": ("sigmoid_focal.json", "focal"),
    "squared_half": ("squared.json", "half_squared_error"),
    "squared": ("squared.json", "squared_error"),
    "absolute": ("absolute.json", "absolute_error"),
    "huber": ("huber.json", "huber"),
    "pseudo_huber": ("pseudo_huber.json", "pseudo_huber"),
    "log_cosh": ("log_cosh.json", "log_cosh"),
    "quantile": ("quantile.json", "pinball"),
}


def _golden_groups() -> list[Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for golden_name, (fname, _) in _GOLDEN_FILES.items():
        path = GOLDEN / fname
        if not path.exists():
            continue
        for case in json.loads(path.read_text())["cases"]:
            if case["loss"] != golden_name or "extreme" in case["tags"]:
                continue
            key = f"{golden_name}{json.dumps(case['params'], sort_keys=True)}"
            groups.setdefault(key, []).append(case)
    return [pytest.param(k, v, id=k) for k, v in sorted(groups.items())]


def _make_golden_loss(golden_name: str, params: dict[str, Any]) -> Any:
    name = _GOLDEN_FILES[golden_name][1]
    rename = {"tau": "quantile"}
    return losslab.get_loss(name, **{rename.get(k, k): v for k, v in params.items()})


def _close(got: np.ndarray, ref: np.ndarray, atol: np.ndarray | float) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.abs(got - ref) <= RTOL * np.abs(ref) + np.maximum(atol, TINY)
    return np.where(np.isinf(ref), got == ref, ok) & ~np.isnan(got)


@pytest.mark.parametrize(("key", "cases"), _golden_groups())
def test_golden(key: str, cases: list[dict[str, Any]]) -> None:
    golden_name = cases[0]["loss"]
    loss = _make_golden_loss(golden_name, cases[0]["params"])
    y = np.array([c["y"] for c in cases], dtype=np.float64)
    z = np.array([c["z"] for c in cases], dtype=np.float64)
    with np.errstate(all="ignore"):  # overflow to inf is the expected result of some cases
        v, g, h = _fused(loss, y, z)
    soft = (y > 0) & (y < 1) & (golden_name in ("sigmoid_bce", "sigmoid_focal"))
    problems = []
    for qty, got in (("value", v), ("grad", g), ("hess", h)):
        ref = np.array([math.nan if c[qty] is None else float(c[qty]) for c in cases])
        has_ref = ~np.isnan(ref)
        if qty == "hess":
            has_ref &= np.array(["near_kink" not in c["tags"] for c in cases])
        atol = np.where(soft, 1e-16, 0.0) if qty == "grad" else 0.0
        bad = ~_close(got, ref, atol) & has_ref
        problems += [
            f"{cases[i]['id']} {qty}: got {got[i]!r}, ref {ref[i]!r}" for i in np.nonzero(bad)[0]
        ]
    assert not problems, f"{len(problems)} mismatches in {key}:\n" + "\n".join(problems[:20])


# --------------------------------------------------------------------------- vs generic path


def _inputs(name: str, n: int, dtype: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs that cover every branch: hard and soft labels, large logits, all residual zones."""
    rng = np.random.default_rng(seed)
    if name in BINARY:
        y = (rng.random(n) < 0.3).astype(np.float64)
        soft = rng.random(n) < 0.1
        y[soft] = rng.random(int(soft.sum()))
        scale = rng.choice([0.5, 3.0, 20.0, 300.0 if dtype == np.float64 else 40.0], n)
        z = rng.normal(0.0, 1.0, n) * scale
    else:
        y = rng.normal(0.0, 2.0, n)
        if _exponential_in_z(name):  # targets bounded below: positive ones fit every power
            y = np.abs(y) + 0.1
        z = y + rng.normal(0.0, 1.0, n) * rng.choice([0.01, 0.5, 2.0, 50.0], n)
    return y.astype(dtype), z.astype(dtype)


def _exponential_in_z(name: str) -> bool:
    """Losses whose value grows exponentially in z (log and half-logit links)."""
    return losslab.LOSSES[name].link.name in ("log", "half_logit")


def _sigmoid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.exp(-np.abs(x))
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)
    return np.where(x >= 0, big, small), np.where(x >= 0, small, big)


def _scales(loss: Any, y: np.ndarray, z: np.ndarray) -> list[np.ndarray | None]:
    """Per output, the sum of |terms| of the final sum (None: no cancellation, use |ref|)."""
    with np.errstate(all="ignore"):
        return _scales_unchecked(loss, y.astype(np.float64), z.astype(np.float64))


def _scales_unchecked(loss: Any, y: np.ndarray, z: np.ndarray) -> list[np.ndarray | None]:
    name = loss.name
    if _exponential_in_z(name):
        return _glm_term_scale(loss, y, z)
    if name == "log_loss":
        p, q = _sigmoid(z)
        return [None, (1 - y) * p + y * q, None]
    if name == "focal_star":
        pb, _ = _sigmoid(loss.gamma * z - loss.beta)
        _, qa = _sigmoid(loss.gamma * z + loss.beta)
        return [None, (1 - y) * pb + y * qa, None]
    if name == "poly1":  # sums of |terms|: the gradient and Hessian have zeros inside
        p, q = _sigmoid(z)
        e1, e2 = abs(1 + loss.epsilon), abs(1 - loss.epsilon)
        g = (1 - y) * p * (p + e1 * q) + y * q * (q + e1 * p)
        hs = p * q * (y * (e2 * q + e1 * p) + (1 - y) * (e2 * p + e1 * q))
        sp, spn = np.maximum(z, 0), np.maximum(-z, 0)
        lg = np.log1p(np.exp(-np.abs(z)))
        eps = abs(loss.epsilon)
        v = y * (spn + lg + eps * q) + (1 - y) * (sp + lg + eps * p)  # H cancels for eps < 0
        return [v, g, hs]
    if name == "quality_focal":
        return _quality_focal_scale(loss.beta, y, z)
    if name == "poly1_focal":
        return _poly1_focal_scale(loss, y, z)
    if name == "asymmetric":
        return _asymmetric_scale(loss, y, z)
    if name == "varifocal":  # q > 0: q (p - q); q = 0: the focal terms of a negative
        p, q = _sigmoid(z)
        ell = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        qg = loss.alpha * np.exp(loss.gamma * np.log(np.maximum(p, 1e-300)))
        gamma = loss.gamma
        neg_h = qg * (gamma * q * ell * (gamma * q + p) + (2 * gamma + 1) * p * q)
        return [None, np.where(y > 0, y * ((1 - y) * p + y * q), 0.0), np.where(y > 0, 0.0, neg_h)]
    if name != "focal":
        return [None, None, None]
    gamma = loss.gamma
    hard = (y == 0) | (y == 1)
    xt = np.where(y == 1, z, -z)
    pt, q = _sigmoid(xt)
    ell = np.maximum(-xt, 0) + np.log1p(np.exp(-np.abs(xt)))
    qg = np.exp(gamma * np.log(np.maximum(q, 1e-300)))
    hard_h = qg * (gamma * pt * ell * (gamma * pt + q) + (2 * gamma + 1) * q * pt)
    p, qq = _sigmoid(z)
    m = y * qq + (1 - y) * p
    ce = y * (np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z)))) + (1 - y) * (
        np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
    )
    mg = np.power(m, gamma)
    rho = np.abs(1 - 2 * y) * p * qq / m
    ce1 = (1 - y) * p + y * qq
    soft_g = mg * (ce1 + gamma * rho * ce)
    soft_h = mg * (p * qq + 2 * gamma * rho * ce1 + gamma * rho * ce * (abs(gamma - 1) * rho + 1))
    return [None, np.where(hard, 0.0, soft_g), np.where(hard, hard_h, soft_h)]


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _focal_margin_scale(xt: np.ndarray, gamma: float) -> list[np.ndarray]:
    """|terms| of the focal loss of a positive with margin x_t (alpha 1) and its derivatives."""
    pt, q = _sigmoid(xt)
    ell = _softplus(-xt)
    qg = np.exp(gamma * np.log(np.maximum(q, 1e-300)))
    return [
        qg * ell,
        qg * (gamma * pt * ell + q),
        qg * (gamma * pt * ell * (gamma * pt + q) + (2 * gamma + 1) * q * pt),
    ]


def _quality_focal_scale(beta: float, y: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
    """|terms| of each output, plus its sensitivity to d = p - y times the size of the terms of
    d (p and y, or 1/2 - y and tanh(z/2)/2 for |z| < 1), where d cancels."""
    p, q = _sigmoid(z)
    th = np.tanh(0.5 * z)
    d = np.where(np.abs(z) < 1, (0.5 - y) + 0.5 * th, p - y)
    dd = np.where(np.abs(z) < 1, np.abs(0.5 - y) + 0.5 * np.abs(th), np.maximum(p, np.abs(y)))
    dd = np.where((y == 0) | (y == 1), np.abs(d), dd)
    ad = np.abs(d)
    sa = np.where(ad > 0, ad, 1.0)
    ce = y * _softplus(-z) + (1 - y) * _softplus(z)
    v = p * q
    vce, vm = v * ce, v * np.abs(th)
    b = beta
    t1 = b * sa ** (b - 1) * vm * ce
    t2 = (2 * b + 1) * ad**b * v
    t3 = b * abs(b - 1) * sa ** (b - 2) * v * vce
    d_value = b * sa ** (b - 1) * ce
    d_grad = abs(b - 1) * sa ** (b - 2) * b * vce + (b + 1) * ad**b
    d_hess = (abs(b - 1) * t1 + b * t2 + abs(b - 2) * t3) / sa
    return [
        ad**b * ce + d_value * dd,
        sa ** (b - 1) * (b * vce + d * d) + d_grad * dd,
        t1 + t2 + t3 + d_hess * dd,
    ]


def _poly1_focal_scale(loss: Any, y: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
    """|terms| of Poly-1 focal (the hard-label forms of ``Poly1FocalLoss._hard``, the soft ones
    of ``FocalLoss._soft`` plus eps m^(gamma+1))."""
    gamma, eps = loss.gamma, loss.epsilon
    alpha = 1.0 if loss.alpha is None else loss.alpha
    at = np.where(y == 1, alpha, 1 - alpha) if loss.alpha is not None else np.ones_like(y)
    xt = np.where(y == 1, z, -z)
    pt, q = _sigmoid(xt)
    qg = np.exp(gamma * np.log(np.maximum(q, 1e-300)))
    u = at * _softplus(-xt) + abs(eps) * q
    hard = [
        qg * u,
        qg * (gamma * pt * u + q * (np.abs(at + eps) + abs(eps) * q)),
        qg
        * (
            gamma * pt * u * (gamma * pt + q)
            + pt * q * ((2 * gamma + 1) * np.abs(at + eps) + 2 * (gamma + 1) * abs(eps) * q)
        ),
    ]
    p, qq = _sigmoid(z)
    m = y * qq + (1 - y) * p
    ce = y * _softplus(-z) + (1 - y) * _softplus(z)
    mg = np.power(m, gamma)
    rho = np.abs(1 - 2 * y) * p * qq / m
    ce1 = (1 - y) * p + y * qq
    dm = np.abs(1 - 2 * y) * p * qq
    big_g = gamma + 1
    soft = [
        mg * ce + abs(eps) * mg * m,
        mg * (ce1 + gamma * rho * ce) + abs(eps) * big_g * mg * dm,
        mg * (p * qq + 2 * gamma * rho * ce1 + gamma * rho * ce * (abs(gamma - 1) * rho + 1))
        + abs(eps) * big_g * (gamma * np.power(m, gamma - 1) * dm * dm + mg * dm),
    ]
    is_hard = (y == 0) | (y == 1)
    return [np.where(is_hard, a, b) for a, b in zip(hard, soft, strict=True)]


def _asymmetric_scale(loss: Any, y: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
    """|terms| of ``y P + (1 - y) N``; where clip > 0, plus the sensitivity of N to
    u = p - clip (a central difference in clip) times max(p, clip), where u cancels."""
    pos = _focal_margin_scale(z, loss.gamma_pos)
    gamma, clip = loss.gamma_neg, loss.clip
    if clip == 0:
        neg = _focal_margin_scale(-z, gamma)
    else:
        p, q = _sigmoid(z)
        u = np.where(z > 0, (1 - clip) - q, p - clip)
        act = u > 0
        ua = np.where(act, u, 0.5)
        sc = q + clip
        w = 1 / sc
        ell = -np.log(sc)
        v = p * q
        one_m2p = np.abs(np.tanh(0.5 * z))
        pw = ua**gamma
        pw1 = gamma * ua ** (gamma - 1) * v
        pw2 = gamma * abs(gamma - 1) * ua ** (gamma - 2) * v * v + gamma * ua ** (gamma - 1) * (
            v * one_m2p
        )
        ell1 = v * w
        ell2 = ell1 * w * (q * q + clip * one_m2p)
        terms = [pw * ell, pw1 * ell + pw * ell1, pw2 * ell + 2 * pw1 * ell1 + pw * ell2]
        step = clip * 2.0**-30
        with config_context(use_kernels=False):
            hi = loss.replace(clip=clip + step)._negative(z, ALL, np)
            lo = loss.replace(clip=clip - step)._negative(z, ALL, np)
        cond = [
            np.abs(a - b) / (2 * step) * np.maximum(p, clip) for a, b in zip(hi, lo, strict=True)
        ]
        neg = [np.where(act, t, 0.0) + c for t, c in zip(terms, cond, strict=True)]
    return [y * a + (1 - y) * b for a, b in zip(pos, neg, strict=True)]


def _glm_term_scale(loss: Any, y: np.ndarray, z: np.ndarray) -> list[np.ndarray | None]:
    """Sum of |terms| of each output of the log-link losses and the exponential loss."""
    if loss.name == "exponential":
        s = y * np.exp(-z) + (1 - y) * np.exp(z)
        return [s, s, s]
    p = {"half_poisson": 1.0, "half_gamma": 2.0}.get(loss.name, getattr(loss, "power", None))
    ez = np.exp(z)
    if p == 1:
        return [ez + np.abs(y * z), ez + y, None]
    if p == 2:
        t = y * np.exp(-z)
        return [np.abs(z) + t, 1.0 + t, None]
    if p == 0:
        a = ez + np.abs(y)
        return [0.5 * a * a, ez * a, ez * (2 * ez + np.abs(y))]
    k2, k1 = 2.0 - p, 1.0 - p
    e2, ye1 = np.exp(k2 * z), np.abs(y) * np.exp(k1 * z)
    return [e2 / abs(k2) + ye1 / abs(k1), e2 + ye1, abs(k2) * e2 + abs(k1) * ye1]


def _ulp_distance(got: np.ndarray, ref: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """|got - ref| in ulps of max(|ref|, scale) (ignoring differences below the smallest
    normal number; equal infinities and NaNs count as 0, anything else non-finite as inf)."""
    got = got.astype(np.float64)
    ref = ref.astype(np.float64)
    mag = np.abs(ref) if scale is None else np.maximum(np.abs(ref), np.abs(scale))
    finfo = np.finfo(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        unit = np.maximum(np.spacing(np.where(np.isfinite(mag), mag, 0.0)), finfo.eps * TINY)
        diff = np.abs(got - ref)
        dist = np.where(diff <= TINY, 0.0, diff / unit)
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    dist = np.where(same, 0.0, dist)
    return np.where(np.isfinite(ref) | same, dist, np.inf)


def _bound(name: str, params: dict[str, Any]) -> float:
    if name in ("squared_error", "half_squared_error", "absolute_error", "huber", "pinball"):
        return 0.0
    if name == "pseudo_huber":
        return 12.0
    if _exponential_in_z(name):  # faithful exps squared from half exponentials (measured: 5.8)
        return 12.0
    if name in ("log_cosh", "poly1"):
        return 8.0
    given = losslab.get_loss(name, **params).params
    powers = [given[k] for k in ("gamma", "gamma_pos", "gamma_neg", "beta") if k in given]
    if powers:  # a focusing power: about 2 gamma ulps from q^gamma, plus the rest
        return 6.0 * max(powers) + 8.0
    return 6.0


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=_ids(CONFIGS))
def test_float64_agrees_with_generic_path(name: str, params: dict[str, Any]) -> None:
    loss = losslab.get_loss(name, **params)
    y, z = _inputs(name, 40_000, np.float64)
    got = _fused(loss, y, z)
    ref = _generic(loss, y, z)
    worst = []
    for qty, a, b, s in zip(("value", "grad", "hess"), got, ref, _scales(loss, y, z), strict=True):
        d = _ulp_distance(a, b, s)
        i = int(np.argmax(d))
        worst.append((qty, float(d[i]), float(y[i]), float(z[i]), float(a[i]), float(b[i])))
    bad = [w for w in worst if not w[1] <= _bound(name, params)]
    assert not bad, (
        f"ulp bound {_bound(name, params)} exceeded (qty, ulps, y, z, kernel, generic): {bad}"
    )


# Kernel variants that compute float32 inputs in float32 arithmetic; every other kernel
# widens them to float64 and rounds once.
FLOAT32_ARITHMETIC = {"focal_f32"}


def _float32_arithmetic(loss: Any) -> bool:
    args = loss._kernel_args()
    return _variant(loss.kernel, args, ALL, np.dtype(np.float32)) in FLOAT32_ARITHMETIC


def _f32_ulps(a: np.ndarray, b: np.ndarray, s: np.ndarray | None) -> np.ndarray:
    """|a - b| (b the float64 result, rounded to float32) in float32 ulps of max(|b|, s)."""
    mag = np.abs(b) if s is None else np.maximum(np.abs(b), np.abs(s))
    with np.errstate(invalid="ignore", over="ignore"):
        b32 = b.astype(np.float32)  # overflows to inf where the float64 result exceeds float32
        unit = np.spacing(np.where(np.isfinite(mag), mag, 0.0).astype(np.float32))
        unit = np.maximum(unit, np.finfo(np.float32).smallest_normal).astype(np.float64)
        dist = np.abs(a.astype(np.float64) - b32.astype(np.float64)) / unit
    same = (a == b32) | (np.isnan(a) & np.isnan(b32))
    return np.where(same, 0.0, np.where(np.isnan(dist), np.inf, dist))


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=_ids(CONFIGS))
def test_float32_is_the_rounded_float64_result(name: str, params: dict[str, Any]) -> None:
    """Within 1 float32 ulp of the rounded float64 result, or, for the kernels that compute
    in float32 arithmetic, within the float64 bound in float32 ulps and no farther from it
    than the generic path's float32 arithmetic (plus 1 ulp)."""
    loss = losslab.get_loss(name, **params)
    y, z = _inputs(name, 20_000, np.float32, seed=1)
    got = _fused(loss, y, z)
    ref64 = _generic(loss, y.astype(np.float64), z.astype(np.float64))
    single = _float32_arithmetic(loss)
    generic32 = _generic(loss, y, z) if single else (None, None, None)
    bound = _bound(name, params) if single else 1.0
    for qty, a, b, s, c in zip(
        ("value", "grad", "hess"), got, ref64, _scales(loss, y, z), generic32, strict=True
    ):
        assert a.dtype == np.float32
        dist = _f32_ulps(a, b, s)
        bad = ~(dist <= bound)
        assert not bad.any(), (
            f"{qty}: {int(bad.sum())} elements more than {bound} float32 ulp from the float64 "
            f"result, e.g. y={y[bad][:3]}, z={z[bad][:3]}, got {a[bad][:3]}, want {b[bad][:3]}"
        )
        if c is not None:
            assert dist.max() <= _f32_ulps(c, b, s).max() + 1.0, qty


def _f32_primitive(name: str, x: np.ndarray) -> np.ndarray:
    """The float32 primitive ``name`` of ``_impl`` on each element of ``x``, compiled as
    focal_f32 is (multiply-adds contracted)."""
    import numba

    from losslab._kernels import _impl

    prim = getattr(_impl, name)

    @numba.njit(fastmath={"contract"}, error_model="numpy")
    def apply(a: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
        out = np.empty_like(a)
        for i in range(a.shape[0]):
            out[i] = prim(a[i])
        return out

    return np.asarray(apply(x))


def _ulps32(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in float32 ulps of the rounded reference (subnormal ulps below normal)."""
    unit = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - ref) / unit


def test_float32_primitives_within_their_ulps() -> None:
    """focal_f32's ``exp_neg_32`` and ``log1p_unit_32`` on 2^20 random float32 arguments
    spread over their domains' binades, against float64 ``exp``/``log1p``: within 1.25 and
    1.75 float32 ulp (measured on every float32 argument: 0.89 and 1.24 with fused
    multiply-adds, 1.17 and 1.64 on a CPU without them); exact at the ends of the domains, 0
    below e^-104 and at -inf, NaN for NaN."""
    rng = np.random.default_rng(3)
    lo, hi = np.array([2.0**-30, 104.0], dtype=np.float32).view(np.int32)
    x = -rng.integers(lo, hi, 1 << 20, dtype=np.int32, endpoint=True).view(np.float32)
    assert _ulps32(_f32_primitive("exp_neg_32", x), np.exp(x.astype(np.float64))).max() < 1.25
    lo, hi = np.array([2.0**-40, 1.0], dtype=np.float32).view(np.int32)
    e = rng.integers(lo, hi, 1 << 20, dtype=np.int32, endpoint=True).view(np.float32)
    ref = np.log1p(e.astype(np.float64))
    assert _ulps32(_f32_primitive("log1p_unit_32", e), ref).max() < 1.75
    ends = np.array([0.0, -0.0, -103.0, -104.0, -200.0, -np.inf], dtype=np.float32)
    want = np.exp(ends.astype(np.float64)).astype(np.float32)  # 1, 1, 1.4e-45, 0, 0, 0
    np.testing.assert_array_equal(_f32_primitive("exp_neg_32", ends), want)
    e_ends = np.array([0.0, 1.0, 1e-30], dtype=np.float32)
    want = np.log1p(e_ends.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(_f32_primitive("log1p_unit_32", e_ends), want)
    nan = np.array([np.nan], dtype=np.float32)
    assert np.isnan(_f32_primitive("exp_neg_32", nan)).all()
    assert np.isnan(_f32_primitive("log1p_unit_32", nan)).all()


def test_every_element_wise_loss_has_a_kernel_and_multiclass_none() -> None:
    y = np.zeros(8)
    z = np.zeros(8)
    element_wise = {name for name, cls in losslab.LOSSES.items() if cls.kind != "multiclass"}
    assert element_wise == set(KERNEL_LOSSES)  # the README's claim: every one is fused
    for name in KERNEL_LOSSES:
        assert try_fused(losslab.get_loss(name), y, z, None, ALL) is not None, name
    for name, cls in losslab.LOSSES.items():
        if cls.kind == "multiclass":  # a kernel is element-wise
            assert cls.kernel is None, name
            assert try_fused(cls(), np.zeros(4), np.zeros((4, 3)), None, ALL) is None


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("name", ["focal", "log_cosh"])
def test_strided_fortran_readonly_and_0d_inputs(name: str) -> None:
    loss = losslab.get_loss(name)
    y, z = _inputs(name, 2 * 3 * 5 * 7 * 11, np.float64)
    base = loss.loss_gradient_hessian(y, z)

    def check(yy: np.ndarray, zz: np.ndarray, sel: Any) -> None:
        out = _fused(loss, yy, zz)
        for a, b in zip(out, base, strict=True):
            assert a.shape == zz.shape
            np.testing.assert_array_equal(a, b[sel] if sel is not None else b.reshape(zz.shape))

    check(y[::3], z[::3], slice(None, None, 3))
    c_y, c_z = y.reshape(6, 385), z.reshape(6, 385)
    check(c_y, c_z, None)
    f_y, f_z = np.asfortranarray(c_y), np.asfortranarray(c_z)
    out = _fused(loss, f_y, f_z)
    assert out[0].flags.f_contiguous
    for a, b in zip(out, base, strict=True):
        np.testing.assert_array_equal(a, b.reshape(6, 385))
    ro_y, ro_z = y.copy(), z.copy()
    ro_y.flags.writeable = False
    ro_z.flags.writeable = False
    check(ro_y, ro_z, slice(None))
    zero_d = _fused(loss, np.asarray(y[4]), np.asarray(z[4]))
    assert zero_d[0].shape == ()
    assert [float(a) for a in zero_d] == [float(b[4]) for b in base]


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=_ids(CONFIGS))
def test_nan_stays_in_its_element(name: str, params: dict[str, Any]) -> None:
    loss = losslab.get_loss(name, **params)
    y, z = _inputs(name, 1000, np.float64)
    z[10] = np.nan
    y[20] = np.nan
    out = _fused(loss, y, z)
    ref = _generic(loss, y, z)
    for a, b in zip(out, ref, strict=True):
        assert np.isnan(a[10])  # every output depends on z
        # y may not touch an output (the log-loss Hessian): NaN exactly where the generic has
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        assert not np.isnan(np.delete(a, [10, 20])).any()


# The log-link and exponential losses grow as e^|kz|: their true values at |z| = 1e300 overflow.
# tests/test_glm.py checks them against exact arithmetic at every overflow edge and at +-inf.
BOUNDED_GROWTH = [c for c in CONFIGS if not _exponential_in_z(c[0])]


@pytest.mark.parametrize(("name", "params"), BOUNDED_GROWTH, ids=_ids(BOUNDED_GROWTH))
@pytest.mark.parametrize(("dtype", "big"), [(np.float64, 1e300), (np.float32, 1e4)])
def test_finite_at_extremes(name: str, params: dict[str, Any], dtype: Any, big: float) -> None:
    loss = losslab.get_loss(name, **params)
    z = np.array([-big, -big / 3, big / 3, big, 0.0, -0.0], dtype=dtype)
    if name in BINARY:
        y = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 1.0], dtype=dtype)
    else:
        y = np.array([0.0, 1.0, -1.0, 2.0, 0.0, 0.0], dtype=dtype)
    with np.errstate(over="ignore"):
        out = _fused(loss, y, z)
        ref = _generic(loss, y, z) if dtype == np.float64 else None
    for k, a in enumerate(out):
        squares = name == "squared_error" or (name == "half_squared_error" and k == 0)
        if squares and dtype == np.float64:  # r^2 overflows where the true value exceeds range
            continue
        assert np.isfinite(a).all(), (name, k, a)
        if ref is not None:
            np.testing.assert_allclose(a, ref[k], rtol=1e-13, atol=0)


# --------------------------------------------------------------------------- switches


def test_off_switch_and_threshold() -> None:
    loss = losslab.get_loss("focal")
    y, z = _inputs("focal", 500, np.float64)
    assert try_fused(loss, y, z, None, ALL) is not None
    with config_context(use_kernels=False):
        assert try_fused(loss, y, z, None, ALL) is None
    with config_context(kernel_min_size=501):
        assert try_fused(loss, y, z, None, ALL) is None
    with config_context(kernel_min_size=500):
        assert try_fused(loss, y, z, None, ALL) is not None
    assert get_config()["kernel_min_size"] == 0
    with pytest.raises(ValueError, match="kernel_min_size"):
        losslab.set_config(kernel_min_size=-1)
    with pytest.raises(ValueError, match="kernel_threads"):
        losslab.set_config(kernel_threads=0)


def test_unsupported_inputs_take_the_generic_path() -> None:
    loss = losslab.get_loss("log_loss")
    y, z = _inputs("log_loss", 100, np.float64)
    assert try_fused(loss, y.astype(np.float32), z, None, ALL) is None
    assert try_fused(loss, y, z.astype(">f8"), None, ALL) is None
    assert try_fused(loss, y, z, np.ones(100, dtype=np.float32), ALL) is None
    assert try_fused(loss, y[:50], z, None, ALL) is None

    class Custom(type(loss)):  # type: ignore[misc]
        """A subclass that redefines the math: the inherited kernel no longer applies."""

        def _compute(self, y: Any, z: Any, need: Any, xp: Any) -> Any:
            return super()._compute(y, z, need, xp)

    assert try_fused(Custom(), y, z, None, ALL) is None
    with pytest.raises(ValueError, match="unknown fused kernel"):
        _try_fused("no_such_kernel", (0.0, 0.0), y, z, None, ALL)


def test_kernel_threads_and_concurrent_calls() -> None:
    loss = losslab.get_loss("focal")
    y, z = _inputs("focal", 50_000, np.float64)
    want = _fused(loss, y, z)
    with config_context(kernel_threads=1):
        for a, b in zip(_fused(loss, y, z), want, strict=True):
            np.testing.assert_array_equal(a, b)
    results: list[Any] = [None] * 4
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            with config_context(kernel_min_size=0):
                results[k] = loss.loss_gradient(y, z)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_array_equal(r[0], want[0])
        np.testing.assert_array_equal(r[1], want[1])


def test_import_does_not_import_numba() -> None:
    code = "import sys, losslab, losslab._kernels; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vectorisable_primitives_are_faithful() -> None:
    """exp, log1p, hypot(1, t), sinh, cosh of ``_impl`` within 1 ulp of 40-digit mpmath."""
    mpmath = pytest.importorskip("mpmath")
    from losslab._kernels import _impl

    rng = np.random.default_rng(7)
    mpmath.mp.dps = 40
    cases = [
        (_impl.exp_neg, mpmath.exp, -rng.uniform(0, 745, 300)),
        (_impl.exp_neg, mpmath.exp, -rng.exponential(1.0, 300)),
        (_impl.log1p_unit, mpmath.log1p, rng.random(300)),
        (_impl.log1p_unit, mpmath.log1p, np.exp(-rng.uniform(0, 700, 300))),
        (_impl.hypot1, lambda t: mpmath.sqrt(1 + t * t), rng.random(300)),
        (_impl.sinh_small, mpmath.sinh, rng.uniform(-1, 1, 300)),
        (_impl.cosh_small, mpmath.cosh, rng.uniform(-1, 1, 300)),
    ]
    for fn, exact, xs in cases:
        for x in xs:
            got = fn(float(x))
            ref = exact(mpmath.mpf(float(x)))
            err = abs(mpmath.mpf(got) - ref) / mpmath.mpf(np.spacing(abs(float(ref))))
            assert err < 1, (fn.__name__ if hasattr(fn, "__name__") else fn, x, got, err)
    assert _impl.exp_neg(-np.inf) == 0.0
    assert np.isnan(_impl.exp_neg(np.nan))
    assert np.isnan(_impl.log1p_unit(np.nan))
    assert _impl.exp_neg(-0.0) == 1.0


def test_warmup_compiles_every_kernel() -> None:
    from losslab._kernels import warmup

    timings = warmup([("log_loss", (0.0, 0.0)), ("huber", (1.0, 0.0))], (np.float64,))
    assert set(timings) == {"log_loss/float64", "huber/float64"}
    every = losslab.warmup_kernels((np.float64,))
    assert {f"{losslab.LOSSES[n].kernel}/float64" for n in KERNEL_LOSSES} == set(every)
    assert all(t >= 0 for t in timings.values())
    # Both the parallel kernels and the one-thread twins (with the fixups) are compiled.
    from losslab import _kernels

    for name in ("focal", "log_loss", "half_tweedie"):
        loss = losslab.get_loss(name)
        with config_context(use_kernels=True, kernel_min_size=0):
            plan = _kernels._plan(loss.kernel, loss._kernel_args(), ALL, np.dtype(np.float64), 4)
        assert plan is not None
        compiled = [plan.function, plan.fixup]
        if plan.name not in _kernels._NO_TWIN:
            compiled += list(plan.serial())
        for f in compiled:
            assert f is None or f.signatures, (name, f)
