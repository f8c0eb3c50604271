#!/usr/bin/env python3
"""Independent high-precision reference points ("unseen" set) for losslab's tests.

This script writes ``tests/data/reference_unseen.json``, which ``tests/test_reference.py``
compares losslab's float64 value, gradient and Hessian against. It is deliberately independent
of losslab and of the golden generator in ``tests/data/golden/generate.py``:

* every loss is written from its *definition* only (e.g. the focal loss as
  ``-alpha_t (1 - p_t)**gamma log p_t`` with ``p = 1 / (1 + exp(-z))``), never from a closed form
  of its derivatives or a "numerically stable" rearrangement;
* the gradient and the Hessian (the diagonal of the Hessian for the softmax losses) are obtained
  by numerical differentiation (``mpmath.diff``, central differences at several hundred bits);
* the points are new: a different seed and different ranges, gammas, alphas, deltas, quantiles
  and labels than the golden set.

It needs only mpmath and the Python standard library. Regenerate, from the repository root, with

    .venv/bin/python tests/reference/generate_reference.py

(``--out PATH`` writes elsewhere; ``--seed`` is for experiments only, the committed file uses the
default seed 20261126). The output is identical on every platform: the inputs are built with
Python's Mersenne Twister (``random.Random.random`` only) as ``float("<9-digit integer>e<exp>")``,
and every output is rounded once, correctly (round half to even, gradual underflow, overflow to
inf), from an mpmath number to float64.

Precision and checks (per case):

* The working precision is ``D = 60`` significant digits plus the digits that the definition
  loses to cancellation at that point: ``0.4343 * A`` where ``A`` bounds the exponents that occur
  (e.g. ``1 - p`` with ``p = sigma(700)`` is ``exp(-700)``; derivatives smaller than the value by
  ``exp(-A)``), and ``2 log10(1/|u|)`` for ``sqrt(1 + u**2) - 1`` and ``log(cosh r)`` at small
  arguments.
* Every case is recomputed at ``D + 20`` digits and must round to the identical float64 values.
  If it does not, the case is retried at ``2 D`` (and ``4 D``, ``8 D``); a case that never
  stabilises is dropped and listed in the header's ``dropped`` list.
* The only derivatives that are exactly zero are the Hessians of the piecewise linear pieces
  (absolute error, pinball, the linear part of Huber). Numerical differentiation returns noise of
  order ``10**-D`` there; such a Hessian is taken as 0 when it is below ``10**-(D-10)`` times the
  size of the inputs at two precisions.
* Points within ``1e-6`` (relative) of a kink are not drawn. Points whose Hessian (or, for the
  softmax focal loss, any diagonal Hessian entry) changes sign within ``0.25`` in any logit are
  dropped (tagged in ``dropped``): near a simple zero of the Hessian its relative condition number
  is unbounded, so no float64 evaluation can meet a relative tolerance there.
* Ranges keep the float64 conditioning of the inputs within the relative tolerance that the tests
  use (1e-13): regression residuals satisfy ``max(|y|, |z|) <= 64 |z - y|`` (so forming ``z - y``
  in float64 costs at most 64 half-ulps; for log_cosh, whose Hessian has relative condition
  ``2|r|``, an inexact ``z - y`` is only allowed with ``max(|y|, |z|) <= 136`` while the
  Hessian is a normal number), focal_star uses ``|gamma z| <= 300`` (it forms
  ``gamma * z - beta``), and softmax logits stay within ``|z| <= 40``.

The JSON uses losslab's registry names and parameter names (``pinball`` takes ``quantile``,
``focal_star`` takes ``gamma`` and ``beta``). Inputs are JSON numbers (Python ``repr``), outputs
``repr(float64)`` strings. Softmax losses have ``z`` of length K = 4, ``y`` an integer class or a
list of K probabilities (dyadic, summing exactly to 1), ``grad`` a list of K strings and ``hess``
the list of the K diagonal entries of the K x K Hessian.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time

import mpmath
from mpmath import mp, mpf

SEED = 20261126
BASE_DPS = 60
CHECK_OFFSET = 20
ESCALATIONS = (1, 2, 4, 8)
SIGN_WINDOW = 0.25
KINK_REL = 1e-6
MAX_RESIDUAL_COND = 64.0
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "data", "reference_unseen.json"))
COMMAND = ".venv/bin/python tests/reference/generate_reference.py"

# --------------------------------------------------------------------------------------------
# correct rounding of an mpf to float64
# --------------------------------------------------------------------------------------------


def to_f64(x: mpf) -> float:
    """Round an mpmath real to the nearest float64 (ties to even, gradual underflow, overflow)."""
    if mpmath.isnan(x):
        raise ValueError("NaN in a reference value")
    if mpmath.isinf(x):
        return math.inf if x > 0 else -math.inf
    if x == 0:
        return 0.0
    sign, man, exp, bc = x._mpf_
    s = -1.0 if sign else 1.0
    top = exp + bc  # 2**(top-1) <= |x| < 2**top
    if top > 1030:
        return s * math.inf
    if top < -1080:
        return s * 0.0
    try:
        # int -> float and int / int are correctly rounded in CPython (subnormals included).
        v = float(man << exp) if exp >= 0 else man / (1 << -exp)
    except OverflowError:
        v = math.inf
    return s * v


# --------------------------------------------------------------------------------------------
# loss definitions (mpmath, at the current precision; y and params are exact mpf)
# --------------------------------------------------------------------------------------------


def sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def log_loss(y, z):
    """-y log p - (1-y) log(1-p), p = sigmoid(z); a term with label weight 0 is dropped."""
    p = sigmoid(z)
    val = mpf(0)
    if y != 0:
        val -= y * mpmath.log(p)
    if y != 1:
        val -= (1 - y) * mpmath.log(1 - p)
    return val


def focal(y, z, gamma, alpha):
    """alpha_t * CE(y, z) * (1 - p_t)**gamma (torchvision / Lin et al. 2017).

    p_t = p y + (1-p)(1-y), alpha_t = alpha y + (1-alpha)(1-y) (alpha None -> 1);
    for y in {0, 1} this is -alpha_t (1 - p_t)**gamma log p_t.
    """
    p = sigmoid(z)
    pt = p * y + (1 - p) * (1 - y)
    at = mpf(1) if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return at * log_loss(y, z) * (1 - pt) ** gamma


def focal_star(y, z, gamma, beta):
    """RetinaNet appendix FL*: -log(sigma(gamma x_t + beta)) / gamma, x_t = z (y=1), -z (y=0),
    extended linearly in y (soft labels)."""
    val = mpf(0)
    if y != 0:
        val -= y * mpmath.log(sigmoid(gamma * z + beta)) / gamma
    if y != 1:
        val -= (1 - y) * mpmath.log(sigmoid(-gamma * z + beta)) / gamma
    return val


def softmax(zs):
    e = [mpmath.exp(t) for t in zs]
    s = mpmath.fsum(e)
    return [t / s for t in e]


def softmax_cross_entropy(y, zs):
    """-sum_k y_k log softmax(z)_k; an integer y is the one-hot vector of that class."""
    p = softmax(zs)
    if isinstance(y, int):
        return -mpmath.log(p[y])
    return -mpmath.fsum(yk * mpmath.log(pk) for yk, pk in zip(y, p, strict=True) if yk != 0)


def softmax_focal(c, zs, gamma, alpha):
    """-alpha_c (1 - p_c)**gamma log p_c, p = softmax(z), c the target class (alpha None -> 1)."""
    p = softmax(zs)
    ac = mpf(1) if alpha is None else alpha[c]
    return -ac * (1 - p[c]) ** gamma * mpmath.log(p[c])


def squared_error(y, z):
    return (z - y) ** 2


def half_squared_error(y, z):
    return (z - y) ** 2 / 2


def absolute_error(y, z):
    return abs(z - y)


def huber(y, z, delta):
    r = z - y
    if abs(r) <= delta:
        return r * r / 2
    return delta * (abs(r) - delta / 2)


def pseudo_huber(y, z, delta):
    r = z - y
    return delta**2 * (mpmath.sqrt(1 + (r / delta) ** 2) - 1)


def log_cosh(y, z):
    return mpmath.log(mpmath.cosh(z - y))


def pinball(y, z, quantile):
    u = y - z
    return quantile * u if u >= 0 else (quantile - 1) * u


MULTICLASS = ("softmax_cross_entropy", "softmax_focal")
ZERO_HESSIAN_OK = ("absolute_error", "pinball", "huber")
SIGN_GUARD = ("focal", "softmax_focal")


def _mp_param(v):
    if v is None:
        return None
    if isinstance(v, list):
        return [mpf(t) for t in v]
    return mpf(v)


def make_function(case):
    """The loss as a function of the raw prediction(s) only, for mpmath.diff."""
    loss, P, y = case["loss"], case["params"], case["y"]
    if loss in MULTICLASS:
        yy = y if isinstance(y, int) else [mpf(t) for t in y]
        if loss == "softmax_cross_entropy":
            return lambda *zs: softmax_cross_entropy(yy, list(zs))
        g, a = mpf(P["gamma"]), _mp_param(P["alpha"])
        return lambda *zs: softmax_focal(yy, list(zs), g, a)
    ym = mpf(y)
    if loss == "log_loss":
        return lambda z: log_loss(ym, z)
    if loss == "focal":
        g, a = mpf(P["gamma"]), _mp_param(P["alpha"])
        return lambda z: focal(ym, z, g, a)
    if loss == "focal_star":
        g, b = mpf(P["gamma"]), mpf(P["beta"])
        return lambda z: focal_star(ym, z, g, b)
    fn = {
        "squared_error": squared_error,
        "half_squared_error": half_squared_error,
        "absolute_error": absolute_error,
        "log_cosh": log_cosh,
    }.get(loss)
    if fn is not None:
        return lambda z: fn(ym, z)
    if loss in ("huber", "pseudo_huber"):
        d = mpf(P["delta"])
        fn2 = huber if loss == "huber" else pseudo_huber
        return lambda z: fn2(ym, z, d)
    if loss == "pinball":
        t = mpf(P["quantile"])
        return lambda z: pinball(ym, z, t)
    raise KeyError(loss)


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


def extra_digits(case):
    """Decimal digits that the definition can lose at this point (see the module docstring)."""
    loss, P, y, z = case["loss"], case["params"], case["y"], case["z"]
    if loss in MULTICLASS:
        spread = max(z) - min(z)
        g = P.get("gamma", 0.0)
        return math.ceil(0.4343 * (1 + g) * spread) + 2
    if loss in ("log_loss", "focal", "focal_star"):
        g = P.get("gamma", 0.0)
        b = abs(P.get("beta", 0.0))
        return math.ceil(0.4343 * ((1 + max(g, 1.0)) * abs(z) + b)) + 2
    r = abs(mpf(z) - mpf(y)) if z != y else mpf(0)
    extra = 0
    if loss == "log_cosh":
        extra = math.ceil(0.87 * float(r)) + 2
        if r < 1:
            extra += math.ceil(2 * -math.log10(float(r))) + 2
    if loss == "pseudo_huber":
        u = float(r) / P["delta"]
        if u < 1:
            extra += math.ceil(2 * -math.log10(u)) + 2
        extra += math.ceil(4 * max(0.0, math.log10(u))) + 2  # hess / value ~ u**-4 for large u
    return extra


def _derivatives(f, case):
    """Value, gradient, Hessian (diagonal) as mpf at the current precision."""
    z = case["z"]
    if case["loss"] in MULTICLASS:
        zs = [mpf(t) for t in z]
        val = f(*zs)
        grad, hess = [], []
        for k in range(len(zs)):

            def g(t, k=k):
                return f(*zs[:k], t, *zs[k + 1 :])

            grad.append(mpmath.diff(g, zs[k], 1))
            hess.append(mpmath.diff(g, zs[k], 2))
        return [val], grad, hess
    zm = mpf(z)
    return [f(zm)], [mpmath.diff(f, zm, 1)], [mpmath.diff(f, zm, 2)]


def evaluate_at(case, dps):
    """Float64 roundings of (value, grad..., hess...) computed at `dps` digits, plus the raw
    Hessian magnitudes for the zero-Hessian rule."""
    with mp.workdps(dps):
        f = make_function(case)
        val, grad, hess = _derivatives(f, case)
        scale = max([mpf(1), abs(mpf(case["y"])) if not isinstance(case["y"], list) else mpf(1)])
        if not isinstance(case["z"], list):
            scale = max(scale, abs(mpf(case["z"])))
        noise = scale * mpf(10) ** (-(dps - 10))
        zero_hess = [abs(h) < noise for h in hess]
        return [to_f64(v) for v in val + grad + hess], zero_hess


def evaluate(case):
    """(value, grad, hess, dps) with float64 outputs, or raise RuntimeError if unstable."""
    base = BASE_DPS + extra_digits(case)
    K = len(case["z"]) if isinstance(case["z"], list) else 1
    for factor in ESCALATIONS:
        d1 = base * factor
        a, za = evaluate_at(case, d1)
        b, zb = evaluate_at(case, d1 + CHECK_OFFSET)
        if case["loss"] in ZERO_HESSIAN_OK:
            for i in range(K):
                if za[i] and zb[i]:
                    a[1 + K + i] = b[1 + K + i] = 0.0
        if all(u == v or (u != u and v != v) for u, v in zip(a, b, strict=True)):
            return a[0], a[1 : 1 + K], a[1 + K :], d1
    raise RuntimeError(f"float64 rounding not stable up to {base * ESCALATIONS[-1]} digits")


def hessian_sign_stable(case):
    """True when no (diagonal) Hessian entry changes sign within SIGN_WINDOW in any logit."""
    dps = BASE_DPS + extra_digits(case) + 10
    with mp.workdps(dps):
        f = make_function(case)
        z = case["z"]
        if not isinstance(z, list):
            zm = mpf(z)
            hs = [mpmath.diff(f, zm + s * SIGN_WINDOW, 2) for s in (-1, 0, 1)]
            return all(mpmath.sign(h) == mpmath.sign(hs[1]) for h in hs)
        zs = [mpf(t) for t in z]
        K = len(zs)
        points = [zs] + [
            [zs[i] + (s * SIGN_WINDOW if i == k else 0) for i in range(K)]
            for k in range(K)
            for s in (-1, 1)
        ]
        signs = []
        for pt in points:
            row = []
            for k in range(K):

                def g(t, k=k, pt=pt):
                    return f(*pt[:k], t, *pt[k + 1 :])

                row.append(mpmath.sign(mpmath.diff(g, pt[k], 2)))
            signs.append(row)
        return all(row == signs[0] for row in signs)


# --------------------------------------------------------------------------------------------
# input generation (deterministic: only rng.random() and decimal strings)
# --------------------------------------------------------------------------------------------


def r_choice(rng, seq):
    return seq[int(rng.random() * len(seq))]


def r_mag(rng, lo, hi):
    """A positive float64 '<9 digits>e<exp>', log-uniform-ish in [lo, hi] (rejection)."""
    lo_e, hi_e = math.floor(math.log10(lo)), math.floor(math.log10(hi))
    while True:
        mant = 10**8 + int(rng.random() * 9 * 10**8)
        e = lo_e + int(rng.random() * (hi_e - lo_e + 1))
        v = float(f"{mant}e{e - 8}")
        if lo <= v <= hi:
            return v


def r_signed(rng, lo, hi):
    v = r_mag(rng, lo, hi)
    return -v if rng.random() < 0.5 else v


def r_logit(rng, zmax):
    """Logit: 60% |z| in [1e-8, 30], 40% |z| in [30, zmax] (uniform there)."""
    if rng.random() < 0.6 or zmax <= 30:
        return r_signed(rng, 1e-8, min(30.0, zmax))
    u = 30.0 + (zmax - 30.0) * rng.random()
    v = float(f"{u:.9g}")
    return -v if rng.random() < 0.5 else v


def r_binary_label(rng):
    u = rng.random()
    if u < 0.5:
        return 0.0 if u < 0.25 else 1.0
    if u < 0.8:
        return r_choice(rng, [0.05, 0.5, 0.95])
    return float(f"0.{1 + int(rng.random() * 999998):06d}")


def r_dyadic_simplex(rng, K, denom=1024):
    """K probabilities n_k / denom with sum exactly 1 (some may be 0)."""
    cuts = sorted(int(rng.random() * (denom + 1)) for _ in range(K - 1))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, denom], strict=True)]
    return [n / denom for n in parts]


GAMMAS = [0.25, 0.75, 1.5, 3.0]
ALPHAS = [0.1, 0.9, None]
BETAS = [1.0, 0.0, -0.5, 2.5]
DELTAS = [0.1, 3.7]
QUANTILES = [0.05, 0.9]
SOFTMAX_ALPHAS = [None, [0.1, 0.2, 0.3, 0.4], [0.9, 0.05, 0.5, 0.25]]
K = 4

COUNTS = {
    "log_loss": 150,
    "focal": 300,
    "focal_star": 120,
    "softmax_cross_entropy": 160,
    "softmax_focal": 160,
    "squared_error": 50,
    "half_squared_error": 50,
    "absolute_error": 50,
    "huber": 100,
    "pseudo_huber": 100,
    "log_cosh": 80,
    "pinball": 80,
}


def r_regression_pair(rng, loss, params):
    """(y, z) with |y|, |z| in {0} U [1e-8, 1e4], well-conditioned residual, away from kinks."""
    while True:
        y = 0.0 if rng.random() < 0.15 else r_signed(rng, 1e-8, 1e4)
        if loss == "log_cosh" and rng.random() < 0.8:
            z = r_signed(rng, 1e-8, 50.0)  # keeps the Hessian sech(r)**2 mostly representable
        else:
            z = r_signed(rng, 1e-8, 1e4)
        if loss == "log_cosh" and abs(z) + abs(y) > 3000:
            continue
        with mp.workprec(2300):  # exact difference of any two float64
            r = abs(mpf(z) - mpf(y))
            inexact = abs(mpf(z - y)) != r
        if r == 0 or max(abs(y), abs(z)) > MAX_RESIDUAL_COND * float(r):
            continue
        if loss == "huber" and abs(r - mpf(params["delta"])) <= KINK_REL * params["delta"]:
            continue
        if loss == "log_cosh" and r < 355 and max(abs(y), abs(z)) > 136 and inexact:
            # sech(r)**2 has relative condition 2|r| w.r.t. r: an inexact float64 z - y would
            # cost up to 2|r| * 64 half-ulps in the (normal) Hessian.
            continue
        return y, z


def build_cases(seed):
    rng = random.Random(seed)
    cases = []

    def add(loss, params, y, z, tags):
        cases.append({"loss": loss, "params": params, "y": y, "z": z, "tags": tags})

    for _ in range(COUNTS["log_loss"]):
        add("log_loss", {}, r_binary_label(rng), r_logit(rng, 700.0), [])
    for _ in range(COUNTS["focal"]):
        p = {"gamma": r_choice(rng, GAMMAS), "alpha": r_choice(rng, ALPHAS)}
        add("focal", p, r_binary_label(rng), r_logit(rng, 700.0), [])
    for _ in range(COUNTS["focal_star"]):
        p = {"gamma": r_choice(rng, GAMMAS), "beta": r_choice(rng, BETAS)}
        add("focal_star", p, r_binary_label(rng), r_logit(rng, 300.0 / p["gamma"]), [])
    for i in range(COUNTS["softmax_cross_entropy"]):
        zs = [r_logit(rng, 40.0) for _ in range(K)]
        y = int(rng.random() * K) if i % 2 == 0 else r_dyadic_simplex(rng, K)
        add("softmax_cross_entropy", {}, y, zs, ["hard_target" if i % 2 == 0 else "soft_target"])
    for _ in range(COUNTS["softmax_focal"]):
        p = {"gamma": r_choice(rng, GAMMAS), "alpha": r_choice(rng, SOFTMAX_ALPHAS)}
        zs = [r_logit(rng, 40.0) for _ in range(K)]
        add("softmax_focal", p, int(rng.random() * K), zs, ["hard_target"])
    for loss in (
        "squared_error",
        "half_squared_error",
        "absolute_error",
        "huber",
        "pseudo_huber",
        "log_cosh",
        "pinball",
    ):
        for _ in range(COUNTS[loss]):
            if loss in ("huber", "pseudo_huber"):
                p = {"delta": r_choice(rng, DELTAS)}
            elif loss == "pinball":
                p = {"quantile": r_choice(rng, QUANTILES)}
            else:
                p = {}
            y, z = r_regression_pair(rng, loss, p)
            add(loss, p, y, z, [])
    for c in cases:
        y = c["y"]
        if c["loss"] in ("log_loss", "focal", "focal_star"):
            c["tags"].append("soft_label" if 0 < y < 1 else "binary_label")
    return cases


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)

    t0 = time.time()
    cases = build_cases(args.seed)
    kept, dropped = [], []
    counters = {}
    for case in cases:
        n = counters.get(case["loss"], 0)
        counters[case["loss"]] = n + 1
        case["id"] = f"unseen-{case['loss']}-{n:04d}"
        if case["loss"] in SIGN_GUARD and not hessian_sign_stable(case):
            dropped.append({"id": case["id"], "reason": "Hessian changes sign within 0.25"})
            continue
        try:
            value, grad, hess, dps = evaluate(case)
        except RuntimeError as exc:
            dropped.append({"id": case["id"], "reason": str(exc)})
            continue
        multi = case["loss"] in MULTICLASS
        out = {
            "id": case["id"],
            "loss": case["loss"],
            "params": case["params"],
            "y": case["y"],
            "z": case["z"],
            "value": repr(value),
            "grad": [repr(g) for g in grad] if multi else repr(grad[0]),
            "hess": [repr(h) for h in hess] if multi else repr(hess[0]),
            "dps": dps,
            "tags": case["tags"],
        }
        kept.append(out)
    doc = {
        "schema_version": 1,
        "description": (
            "Unseen reference points for losslab: value, gradient and Hessian w.r.t. the raw "
            "prediction z, each loss written from its definition in mpmath and differentiated "
            "numerically (mpmath.diff), rounded once to float64. Softmax losses: grad is the "
            "K-vector, hess the K diagonal entries of the Hessian. Names and params are "
            "losslab's registry names."
        ),
        "generator": "tests/reference/generate_reference.py",
        "command": COMMAND + ("" if args.seed == SEED else f" --seed {args.seed}"),
        "seed": args.seed,
        "mpmath_version": mpmath.__version__,
        "base_dps": BASE_DPS,
        "check_dps_offset": CHECK_OFFSET,
        "definitions": {
            "log_loss": "-y log p - (1-y) log(1-p), p = 1/(1+exp(-z))",
            "focal": "alpha_t * CE(y,z) * (1-p_t)^gamma, p_t = p y + (1-p)(1-y), "
            "alpha_t = alpha y + (1-alpha)(1-y) (alpha null -> 1)",
            "focal_star": "y*softplus(-(gamma z + beta))/gamma "
            "+ (1-y)*softplus(gamma z - beta)/gamma",
            "softmax_cross_entropy": "-sum_k y_k log softmax(z)_k (integer y = one-hot)",
            "softmax_focal": "-alpha_c (1-p_c)^gamma log p_c, p = softmax(z) (alpha null -> 1)",
            "squared_error": "(z-y)^2",
            "half_squared_error": "(z-y)^2/2",
            "absolute_error": "|z-y|",
            "huber": "r^2/2 if |r| <= delta else delta (|r| - delta/2), r = z-y",
            "pseudo_huber": "delta^2 (sqrt(1 + (r/delta)^2) - 1)",
            "log_cosh": "log cosh(z-y)",
            "pinball": "u = y-z; quantile*u if u >= 0 else (quantile-1)*u",
        },
        "n_cases": len(kept),
        "dropped": dropped,
        "cases": kept,
    }
    with open(args.out, "w") as fh:
        json.dump(doc, fh, indent=0)
        fh.write("\n")
    elapsed = time.time() - t0
    print(
        f"wrote {len(kept)} cases ({len(dropped)} dropped) to {args.out} in {elapsed:.1f} s",
        file=sys.stderr,
    )
    for d in dropped:
        print(f"  dropped {d['id']}: {d['reason']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
