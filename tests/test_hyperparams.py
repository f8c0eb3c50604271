"""Hyperparameters: validated at construction (ValueError naming the parameter), frozen,
and reachable through ``get_loss`` with clear messages for unknown names and parameters."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

import losslab

NAN, INF = math.nan, math.inf

BAD = [
    ("focal", "gamma", [-1.0, -1e-12, NAN, INF]),
    ("focal", "alpha", [-0.1, 1.1, NAN, INF, -INF]),
    ("focal_star", "gamma", [0.0, -1.0, NAN, INF]),
    ("focal_star", "beta", [NAN, INF, -INF]),
    ("softmax_focal", "gamma", [-1.0, NAN, INF]),
    ("softmax_focal", "alpha", [(0.5, -0.1, 0.5), (0.5, NAN, 0.5), (0.5, INF, 0.5), (), -1.0]),
    ("softmax_focal", "background_class", [-1, 1.5, NAN]),
    ("huber", "delta", [0.0, -1.0, NAN, INF]),
    ("pseudo_huber", "delta", [0.0, -1.0, NAN, INF]),
    ("pinball", "quantile", [0.0, 1.0, -0.1, 1.5, NAN]),
]

GOOD = [
    ("focal", {"gamma": 0.0, "alpha": None}),
    ("focal", {"gamma": 0.25, "alpha": 0.0}),
    ("focal", {"gamma": 5.0, "alpha": 1.0}),
    ("focal_star", {"gamma": 0.1, "beta": -3.0}),
    ("softmax_focal", {"gamma": 0.0, "alpha": (0.0, 1.0, 2.5)}),
    ("softmax_focal", {"alpha": [0.2, 0.8], "background_class": 0}),
    ("huber", {"delta": 1e-3}),
    ("pseudo_huber", {"delta": 1e3}),
    ("pinball", {"quantile": 1e-3}),
    ("pinball", {"quantile": 0.999}),
]

DEFAULTS = {
    "focal": {"gamma": 2.0, "alpha": 0.25},
    "focal_star": {"gamma": 2.0, "beta": 1.0},
    "softmax_focal": {"gamma": 2.0, "alpha": None, "background_class": None},
    "huber": {"delta": 1.0},
    "pseudo_huber": {"delta": 1.0},
    "pinball": {"quantile": 0.5},
}


def _bad_params() -> list[Any]:
    return [
        pytest.param(name, param, value, id=f"{name}-{param}={value!r}")
        for name, param, values in BAD
        for value in values
    ]


@pytest.mark.parametrize(("name", "param", "value"), _bad_params())
def test_bad_hyperparameter_is_a_value_error_naming_it(name: str, param: str, value: Any) -> None:
    with pytest.raises(ValueError, match=param):
        losslab.get_loss(name, **{param: value})
    with pytest.raises(ValueError, match=param):
        losslab.LOSSES[name](**{param: value})


@pytest.mark.parametrize(("name", "params"), GOOD, ids=lambda v: repr(v).replace(" ", ""))
def test_good_hyperparameters_are_kept(name: str, params: dict[str, Any]) -> None:
    loss = losslab.get_loss(name, **params)
    for key, value in params.items():
        got = getattr(loss, key)
        if isinstance(value, (list, tuple)):
            assert tuple(got) == tuple(value)
        else:
            assert got == value
    assert loss == losslab.LOSSES[name](**params)
    assert hash(loss) == hash(losslab.LOSSES[name](**params))


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_defaults(name: str) -> None:
    loss = losslab.get_loss(name)
    for key, value in DEFAULTS[name].items():
        assert getattr(loss, key) == value, key


@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_losses_are_frozen_dataclasses(name: str) -> None:
    loss = losslab.get_loss(name)
    assert dataclasses.is_dataclass(loss)
    fields = [f.name for f in dataclasses.fields(loss)]
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(loss, fields[0], getattr(loss, fields[0]))
    assert loss == losslab.get_loss(name)


def test_softmax_focal_alpha_length_must_match_the_classes() -> None:
    loss = losslab.get_loss("softmax_focal", alpha=(0.25, 0.75))
    z = np.zeros((4, 3))
    y = np.array([0, 1, 2, 1])
    for method in ("loss", "gradient", "hessian", "loss_gradient_hessian", "__call__"):
        with pytest.raises(ValueError, match="alpha"):
            getattr(loss, method)(y, z)


def test_softmax_focal_background_class_must_be_a_class() -> None:
    loss = losslab.get_loss("softmax_focal", background_class=3)
    z = np.zeros((4, 3))
    y = np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match="background_class"):
        loss(y, z, reduction="positives")


def test_get_loss_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="not_a_loss") as info:
        losslab.get_loss("not_a_loss")
    for name in losslab.LOSSES:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("name", "bad", "allowed"),
    [
        ("focal", "gama", ("gamma", "alpha")),
        ("huber", "epsilon", ("delta",)),
        ("pinball", "tau", ("quantile",)),
        ("softmax_focal", "background", ("gamma", "alpha", "background_class")),
        ("log_loss", "gamma", ()),
    ],
)
def test_get_loss_unknown_parameter_lists_the_allowed_ones(
    name: str, bad: str, allowed: tuple[str, ...]
) -> None:
    with pytest.raises(TypeError, match=bad) as info:
        losslab.get_loss(name, **{bad: 1.0})
    for param in allowed:
        assert param in str(info.value)


def test_get_loss_rejects_non_string_names() -> None:
    with pytest.raises((TypeError, ValueError), match=r"(?i)name|loss"):
        losslab.get_loss(None)  # type: ignore[arg-type]
