"""Sample data and array helpers shared by the contract, backend and property tests.

Every registered loss gets valid ``(y_true, raw_prediction)`` pairs from :func:`make_case`:
binary targets mix hard labels and soft labels, multiclass targets come as class indices or
as probabilities, and regression residuals keep a margin from the loss's kinks so that finite
differences are meaningful there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

import losslab

N_CLASSES = 3


def loss_id(name: str, params: dict[str, Any]) -> str:
    """Readable test id: ``focal(gamma=0.5,alpha=None)``."""
    if not params:
        return name
    inner = ",".join(f"{k}={v!r}".replace(" ", "") for k, v in params.items())
    return f"{name}({inner})"


def loss_specs(*, variants: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """Every registered loss with its defaults, then the examples each loss declares."""
    specs: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in sorted(losslab.LOSSES)]
    if variants:
        specs += [
            (name, dict(example))
            for name in sorted(losslab.LOSSES)
            for example in losslab.LOSSES[name].examples
        ]
    return specs


def loss_params(*, variants: bool = True) -> list[Any]:
    """``pytest.param`` objects of constructed losses with readable ids."""
    import pytest

    return [
        pytest.param(losslab.get_loss(name, **params), id=loss_id(name, params))
        for name, params in loss_specs(variants=variants)
    ]


def kind_of(loss: Any) -> str:
    """ "binary", "multiclass" or "regression": the loss's declared ``kind``."""
    return str(loss.kind)


def kinks(loss: Any) -> tuple[float, ...]:
    """Residuals r = raw_prediction - y_true where a derivative jumps (declared by the loss)."""
    return tuple(loss.kinks())


@dataclass
class Case:
    """Valid float64 NumPy inputs for one loss."""

    y: np.ndarray
    z: np.ndarray
    w: np.ndarray
    kind: str

    @property
    def n(self) -> int:
        return int(self.z.shape[0])


def _push_off_kinks(r: np.ndarray, ks: tuple[float, ...], margin: float) -> np.ndarray:
    r = r.copy()
    for k in ks:
        near = np.abs(r - k) < margin
        r[near] = k + np.where(r[near] >= k, margin, -margin)
    return r


def make_case(
    loss: Any,
    *,
    n: int = 24,
    seed: int = 0,
    target: str = "index",
    scale: float = 3.0,
    kink_margin: float = 0.05,
) -> Case:
    """Valid inputs for ``loss``: shapes (n,) or (n, K); weights in [0.5, 2] with one zero.

    ``target`` ("index" or "proba") chooses the multiclass target form; every class occurs.
    Binary targets: a third are soft labels, the rest 0 and 1. Regression residuals stay at
    least ``kink_margin`` away from the kinks of absolute / pinball / Huber.
    """
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 2.0, size=n)
    w[1] = 0.0
    kind = kind_of(loss)
    if kind == "multiclass":
        k = N_CLASSES
        z = rng.normal(scale=scale / 2, size=(n, k))
        idx = rng.permutation(np.arange(n) % k)
        if target == "index":
            y = idx.astype(np.int64)
        elif target == "proba":
            y = rng.dirichlet(np.ones(k), size=n)
            y[: n // 3] = np.eye(k)[idx[: n // 3]]  # some one-hot rows
        else:
            raise ValueError(target)
        return Case(y=y, z=z, w=w, kind=kind)
    if kind == "binary":
        y = rng.integers(0, 2, size=n).astype(np.float64)
        y[::3] = rng.uniform(0.05, 0.95, size=y[::3].shape)
        y[0], y[2] = 0.0, 1.0
        z = rng.normal(scale=scale, size=n)
        return Case(y=y, z=z, w=w, kind=kind)
    y = rng.normal(scale=2.0, size=n)
    domain = getattr(loss, "target_domain", None)  # declared by losses with bounded targets
    if domain is not None and domain.low > -math.inf:  # e.g. Poisson y >= 0, Gamma y > 0
        y = domain.low + np.abs(y) + (0.0 if domain.low_inclusive else 0.1)
        if domain.low_inclusive:
            y[0] = domain.low  # the bound itself (a zero count)
    r = rng.uniform(-scale, scale, size=n)
    r = _push_off_kinks(r, kinks(loss), kink_margin)
    z = y + r
    # The residual the library sees is fl(z - y); keep the margin for that one too.
    r_seen = z - y
    assert all(abs(r_seen - k).min() >= kink_margin / 2 for k in kinks(loss))
    return Case(y=y, z=z, w=w, kind=kind)


def targets(loss: Any) -> list[str]:
    """Target forms to test: both for multiclass losses, one otherwise."""
    return ["index", "proba"] if loss.is_multiclass else ["index"]


def weighted(out: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``w * out`` with w broadcast over the class axis of multiclass outputs."""
    return out * (w.reshape(w.shape + (1,) * (out.ndim - w.ndim)))


# ------------------------------------------------------------------ backend helpers


def asarray(xp: Any, x: Any, dtype: Any = None) -> Any:
    """Copy NumPy data into namespace ``xp`` (Dask: several chunks)."""
    x = np.array(x, copy=True)
    if xp.__name__.startswith("dask"):
        chunks = max(1, x.shape[0] // 3) if x.ndim else ()
        out = xp.from_array(x, chunks=chunks if x.ndim else ())
        return out if dtype is None else out.astype(dtype)
    return xp.asarray(x) if dtype is None else xp.asarray(x, dtype=dtype)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of any backend's array (float64 for low-precision floats)."""
    if isinstance(x, (float, int)):
        return np.asarray(x)
    if array_api_compat.is_torch_array(x):
        x = x.detach().cpu()
        if x.dtype.is_floating_point and x.element_size() < 4:
            x = x.float()
        return x.numpy().copy()
    if array_api_compat.is_dask_array(x):
        x = x.compute()
    if type(x).__module__.startswith("array_api_strict"):
        import array_api_strict

        x = x.to_device(array_api_strict.Device("CPU_DEVICE"))
    out = np.asarray(x)
    if out.dtype.kind == "V" or str(out.dtype) == "bfloat16":
        out = out.astype(np.float32)
    return out.copy()


def finfo_eps(dtype: Any) -> float:
    return float(np.finfo(np.dtype(dtype)).eps)


def as_tuple(out: Any) -> tuple[Any, ...]:
    return out if isinstance(out, tuple) else (out,)


METHODS = ("loss", "gradient", "hessian")
FUSED = {
    "loss_gradient": ("loss", "gradient"),
    "gradient_hessian": ("gradient", "hessian"),
    "loss_gradient_hessian": ("loss", "gradient", "hessian"),
}
ALL_METHODS = METHODS + tuple(FUSED)


def stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """Reference sigmoid computed from the sign of z (no overflow)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)
