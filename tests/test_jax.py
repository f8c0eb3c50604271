"""losslab.jax: analytic JVPs under jit, vmap, grad and hessian, in float32 and float64.

The reference for every derivative is JAX autodiff of the core's generic (NaN-free) formulas.
conftest.py enables x64; float32 inputs are still float32 there.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import losslab
import losslab.jax as lj
from _cases import make_case

jax.config.update("jax_enable_x64", True)

GAMMAS = [0.0, 0.25, 0.5, 1.0, 2.0, 5.0]


def _sample(name: str, n: int, rng: np.random.Generator) -> tuple[Any, Any]:
    """Valid inputs for any registered loss (tests/_cases.py)."""
    case = make_case(losslab.get_loss(name), n=n, seed=int(rng.integers(1 << 30)))
    return jnp.asarray(case.y), jnp.asarray(case.z)


def test_one_function_per_registered_loss() -> None:
    for name in losslab.LOSSES:
        assert callable(getattr(lj, name))
        assert name in lj.__all__


@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_grad_and_hessian_match_autodiff_of_the_generic_formulas(name: str) -> None:
    rng = np.random.default_rng(5)
    y, z = _sample(name, 6, rng)
    core = losslab.get_loss(name)

    def ours(zz: Any) -> Any:
        return lj.reduce(core, zz, y, reduction="sum")

    def reference(zz: Any) -> Any:
        return jnp.sum(core.loss(y, zz, validate=False))

    np.testing.assert_allclose(jax.jit(ours)(z), reference(z), rtol=1e-13)
    np.testing.assert_allclose(
        jax.jit(jax.grad(ours))(z), jax.grad(reference)(z), rtol=1e-11, atol=1e-14
    )
    np.testing.assert_allclose(
        jax.jit(jax.hessian(ours))(z), jax.hessian(reference)(z), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_focal_is_finite_to_second_order_at_extreme_logits(gamma: float, dtype: str) -> None:
    zs = [-100.0, -40.0, -17.0, 0.0, 17.0, 40.0, 100.0]
    z = jnp.asarray(zs * 2, dtype=dtype)
    y = jnp.asarray([1.0] * 7 + [0.0] * 7, dtype=dtype)

    def f(zz: Any) -> Any:
        return lj.focal(zz, y, gamma=gamma, alpha=0.25, reduction="sum")

    g = jax.jit(jax.grad(f))(z)
    h = jax.jit(jax.hessian(f))(z)
    assert g.dtype == jnp.dtype(dtype)
    assert bool(jnp.all(jnp.isfinite(g)))
    assert bool(jnp.all(jnp.isfinite(h)))
    core = losslab.get_loss("focal", gamma=gamma, alpha=0.25)
    g_ref, h_ref = core.gradient_hessian(np.asarray(y), np.asarray(z))
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(g, g_ref, rtol=tol, atol=1e-30)
    np.testing.assert_allclose(np.diag(np.asarray(h)), h_ref, rtol=tol, atol=1e-30)


def test_vmap_over_a_batch_of_problems() -> None:
    rng = np.random.default_rng(6)
    z = jnp.asarray(rng.normal(size=(5, 8)) * 3)
    y = jnp.asarray((rng.random((5, 8)) < 0.3).astype(float))
    batched = jax.vmap(jax.grad(lambda zz, yy: lj.focal(zz, yy, reduction="sum")))(z, y)
    rows = np.stack(
        [losslab.get_loss("focal").gradient(np.asarray(y[i]), np.asarray(z[i])) for i in range(5)]
    )
    np.testing.assert_allclose(batched, rows, rtol=1e-12)


def test_reductions() -> None:
    z = jnp.asarray([0.5, -1.0, 2.0, 3.0])
    y = jnp.asarray([0.0, 1.0, 1.0, 0.0])
    w = jnp.asarray([1.0, 2.0, 5.0, 1.0])
    per = np.asarray(losslab.get_loss("focal").loss(np.asarray(y), np.asarray(z)))
    np.testing.assert_allclose(lj.focal(z, y), per, rtol=1e-14)
    np.testing.assert_allclose(lj.focal(z, y, reduction="sum"), per.sum(), rtol=1e-14)
    np.testing.assert_allclose(
        lj.focal(z, y, sample_weight=w, reduction="mean"), (per * w).sum() / w.sum(), rtol=1e-14
    )
    np.testing.assert_allclose(lj.focal(z, y, reduction="positives"), per.sum() / 2.0, rtol=1e-14)
    with pytest.raises(ValueError, match="reduction"):
        lj.huber(z, y, reduction="positives")
    with pytest.raises(ValueError, match="sample_weight"):
        lj.focal(z, y, sample_weight=jnp.ones(3))
    with pytest.raises(ValueError, match="same shape"):
        lj.focal(z[:, None], y)
    with pytest.raises(TypeError, match="floating"):
        lj.focal(jnp.asarray([1, 2, 3, 4]), y)


def test_training_loop_on_imbalanced_data_converges() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    y = (rng.random(n) < 0.02).astype(np.float32)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    x[:, 0] += 4.0 * y
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    params = (jnp.zeros(2, dtype=jnp.float32), jnp.asarray(-np.log(99.0), dtype=jnp.float32))

    def objective(p: Any) -> Any:
        w, b = p
        return lj.focal(xj @ w + b, yj, gamma=0.5, alpha=0.25, reduction="positives")

    step = jax.jit(jax.value_and_grad(objective))
    losses = []
    for _ in range(150):
        value, grads = step(params)
        params = tuple(p - 0.5 * g for p, g in zip(params, grads, strict=True))
        losses.append(float(value))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0]
    scores = np.asarray(xj @ params[0] + params[1])
    assert scores[y == 1].mean() > scores[y == 0].mean() + 2.0


def _core_sum(name: str, y: Any, z: Any, **params: Any) -> float:
    core = losslab.get_loss(name, **params)
    return float(core(np.asarray(y), np.asarray(z), reduction="sum", validate=False))


def test_focal_hyperparameters_may_be_traced() -> None:
    rng = np.random.default_rng(8)
    z = jnp.asarray(rng.normal(size=40) * 4)
    y = jnp.asarray((rng.random(40) < 0.3).astype(float)).at[:6].set(0.35)  # some soft labels
    yn, zn = np.asarray(y), np.asarray(z)

    # jit with gamma and alpha as arguments (one compilation serves every value)
    f = jax.jit(lambda zz, g, a: lj.focal(zz, y, gamma=g, alpha=a, reduction="sum"))
    for gamma, alpha in [(2.0, 0.25), (0.5, 0.75), (0.0, 0.5)]:
        np.testing.assert_allclose(
            f(z, gamma, alpha), _core_sum("focal", y, z, gamma=gamma, alpha=alpha), rtol=1e-12
        )
    # vmap over gamma
    gammas = jnp.asarray([0.0, 0.25, 1.0, 2.0, 3.5])
    batched = jax.vmap(lambda g: lj.focal(z, y, gamma=g, reduction="sum"))(gammas)
    expected = [_core_sum("focal", y, z, gamma=float(g)) for g in gammas]
    np.testing.assert_allclose(batched, expected, rtol=1e-12)
    # grad with respect to gamma and alpha against central differences of the core
    dg, da = jax.grad(lambda g, a: lj.focal(z, y, gamma=g, alpha=a, reduction="sum"), (0, 1))(
        0.5, 0.25
    )
    h = 1e-6
    fd_g = (_core_sum("focal", y, z, gamma=0.5 + h) - _core_sum("focal", y, z, gamma=0.5 - h)) / (
        2 * h
    )
    fd_a = (
        _core_sum("focal", y, z, gamma=0.5, alpha=0.25 + h)
        - _core_sum("focal", y, z, gamma=0.5, alpha=0.25 - h)
    ) / (2 * h)
    np.testing.assert_allclose([dg, da], [fd_g, fd_a], rtol=1e-7)
    # derivatives in the logits stay the core's analytic ones with a traced gamma
    core = losslab.get_loss("focal", gamma=0.5)
    gz = jax.jit(jax.grad(lambda zz, g: lj.focal(zz, y, gamma=g, reduction="sum")))(z, 0.5)
    hz = jax.jit(jax.hessian(lambda zz, g: lj.focal(zz, y, gamma=g, reduction="sum")))(z, 0.5)
    g_ref, h_ref = core.gradient_hessian(yn, zn)
    np.testing.assert_allclose(gz, g_ref, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.diag(np.asarray(hz)), h_ref, rtol=1e-9, atol=1e-300)
    # a concrete 0-d array is a number
    np.testing.assert_allclose(
        lj.focal(z, y, gamma=jnp.asarray(2.0), reduction="sum"),
        _core_sum("focal", y, z),
        rtol=1e-12,
    )


@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_traced_real_hyperparameters_work_or_say_why(name: str) -> None:
    """Every real hyperparameter may be a traced value (jit argument, grad variable) with the
    core's value, or the loss says in a TypeError that its formula branches on it (Tweedie's
    power: scikit-learn switches formula at p = 0, 1, 2)."""
    core = losslab.get_loss(name)
    real = [
        p
        for p in core.parameters()
        if p.kind in ("real", "optional_real") and getattr(core, p.name) is not None
    ]
    y, z = _sample(name, 12, np.random.default_rng(9))
    fn = getattr(lj, name)
    for spec in real:
        param = spec.name
        value = float(getattr(core, param))
        try:
            traced = jax.jit(lambda v, param=param: fn(z, y, reduction="sum", **{param: v}))(value)
        except TypeError as exc:
            message = str(exc)
        else:
            message = ""
        if message:  # not supported by this loss's formula: a clear message, not a tracer error
            assert param in message
            assert "traced" in message
            assert (name, param) == ("half_tweedie", "power"), message
            continue
        np.testing.assert_allclose(traced, _core_sum(name, y, z), rtol=1e-12)
        d = jax.grad(lambda v, param=param: fn(z, y, reduction="sum", **{param: v}))(value)
        assert bool(jnp.isfinite(d))


def test_labels_broadcast_as_in_optax() -> None:
    rng = np.random.default_rng(10)
    z = jnp.asarray(rng.normal(size=(6, 3)) * 2)
    y_col = jnp.asarray((rng.random((6, 1)) < 0.5).astype(float))
    full = jnp.broadcast_to(y_col, (6, 3))
    np.testing.assert_allclose(lj.focal(z, y_col), lj.focal(z, full), rtol=1e-15)
    g1 = jax.grad(lambda zz: lj.log_loss(zz, y_col, reduction="sum"))(z)
    g2 = jax.grad(lambda zz: lj.log_loss(zz, full, reduction="sum"))(z)
    np.testing.assert_allclose(g1, g2, rtol=1e-15)
    np.testing.assert_allclose(lj.focal(z, 1.0), lj.focal(z, jnp.ones((6, 3))), rtol=1e-15)
    # logits never broadcast to the labels: (N, 1) logits against (N,) labels is an error
    with pytest.raises(ValueError, match="broadcast"):
        lj.focal(z[:, :1], y_col[:, 0])


@pytest.mark.parametrize("target", ["index", "proba"])
def test_softmax_focal_gamma_may_be_traced(target: str) -> None:
    case = make_case(losslab.get_loss("softmax_focal"), n=15, seed=13, target=target)
    z, y = jnp.asarray(case.z * 3), jnp.asarray(case.y)
    alpha = (0.2, 0.3, 0.5)

    def f(zz: Any, g: Any) -> Any:
        return lj.softmax_focal(zz, y, gamma=g, alpha=alpha, reduction="sum")

    for gamma in (0.0, 0.5, 2.0):
        core = losslab.get_loss("softmax_focal", gamma=gamma, alpha=alpha)
        np.testing.assert_allclose(
            jax.jit(f)(z, gamma),
            _core_sum("softmax_focal", y, z, gamma=gamma, alpha=alpha),
            rtol=1e-12,
        )
        np.testing.assert_allclose(
            jax.jit(jax.grad(f))(z, gamma),
            core.gradient(np.asarray(y), np.asarray(z)),
            rtol=1e-11,
            atol=1e-14,
        )
        # the Hessian with a traced gamma equals the one with a concrete gamma
        h_traced = jax.jit(jax.hessian(f))(z, gamma)
        h_concrete = jax.hessian(
            lambda zz, g=gamma: lj.softmax_focal(zz, y, gamma=g, alpha=alpha, reduction="sum")
        )(z)
        np.testing.assert_allclose(h_traced, h_concrete, rtol=1e-9, atol=1e-12)
    d = jax.grad(f, argnums=1)(z, 1.0)
    h = 1e-6
    fd = (
        _core_sum("softmax_focal", y, z, gamma=1.0 + h, alpha=alpha)
        - _core_sum("softmax_focal", y, z, gamma=1.0 - h, alpha=alpha)
    ) / (2 * h)
    np.testing.assert_allclose(d, fd, rtol=1e-7)
