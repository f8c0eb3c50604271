"""Input validation: every loss and every entry point raises a clear error naming the problem.

Each test checks the exception type and a fragment of the message. ``validate=False``
skips the value checks (labels, weights) but never the cheap type and shape checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losslab
from _cases import ALL_METHODS, N_CLASSES, kind_of, loss_params, make_case

ALL = loss_params(variants=False)
ENTRY_POINTS = [*ALL_METHODS, "__call__"]
N = 6


def _call(loss: Any, method: str, y: Any, z: Any, **kw: Any) -> Any:
    return getattr(loss, method)(y, z, **kw)


def _valid(loss: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    case = make_case(loss, n=N)
    return case.y, case.z, np.ones(N)


def _both_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> str:
    """A regex that requires both shapes somewhere in the message."""
    return rf"(?s)(?=.*{_shape_re(a)})(?=.*{_shape_re(b)})"


def _shape_re(shape: tuple[int, ...]) -> str:
    import re

    return re.escape(str(tuple(shape)))


# ------------------------------------------------------------------- raw_prediction


@pytest.mark.parametrize("method", ENTRY_POINTS)
@pytest.mark.parametrize("loss", ALL)
@pytest.mark.parametrize(
    "bad_dtype", [np.int64, np.int32, np.bool_, np.complex128, np.uint8], ids=lambda d: d.__name__
)
def test_non_floating_raw_prediction_is_a_type_error(
    loss: Any, method: str, bad_dtype: Any
) -> None:
    y, z, _ = _valid(loss)
    bad = (z * 3).astype(bad_dtype)
    for validate in (True, False):
        with pytest.raises(TypeError, match=r"(?is)(?=.*raw_prediction)(?=.*(float|dtype))"):
            _call(loss, method, y, bad, validate=validate)


@pytest.mark.parametrize("method", ENTRY_POINTS)
@pytest.mark.parametrize("loss", ALL)
def test_shape_mismatch_names_both_shapes(loss: Any, method: str) -> None:
    y, z, _ = _valid(loss)
    if loss.is_multiclass:
        pairs = [
            (y, z[:-1]),  # (n,) vs (n - 1, K)
            (y[:, None], z),  # (n, 1) vs (n, K)
            (np.eye(N_CLASSES)[y][:, :-1], z),  # proba (n, K - 1) vs (n, K)
        ]
    else:
        pairs = [
            (y[:, None], z),  # (n, 1) vs (n,): no silent broadcasting
            (y, z[:, None]),
            (y[:-1], z),
            (y[:1], z),  # (1,) vs (n,)
            (y.reshape(2, 3), z.reshape(3, 2)),
        ]
    for yy, zz in pairs:
        for validate in (True, False):
            with pytest.raises(ValueError, match=_both_shapes(yy.shape, zz.shape)):
                _call(loss, method, yy, zz, validate=validate)


@pytest.mark.parametrize("method", ENTRY_POINTS)
@pytest.mark.parametrize("loss", [p for p in ALL if p.values[0].is_multiclass])
def test_multiclass_raw_prediction_must_be_2d(loss: Any, method: str) -> None:
    y, z, _ = _valid(loss)
    for zz in (z[:, 0], z[None]):
        with pytest.raises(ValueError, match=r"(?i)raw_prediction"):
            _call(loss, method, y, zz)


@pytest.mark.parametrize("method", ENTRY_POINTS)
@pytest.mark.parametrize("loss", ALL)
def test_empty_input(loss: Any, method: str) -> None:
    y, z, _ = _valid(loss)
    with pytest.raises(ValueError, match=r"(?i)empty"):
        _call(loss, method, y[:0], z[:0])


# ------------------------------------------------------------------------- labels


def _bad_labels(loss: Any) -> list[tuple[str, np.ndarray]]:
    kind = kind_of(loss)
    y, _, _ = _valid(loss)
    out = []
    if kind == "binary":
        for v in (-0.1, 1.1, 2.0, -np.inf, np.inf):
            bad = y.copy()
            bad[2] = v
            out.append((f"y={v}", bad))
    elif kind == "multiclass":
        for v in (-1, N_CLASSES, N_CLASSES + 5):
            bad = y.copy()
            bad[2] = v
            out.append((f"index={v}", bad))
        bad = y.astype(np.float64)
        bad[2] = 0.5
        out.append(("index=0.5", bad))
        proba = np.eye(N_CLASSES)[y]
        for v in (-0.25, 1.25):
            bad = proba.copy()
            bad[2, 0] = v
            out.append((f"proba={v}", bad))
    return out


@pytest.mark.parametrize("method", ENTRY_POINTS)
@pytest.mark.parametrize("loss", [p for p in ALL if kind_of(p.values[0]) != "regression"])
def test_labels_outside_the_domain(loss: Any, method: str) -> None:
    _, z, _ = _valid(loss)
    for what, bad in _bad_labels(loss):
        with pytest.raises(ValueError, match=r"(?i)y_true"):
            _call(loss, method, bad, z)
        if what.startswith("index") or "inf" in what:
            continue  # unusable without the check (an index, or inf * 0 in the formula)
        # validate=False skips the value checks: finite out-of-domain labels go through.
        _call(loss, method, bad, z, validate=False)


@pytest.mark.parametrize("loss", [p for p in ALL if kind_of(p.values[0]) != "regression"])
def test_fit_intercept_only_validates_labels(loss: Any) -> None:
    for what, bad in _bad_labels(loss):
        if what in (f"index={N_CLASSES}", f"index={N_CLASSES + 5}"):
            continue  # without raw predictions K is not known: a large index adds classes
        with pytest.raises(ValueError, match=r"(?i)y_true"):
            loss.fit_intercept_only(bad)


@pytest.mark.parametrize("loss", ALL)
def test_fit_intercept_only_validates_weights_and_size(loss: Any) -> None:
    y, _, w = _valid(loss)
    with pytest.raises(ValueError, match=r"(?i)empty"):
        loss.fit_intercept_only(y[:0])
    for v in (-1.0, np.nan, np.inf):
        bad = w.copy()
        bad[1] = v
        with pytest.raises(ValueError, match="sample_weight"):
            loss.fit_intercept_only(y, sample_weight=bad)
    with pytest.raises(ValueError, match="sample_weight"):
        loss.fit_intercept_only(y, sample_weight=w[:-1])


# ------------------------------------------------------------------------ weights


@pytest.mark.parametrize("method", ENTRY_POINTS)
@pytest.mark.parametrize("loss", ALL)
def test_bad_sample_weight_values(loss: Any, method: str) -> None:
    y, z, w = _valid(loss)
    for v in (-1.0, -1e-300, np.nan, np.inf, -np.inf):
        bad = w.copy()
        bad[3] = v
        with pytest.raises(ValueError, match="sample_weight"):
            _call(loss, method, y, z, sample_weight=bad)
    bad = w.copy()
    bad[3] = -1.0
    _call(loss, method, y, z, sample_weight=bad, validate=False)  # value check skipped


@pytest.mark.parametrize("method", ENTRY_POINTS)
@pytest.mark.parametrize("loss", ALL)
def test_bad_sample_weight_shape(loss: Any, method: str) -> None:
    y, z, w = _valid(loss)
    shapes = [w[:-1], w[:, None], np.ones((N, N_CLASSES))] if loss.is_multiclass else []
    if not loss.is_multiclass:
        shapes = [w[:-1], w[:, None], np.asarray(1.0)]
    for bad in shapes:
        for validate in (True, False):
            with pytest.raises(ValueError, match="sample_weight"):
                _call(loss, method, y, z, sample_weight=bad, validate=validate)


# ----------------------------------------------------------------------- reduction


@pytest.mark.parametrize("loss", ALL)
def test_unknown_reduction(loss: Any) -> None:
    y, z, _ = _valid(loss)
    for bad in ("bogus", "avg", None):
        with pytest.raises(ValueError, match=r"(?i)reduction"):
            loss(y, z, reduction=bad)


@pytest.mark.parametrize("loss", ALL)
def test_nan_inputs_are_not_errors(loss: Any) -> None:
    """NaN in y_true or raw_prediction is data, not a validation failure."""
    y, z, _ = _valid(loss)
    z = z.copy()
    z[0] = np.nan
    for method in ENTRY_POINTS:
        _call(loss, method, y, z)
    if not loss.is_multiclass:
        y = y.copy()
        y[0] = np.nan
        for method in ENTRY_POINTS:
            _call(loss, method, y, z)


# ------------------------------------------------------------ loss_from_proba


PROBA_LOSSES = [p for p in ALL if hasattr(p.values[0], "loss_from_proba")]


@pytest.mark.parametrize("loss", PROBA_LOSSES)
def test_loss_from_proba_rejects_probabilities_outside_unit_interval(loss: Any) -> None:
    y = np.array([0.0, 1.0, 0.3])
    for v in (-1e-12, -0.5, 1.0 + 1e-12, 2.0, np.inf, -np.inf):
        p = np.array([0.5, 0.5, v])
        with pytest.raises(ValueError, match=r"(?i)y_proba|probabilit"):
            loss.loss_from_proba(y, p)
    with pytest.raises(ValueError, match=r"(?i)y_true"):
        loss.loss_from_proba(np.array([0.0, 1.5, 0.3]), np.full(3, 0.5))
    with pytest.raises(ValueError, match=_both_shapes((3,), (3, 1))):
        loss.loss_from_proba(y, np.full((3, 1), 0.5))


def test_get_loss_entry_points_reject_unknowns() -> None:
    with pytest.raises(ValueError, match=r"(?s)(?=.*nope)(?=.*log_loss)(?=.*softmax_focal)"):
        losslab.get_loss("nope")
    with pytest.raises(TypeError, match=r"(?s)(?=.*gama)(?=.*gamma)(?=.*alpha)"):
        losslab.get_loss("focal", gama=2.0)
