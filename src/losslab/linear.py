"""Linear models fitted with any losslab loss: scikit-learn estimators that need no scikit-learn.

``LossRegressor`` and ``LossClassifier`` minimise a weighted mean loss plus an L2 penalty with
SciPy's optimisers (L-BFGS-B, or a trust-region Newton method fed the loss's exact Hessian).
They implement scikit-learn's estimator protocol (``fit`` / ``predict`` / ``score`` /
``get_params`` / ``set_params`` with nested ``loss__<name>``, ``__sklearn_tags__``, fitted
attributes ending in ``_``, its input-validation messages) and pass its ``check_estimator``,
but importing or fitting them does not import scikit-learn: it is imported only where
scikit-learn itself asks (the tags) or for its exception and warning classes when it is
installed. Documented in ``docs/linear.md``.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

import losslab

__all__ = ["LossClassifier", "LossRegressor"]

FloatArray = NDArray[np.float64]

_SOLVERS = ("lbfgs", "newton")


def _as_2d(X: ArrayLike) -> FloatArray:
    """X as a float64 (n, d) array, with scikit-learn's messages for what it refuses.

    Raises
    ------
    TypeError
        Sparse X (dense data is required).
    ValueError
        Complex or non-numeric X, not 2-D, no rows or no columns, NaN or infinite values.
    """
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(
            "Sparse data was passed for X, but dense data is required. Use '.toarray()' to "
            "convert to a dense numpy array."
        )
    raw = np.asarray(X)
    if np.iscomplexobj(raw):
        raise ValueError("Complex data not supported")
    arr = raw.astype(np.float64)  # non-numbers raise NumPy's TypeError / ValueError
    if arr.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {arr.ndim}D array instead: X must be a 2-D array "
            f"(n_samples, n_features), got shape {arr.shape}. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) "
            "if it contains a single sample."
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if not np.all(np.isfinite(arr)):
        what = "NaN" if np.any(np.isnan(arr)) else "infinity"
        raise ValueError(f"Input X contains {what}: X contains NaN or infinite values")
    return arr


def _as_1d_y(y: ArrayLike | None, n: int) -> NDArray[Any]:
    """y as a 1-D array of n values; a column vector is raveled with scikit-learn's warning.

    Raises
    ------
    ValueError
        y is None or not of shape (n,) / (n, 1).
    """
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is raveled.",
            _data_conversion_warning(),
            stacklevel=3,
        )
        arr = arr.ravel()
    if arr.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {arr.shape}")
    return arr


def _data_conversion_warning() -> type[Warning]:
    try:
        from sklearn.exceptions import DataConversionWarning
    except ImportError:  # pragma: no cover - scikit-learn is optional
        return UserWarning
    warning: type[Warning] = DataConversionWarning
    return warning


def _not_fitted_error(message: str) -> ValueError:
    """scikit-learn's NotFittedError (a ValueError) when installed, else a ValueError."""
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:  # pragma: no cover - scikit-learn is optional
        return ValueError(message)
    error: ValueError = NotFittedError(message)
    return error


def _is_real(value: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


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

    def __init__(
        self,
        loss: str | losslab.Loss = "half_squared_error",
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
    _estimator_kind = "regressor"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags (imported here: only scikit-learn asks for them): a regressor,
        or a binary-only classifier; dense 2-D float input; no NaN."""
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        classifier = self._estimator_kind == "classifier"
        return Tags(
            estimator_type=self._estimator_kind,
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=False) if classifier else None,
            regressor_tags=None if classifier else RegressorTags(),
            input_tags=InputTags(),
        )

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters; with ``deep`` and a loss object, also its
        hyperparameters as ``loss__<name>`` (scikit-learn's nested parameters)."""
        params = {name: getattr(self, name) for name in self._get_param_names()}
        if deep and isinstance(self.loss, losslab.Loss):
            params.update({f"loss__{k}": v for k, v in self.loss.get_params().items()})
        return params

    def set_params(self, **params: Any) -> _LossLinearModel:
        """Set constructor parameters; ``loss__<name>=value`` replaces the loss by one with
        that hyperparameter changed (a registry name becomes a loss object). Returns self.

        Raises
        ------
        ValueError
            An unknown parameter name.
        """
        valid = self._get_param_names()
        nested = {k[len("loss__") :]: params.pop(k) for k in list(params) if k.startswith("loss__")}
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r}; valid parameters: {valid}")
            setattr(self, key, value)
        if nested:
            self.loss = self._make_loss(check_kind=False).replace(**nested)
            self.loss_params = None
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    # -- fitting ---------------------------------------------------------------------------
    def _make_loss(self, *, check_kind: bool = True) -> losslab.Loss:
        """The loss: a loss object (``loss_params`` then replace its hyperparameters) or a
        registry name with ``loss_params``.

        Raises
        ------
        TypeError
            ``loss`` is neither a loss object nor a string.
        ValueError
            A multiclass loss (with ``check_kind``), an unknown name or parameter value.
        """
        params = self.loss_params or {}
        if isinstance(self.loss, losslab.Loss):
            loss = self.loss.replace(**params) if params else self.loss
        elif isinstance(self.loss, str):
            loss = losslab.get_loss(self.loss, **params)
        else:
            raise TypeError(
                f"loss must be a losslab loss or a registry name, got {type(self.loss).__name__}"
            )
        if check_kind and loss.kind == "multiclass":
            raise ValueError(
                f"{loss.name!r} is a multiclass loss; linear models take element-wise losses"
            )
        return loss

    def _check_hyper(self) -> None:
        """Raise ValueError naming a constructor parameter outside its domain."""
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if not _is_real(self.l2) or not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {self.l2!r}")
        if not _is_real(self.tol) or not (math.isfinite(self.tol) and self.tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}")
        max_iter: Any = self.max_iter  # any object may have been set
        if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not isinstance(self.fit_intercept, bool | np.bool_):
            raise ValueError(f"fit_intercept must be True or False, got {self.fit_intercept!r}")

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
            raise _not_fitted_error(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' first."
            )

    def _raw(self, X: ArrayLike) -> FloatArray:
        """Raw predictions ``X @ coef_ + intercept_``, shape (n_samples,)."""
        self._check_fitted()
        Xa = _as_2d(X)
        if Xa.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {Xa.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        out: FloatArray = Xa @ self.coef_ + self.intercept_
        return out


class LossRegressor(_LossLinearModel):
    """Linear regression with any element-wise losslab loss and an optional L2 penalty.

    Parameters
    ----------
    loss : a losslab loss object (``losslab.get_loss("huber", delta=0.5)``) or a registry
        name (``"half_squared_error"``, ``"absolute_error"``, ``"huber"``, ``"pseudo_huber"``,
        ``"log_cosh"``, ``"pinball"``, ``"half_poisson"``, ...). A loss object's
        hyperparameters are the nested parameters ``loss__<name>`` (grid searches).
    loss_params : hyperparameters for a registry name (e.g. ``{"delta": 1.0}``), or changes
        to a loss object's.
    l2 : penalty ``l2 / 2 * ||coef||^2`` added to the weighted mean loss (intercept excluded).
    fit_intercept : fit an unpenalised intercept (started at ``loss.fit_intercept_only(y)``).
    solver : ``"lbfgs"`` (SciPy L-BFGS-B with losslab gradients) or ``"newton"`` (SciPy
        ``trust-exact`` with losslab gradients and Hessians).
    max_iter, tol : optimiser iteration limit (an integer >= 1) and gradient tolerance (a
        finite number >= 0).

    Fitted attributes: ``coef_`` (n_features,), ``intercept_``, ``n_iter_``, ``converged_``,
    ``objective_``, ``objective_path_`` (objective after each iteration), ``message_``,
    ``loss_``, ``n_features_in_``.

    ``score`` is R^2. Raises ``ValueError`` (scikit-learn's messages) for bad shapes, non-finite
    inputs, bad weights, a parameter outside its domain (``tol=-1``, ``max_iter=1.5``,
    ``fit_intercept="no"``) or a multiclass loss, ``TypeError`` for sparse X;
    ``losslab.get_loss`` raises for an unknown loss or parameter.
    """

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> LossRegressor:
        """Fit the model to ``X`` (n, d) and ``y`` (n,), optionally weighted; returns self."""
        Xa = _as_2d(X)
        ya = _as_1d_y(y, Xa.shape[0]).astype(np.float64)
        if not np.all(np.isfinite(ya)):
            raise ValueError("Input y contains NaN or infinity: y contains NaN or infinite values")
        self._fit(Xa, ya, _as_weights(sample_weight, Xa.shape[0]))
        return self

    def predict(self, X: ArrayLike) -> FloatArray:
        """Predictions ``link.inverse(X @ coef_ + intercept_)``, shape (n_samples,)."""
        raw = self._raw(X)
        return np.asarray(self.loss_.link.inverse(raw), dtype=np.float64)

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """The coefficient of determination R^2 of :meth:`predict` (scikit-learn's
        ``r2_score``: ``1 - sum w (y - pred)^2 / sum w (y - mean_w(y))^2``; 1.0 when y is
        constant and predicted exactly, 0.0 when constant and not)."""
        pred = self.predict(X)
        ya = _as_1d_y(y, pred.shape[0]).astype(np.float64)
        w = _as_weights(sample_weight, pred.shape[0])
        residual = float(np.sum(w * (ya - pred) ** 2))
        total = float(np.sum(w * (ya - np.average(ya, weights=w)) ** 2))
        if total == 0.0:
            return 1.0 if residual == 0.0 else 0.0
        return 1.0 - residual / total


class LossClassifier(_LossLinearModel):
    """Binary linear classifier with a binary losslab loss (``log_loss``, ``focal``, ...).

    Same parameters as :class:`LossRegressor`, with ``loss="log_loss"`` by default (any binary
    loss: ``focal``, ``focal_star``, ``poly1``, ...). Any two distinct labels are accepted;
    ``classes_`` holds them sorted and the second is the positive class. ``predict_proba``
    returns (n_samples, 2) columns ``[1 - p, p]`` with ``p`` the loss's inverse link of
    ``X @ coef_ + intercept_`` (``decision_function``); ``score`` is the accuracy.

    Raises ``ValueError`` when ``y`` does not have exactly two classes ("Only binary
    classification is supported" for more, "Unknown label type" for continuous y), or the
    loss is not a binary loss.
    """

    _estimator_kind = "classifier"

    def __init__(
        self,
        loss: str | losslab.Loss = "log_loss",
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
        ya = _as_1d_y(y, Xa.shape[0])
        if ya.dtype.kind in "fc" and not np.all(np.isfinite(ya)):
            raise ValueError("Input y contains NaN or infinity: labels must be finite")
        classes, y01 = np.unique(ya, return_inverse=True)
        if ya.dtype.kind == "f" and classes.size > 2 and np.any(classes != np.round(classes)):
            raise ValueError("Unknown label type: continuous; y must hold class labels")
        if classes.size > 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"multiclass: LossClassifier needs exactly two classes, got {classes.size}"
            )
        if classes.size != 2:
            raise ValueError(
                f"LossClassifier needs exactly two classes, got {classes.size} class(es)"
            )
        loss = self._make_loss()
        if loss.kind != "binary":
            raise ValueError(f"{loss.name!r} is not a binary loss (a logit link)")
        self.classes_: NDArray[Any] = classes
        self._fit(Xa, y01.astype(np.float64), _as_weights(sample_weight, Xa.shape[0]))
        return self

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """Raw predictions (logits) ``X @ coef_ + intercept_``, shape (n_samples,)."""
        return self._raw(X)

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """Class probabilities, shape (n_samples, 2), columns in the order of ``classes_``."""
        raw = self._raw(X)
        p1 = np.asarray(self.loss_.link.inverse(raw), dtype=np.float64)
        p0 = np.asarray(self.loss_.link.inverse(-raw), dtype=np.float64)
        return np.column_stack([p0, p1])

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predicted labels: ``classes_[1]`` where the raw prediction is >= 0."""
        raw = self._raw(X)
        out: NDArray[Any] = self.classes_[(raw >= 0).astype(np.intp)]
        return out

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """The (weighted) accuracy of :meth:`predict` (scikit-learn's ``accuracy_score``)."""
        pred = self.predict(X)
        ya = _as_1d_y(y, pred.shape[0])
        w = _as_weights(sample_weight, pred.shape[0])
        return float(np.sum(w * (pred == ya)) / np.sum(w))
