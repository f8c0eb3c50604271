"""Linear models fitted with any losslab loss (a scikit-learn-style estimator without scikit-learn).

``LossRegressor`` and ``LossClassifier`` minimise a weighted mean loss plus an L2 penalty with
SciPy's optimisers (L-BFGS-B, or a trust-region Newton method fed the loss's exact Hessian). They
follow scikit-learn's estimator conventions (``fit`` / ``predict`` / ``get_params`` /
``set_params``, fitted attributes ending in ``_``) but never import scikit-learn.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

import losslab

__all__ = ["LossClassifier", "LossRegressor"]

FloatArray = NDArray[np.float64]

_SOLVERS = ("lbfgs", "newton")


def _as_2d(X: ArrayLike) -> FloatArray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("X has no rows")
    if not np.all(np.isfinite(arr)):
        raise ValueError("X contains NaN or infinite values")
    return arr


def _as_weights(sample_weight: ArrayLike | None, n: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if w.sum() <= 0:
        raise ValueError("sample_weight sums to zero")
    return w


class _LossLinearModel:
    """Shared fitting code: minimise ``mean_w L(y, X w + b) + l2 / 2 * ||w||^2``.

    Objective, gradient and Hessian with ``s`` the weights normalised to sum to one, ``g`` and
    ``h`` the element-wise gradient and Hessian of the loss at ``z = X w + b``:

        f = sum_i s_i L(y_i, z_i) + l2 / 2 ||w||^2
        df/dw = X^T (s * g) + l2 w,        df/db = sum_i s_i g_i
        d2f/dw2 = X^T diag(s * h) X + l2 I (the intercept row and column use a column of ones)

    The intercept is not penalised.
    """

    _default_loss = "half_squared_error"

    def __init__(
        self,
        loss: str = "half_squared_error",
        *,
        loss_params: dict[str, Any] | None = None,
        l2: float = 0.0,
        fit_intercept: bool = True,
        solver: str = "lbfgs",
        max_iter: int = 1000,
        tol: float = 1e-10,
    ) -> None:
        self.loss = loss
        self.loss_params = loss_params
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    # -- scikit-learn protocol -------------------------------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters as a dict (``deep`` is accepted for compatibility)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> _LossLinearModel:
        """Set constructor parameters; raises ``ValueError`` for an unknown name. Returns self."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r}; valid parameters: {valid}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting ---------------------------------------------------------------------------
    def _make_loss(self) -> Any:
        loss = losslab.get_loss(self.loss, **(self.loss_params or {}))
        if getattr(loss, "is_multiclass", False):
            raise ValueError(
                f"{self.loss!r} is a multiclass loss; linear models take element-wise losses"
            )
        return loss

    def _check_hyper(self) -> None:
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if not (np.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2 must be finite and >= 0, got {self.l2!r}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter!r}")

    def _fit(self, X: FloatArray, y: FloatArray, w: FloatArray) -> None:
        from scipy import optimize

        self._check_hyper()
        loss = self._make_loss()
        n, d = X.shape
        s = w / w.sum()
        l2 = float(self.l2)
        fit_b = bool(self.fit_intercept)

        def split(theta: FloatArray) -> tuple[FloatArray, float]:
            return theta[:d], (float(theta[d]) if fit_b else 0.0)

        def fun_grad(theta: FloatArray) -> tuple[float, FloatArray]:
            coef, b = split(theta)
            z = X @ coef + b
            value, grad = loss.loss_gradient(y, z, validate=False)
            value = np.asarray(value, dtype=np.float64)
            gs = s * np.asarray(grad, dtype=np.float64)
            out = np.empty_like(theta)
            out[:d] = X.T @ gs + l2 * coef
            if fit_b:
                out[d] = gs.sum()
            return float(s @ value + 0.5 * l2 * coef @ coef), out

        def hess(theta: FloatArray) -> FloatArray:
            coef, b = split(theta)
            z = X @ coef + b
            h = s * np.asarray(loss.hessian(y, z, validate=False), dtype=np.float64)
            Xa = np.hstack([X, np.ones((n, 1))]) if fit_b else X
            H: FloatArray = (Xa * h[:, None]).T @ Xa
            H[np.arange(d), np.arange(d)] += l2
            return H

        theta0 = np.zeros(d + (1 if fit_b else 0))
        if fit_b:
            b0 = float(loss.fit_intercept_only(y, sample_weight=w))
            theta0[d] = b0 if np.isfinite(b0) else 0.0
        path: list[float] = []

        def callback(intermediate_result: Any) -> None:
            path.append(float(intermediate_result.fun))

        with warnings.catch_warnings():
            # SciPy warns when a trust-region method meets a singular Hessian; the result's
            # success flag and message carry that information instead.
            warnings.simplefilter("ignore", category=RuntimeWarning)
            warnings.simplefilter("ignore", category=optimize.OptimizeWarning)
            if self.solver == "lbfgs":
                res = optimize.minimize(
                    fun_grad,
                    theta0,
                    jac=True,
                    method="L-BFGS-B",
                    callback=callback,
                    options={"maxiter": int(self.max_iter), "gtol": self.tol, "ftol": 1e-15},
                )
            else:
                res = optimize.minimize(
                    fun_grad,
                    theta0,
                    jac=True,
                    hess=hess,
                    method="trust-exact",
                    callback=callback,
                    options={"maxiter": int(self.max_iter), "gtol": self.tol},
                )
        coef, b = split(np.asarray(res.x, dtype=np.float64))
        self.coef_: FloatArray = coef.copy()
        self.intercept_: float = b
        self.n_iter_: int = int(res.nit)
        self.converged_: bool = bool(res.success)
        self.objective_: float = float(res.fun)
        self.objective_path_: list[float] = path
        self.message_: str = str(res.message)
        self.loss_: Any = loss
        self.n_features_in_: int = d

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """Raw predictions ``X @ coef_ + intercept_``, shape (n_samples,)."""
        self._check_fitted()
        Xa = _as_2d(X)
        if Xa.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {Xa.shape[1]} features, the model was fitted with {self.n_features_in_}"
            )
        out: FloatArray = Xa @ self.coef_ + self.intercept_
        return out


class LossRegressor(_LossLinearModel):
    """Linear regression with any element-wise losslab loss and an optional L2 penalty.

    Parameters
    ----------
    loss : registry name of the loss (``"half_squared_error"``, ``"absolute_error"``,
        ``"huber"``, ``"pseudo_huber"``, ``"log_cosh"``, ``"pinball"``, ...).
    loss_params : hyperparameters passed to ``losslab.get_loss`` (e.g. ``{"delta": 1.0}``).
    l2 : penalty ``l2 / 2 * ||coef||^2`` added to the weighted mean loss (intercept excluded).
    fit_intercept : fit an unpenalised intercept (started at ``loss.fit_intercept_only(y)``).
    solver : ``"lbfgs"`` (SciPy L-BFGS-B with losslab gradients) or ``"newton"`` (SciPy
        ``trust-exact`` with losslab gradients and Hessians).
    max_iter, tol : optimiser iteration limit and gradient tolerance.

    Fitted attributes: ``coef_`` (n_features,), ``intercept_``, ``n_iter_``, ``converged_``,
    ``objective_``, ``objective_path_`` (objective after each iteration), ``message_``,
    ``loss_``, ``n_features_in_``.

    Raises ``ValueError`` for bad shapes, non-finite inputs, bad weights, unknown solver or a
    multiclass loss; ``losslab.get_loss`` raises for an unknown loss or parameter.
    """

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> LossRegressor:
        """Fit the model to ``X`` (n, d) and ``y`` (n,), optionally weighted; returns self."""
        Xa = _as_2d(X)
        ya = np.asarray(y, dtype=np.float64)
        if ya.shape != (Xa.shape[0],):
            raise ValueError(f"y must have shape ({Xa.shape[0]},), got {ya.shape}")
        if not np.all(np.isfinite(ya)):
            raise ValueError("y contains NaN or infinite values")
        self._fit(Xa, ya, _as_weights(sample_weight, Xa.shape[0]))
        return self

    def predict(self, X: ArrayLike) -> FloatArray:
        """Predictions ``link.inverse(X @ coef_ + intercept_)``, shape (n_samples,)."""
        raw = self.decision_function(X)
        return np.asarray(self.loss_.link.inverse(raw), dtype=np.float64)


class LossClassifier(_LossLinearModel):
    """Binary linear classifier with a binary losslab loss (``log_loss``, ``focal``, ...).

    Same parameters as :class:`LossRegressor`, with ``loss="log_loss"`` by default. Any two
    distinct labels are accepted; ``classes_`` holds them sorted and the second is the positive
    class. ``predict_proba`` returns (n_samples, 2) columns ``[1 - p, p]`` with
    ``p = sigmoid(X @ coef_ + intercept_)``.

    Raises ``ValueError`` when ``y`` does not have exactly two classes, or the loss is not a
    binary loss with a logit link.
    """

    def __init__(
        self,
        loss: str = "log_loss",
        *,
        loss_params: dict[str, Any] | None = None,
        l2: float = 0.0,
        fit_intercept: bool = True,
        solver: str = "lbfgs",
        max_iter: int = 1000,
        tol: float = 1e-10,
    ) -> None:
        super().__init__(
            loss,
            loss_params=loss_params,
            l2=l2,
            fit_intercept=fit_intercept,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
        )

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> LossClassifier:
        """Fit to ``X`` (n, d) and two-class labels ``y`` (n,); returns self."""
        Xa = _as_2d(X)
        ya = np.asarray(y)
        if ya.shape != (Xa.shape[0],):
            raise ValueError(f"y must have shape ({Xa.shape[0]},), got {ya.shape}")
        classes, y01 = np.unique(ya, return_inverse=True)
        if classes.size != 2:
            raise ValueError(f"LossClassifier needs exactly two classes, got {classes.size}")
        loss = self._make_loss()
        if type(loss.link).__name__ != "LogitLink":
            raise ValueError(f"{self.loss!r} is not a binary loss with a logit link")
        self.classes_: NDArray[Any] = classes
        self._fit(Xa, y01.astype(np.float64), _as_weights(sample_weight, Xa.shape[0]))
        return self

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """Class probabilities, shape (n_samples, 2), columns in the order of ``classes_``."""
        p = np.asarray(self.loss_.link.inverse(self.decision_function(X)), dtype=np.float64)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predicted labels: ``classes_[1]`` where the raw prediction is >= 0."""
        raw = self.decision_function(X)
        out: NDArray[Any] = self.classes_[(raw >= 0).astype(np.intp)]
        return out
