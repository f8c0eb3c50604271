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

jax.config.update("jax_enable_x64", True)

GAMMAS = [0.0, 0.25, 0.5, 1.0, 2.0, 5.0]


def _sample(name: str, n: int, rng: np.random.Generator) -> tuple[Any, Any]:
    loss = losslab.get_loss(name)
    if loss.is_multiclass:
        return jnp.asarray(rng.integers(0, 4, n)), jnp.asarray(rng.normal(size=(n, 4)) * 3)
    z = jnp.asarray(rng.normal(size=n) * 3)
    if name in ("log_loss", "focal", "focal_star"):
        y = rng.integers(0, 2, n).astype(float)
        y[:2] = [0.3, 0.8]
        return jnp.asarray(y), z
    return jnp.asarray(rng.normal(size=n)), z


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
