"""Bad input over the whole registry: every class of misuse ends in a clear error or a
documented limit (docs/conventions.md, "Bad input").

Property-based (hypothesis) over every registered loss and every public entry point of the
core (the element-wise methods, ``__call__``, ``fit_intercept_only``, ``loss_from_proba``),
``losslab.torch`` modules and ``losslab.jax`` functions: a new loss enters automatically.

Classes and their policy:

* objects that are not numbers (None, strings, mappings, sets, ragged lists, lists of
  strings) for ``y_true``, ``raw_prediction``, ``y_proba`` or ``sample_weight``: TypeError or
  ValueError whose message names the argument; never a silent NaN;
* hyperparameters outside their declared range (or of the wrong kind): ValueError naming the
  parameter, read from the declaration itself;
* infinite raw predictions: the loss's limit (finite where the limit is finite, NaN never);
* infinite regression targets: ValueError naming ``y_true``;
* NaN: propagates to every output of its own element only (tests/test_contract.py);
* zero total weight: the core raises when validating, the training losses return 0
  (tests/test_reduction.py).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losslab
from _cases import make_case

NAMES = sorted(losslab.LOSSES)
METHODS = (
    "loss",
    "gradient",
    "hessian",
    "loss_gradient",
    "gradient_hessian",
    "loss_gradient_hessian",
    "__call__",
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NOT_NUMBERS = st.sampled_from(
    [None, "abc", "1.0", b"1", {"a": 1}, {1.0, 2.0}, [[1.0, 2.0], [3.0]], ["a", "b"], object()]
)
ARGUMENTS = ("y_true", "raw_prediction", "sample_weight")


def _valid(loss: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    case = make_case(loss, n=6)
    return case.y, case.z, np.ones(6)


def _call(loss: Any, method: str, args: dict[str, Any]) -> Any:
    fn = getattr(loss, method)
    if method == "fit_intercept_only":
        return fn(args["y_true"], sample_weight=args["sample_weight"])
    return fn(args["y_true"], args["raw_prediction"], sample_weight=args["sample_weight"])


@SETTINGS
@given(
    name=st.sampled_from(NAMES),
    method=st.sampled_from((*METHODS, "fit_intercept_only")),
    argument=st.sampled_from(ARGUMENTS),
    bad=NOT_NUMBERS,
)
def test_objects_that_are_not_numbers_are_refused_by_name(
    name: str, method: str, argument: str, bad: Any
) -> None:
    loss = losslab.get_loss(name)
    if method == "fit_intercept_only" and argument == "raw_prediction":
        argument = "y_true"
    y, z, w = _valid(loss)
    args = {"y_true": y, "raw_prediction": z, "sample_weight": w, argument: bad}
    if argument == "sample_weight" and bad is None:
        return  # None is the documented default (no weights)
    with pytest.raises((TypeError, ValueError), match=re.escape(argument)):
        _call(loss, method, args)


@SETTINGS
@given(
    name=st.sampled_from([n for n in NAMES if hasattr(losslab.LOSSES[n], "loss_from_proba")]),
    bad=NOT_NUMBERS,
)
def test_loss_from_proba_names_y_proba(name: str, bad: Any) -> None:
    loss = losslab.get_loss(name)
    with pytest.raises((TypeError, ValueError), match="y_proba"):
        loss.loss_from_proba(np.array([0.0, 1.0]), bad)
    with pytest.raises(TypeError, match="y_proba"):
        loss.loss_from_proba(np.array([0.0, 1.0]), np.array([0, 1]))


def test_out_must_be_arrays_named_out() -> None:
    loss = losslab.get_loss("log_loss")
    y, z = np.array([0.0, 1.0]), np.array([0.5, -0.5])
    for bad in (5, "x", [1.0, 2.0], (np.empty(2),)):
        with pytest.raises(TypeError, match=r"\bout\b"):
            loss.loss_gradient(y, z, out=bad)


# --------------------------------------------------------------------- hyperparameters


def _bad_values(spec: Any) -> list[Any]:
    """Values outside the declared range or of the wrong kind, from the declaration."""
    out: list[Any] = ["2.0", True, [1.0], math.nan, math.inf]
    if spec.kind in ("real", "optional_real"):
        if spec.low is not None:
            out.append(spec.low - 1.0 if spec.low_inclusive else spec.low)
        if spec.high is not None:
            out.append(spec.high + 1.0 if spec.high_inclusive else spec.high)
    if spec.kind == "real":
        out.append(None)
    if spec.kind == "optional_index":
        out = ["1", True, -1, 1.5, math.nan]
    if spec.kind == "optional_weights":
        out = ["a", [], [-1.0, 1.0], [math.nan], 3.0]
    return out


PARAMS = [
    pytest.param(name, spec, bad, id=f"{name}-{spec.name}={bad!r}")
    for name in NAMES
    for spec in losslab.LOSSES[name].parameters()
    for bad in _bad_values(spec)
]


@pytest.mark.parametrize(("name", "spec", "bad"), PARAMS)
def test_hyperparameters_outside_their_declaration_are_refused_by_name(
    name: str, spec: Any, bad: Any
) -> None:
    with pytest.raises(ValueError, match=re.escape(spec.name)):
        losslab.get_loss(name, **{spec.name: bad})
    # the declaration's own parser refuses the same text on the command line
    if isinstance(bad, float) and not math.isnan(bad) and spec.kind in ("real", "optional_real"):
        with pytest.raises(ValueError, match=re.escape(spec.name)):
            spec.parse(repr(bad))


@pytest.mark.parametrize("name", NAMES)
def test_declared_defaults_and_parse_round_trip(name: str) -> None:
    cls = losslab.LOSSES[name]
    for spec in cls.parameters():
        assert spec.check(spec.default) == cls().params[spec.name]
        text = "none" if spec.default is None else str(spec.default).strip("()")
        assert spec.parse(text) == spec.check(spec.default)


# --------------------------------------------------------------------- infinite inputs


def _infinite_case(loss: Any) -> tuple[np.ndarray, np.ndarray]:
    if loss.kind == "multiclass":
        z = np.array([[np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0], [0.0, 2.0, -np.inf]])
        return np.array([0, 0, 0]), z
    y = make_case(loss, n=4).y[:4]
    return np.concatenate([y, y]), np.array([np.inf] * 4 + [-np.inf] * 4)


PATHS = [(n, False) for n in NAMES] + [(n, True) for n in NAMES if losslab.LOSSES[n].kernel]


@pytest.mark.parametrize(("name", "kernels"), PATHS, ids=[f"{n}-{k}" for n, k in PATHS])
def test_infinite_raw_prediction_gives_the_limit(name: str, kernels: bool) -> None:
    """No NaN and no floating-point warning at z = +-inf; the value is the limit of the loss
    (checked against z = +-1e3 where the limit is finite)."""
    loss = losslab.get_loss(name)
    y, z = _infinite_case(loss)
    with losslab.config_context(use_kernels=kernels, kernel_min_size=0), warnings.catch_warnings():
        warnings.simplefilter("error")
        v, g, h = loss.loss_gradient_hessian(y, z)
        for arr in (v, g, h):
            assert not np.any(np.isnan(arr)), (arr, y, z)
        if loss.kind != "multiclass":
            far = np.where(np.isinf(z), np.sign(z) * 1e3, z)
            vf, gf, _ = loss.loss_gradient_hessian(y, far)
    if loss.kind != "multiclass":
        # where the value at +-1e3 is already small, the limit is finite and near it
        small = np.abs(vf) < 1.0
        assert np.all(np.isfinite(v[small])), (v, vf)
        assert np.allclose(v[small], vf[small], atol=1e-3)
        assert np.all(np.isfinite(g) | (np.abs(gf) > 1e2)), (g, gf)


@pytest.mark.parametrize("name", [n for n in NAMES if losslab.LOSSES[n].kind == "multiclass"])
def test_masked_classes_with_minus_inf_logits(name: str) -> None:
    """A -inf logit (a masked class) takes no probability: the loss equals the loss without
    that class, the gradient is 0 there (optax's safe softmax cross-entropy)."""
    loss = losslab.get_loss(name)
    z = np.array([[1.0, 0.5, -np.inf], [-0.3, 2.0, -np.inf]])
    y = np.array([0, 1])
    v, g, _ = loss.loss_gradient_hessian(y, z)
    v2, g2, _ = loss.loss_gradient_hessian(y, z[:, :2])
    np.testing.assert_allclose(v, v2, rtol=1e-14)
    np.testing.assert_allclose(g[:, :2], g2, rtol=1e-14, atol=1e-300)
    assert np.all(g[:, 2] == 0)
    assert np.all(np.isinf(loss.loss(np.array([2, 2]), z)))  # the target is masked


@pytest.mark.parametrize("name", [n for n in NAMES if losslab.LOSSES[n].kind == "regression"])
def test_infinite_regression_targets_are_refused(name: str) -> None:
    loss = losslab.get_loss(name)
    y, z, _ = _valid(loss)
    y = y.copy()
    y[2] = np.inf
    with pytest.raises(ValueError, match="y_true"):
        loss.loss(y, z)
    with pytest.raises(ValueError, match="y_true"):
        loss.fit_intercept_only(y)


@pytest.mark.parametrize("name", NAMES)
def test_fit_intercept_only_takes_column_and_matrix_targets(name: str) -> None:
    """Element-wise losses: one constant for every element, whatever the target's shape."""
    loss = losslab.get_loss(name)
    if loss.kind == "multiclass":
        return
    y = make_case(loss, n=12).y
    flat = loss.fit_intercept_only(y)
    assert loss.fit_intercept_only(y.reshape(12, 1)) == pytest.approx(flat, rel=1e-12, abs=1e-12)
    assert loss.fit_intercept_only(y.reshape(3, 4)) == pytest.approx(flat, rel=1e-12, abs=1e-12)


# --------------------------------------------------------------------- training losses


@pytest.mark.parametrize("name", NAMES)
def test_torch_and_jax_refuse_objects_that_are_not_tensors(name: str) -> None:
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    import losslab.jax as lj
    import losslab.torch as lt

    loss = losslab.get_loss(name)
    y, z, _ = _valid(loss)
    module = lt.LosslabLoss(loss)
    for bad in (None, "abc", [1.0, 2.0]):
        with pytest.raises((TypeError, ValueError), match=r"(?i)input|target|tensor"):
            module(bad, torch.tensor(y))
        with pytest.raises((TypeError, ValueError), match=r"(?i)input|target|tensor"):
            module(torch.tensor(z), bad)
    fn = getattr(lj, name)
    for bad in (None, "abc", {"a": 1}):
        with pytest.raises((TypeError, ValueError)):
            fn(bad, jnp.asarray(y))
