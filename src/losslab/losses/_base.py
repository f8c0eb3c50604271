"""The loss object: one frozen dataclass per loss with value, gradient and Hessian.

:class:`Loss` holds what every loss shares: input conversion and validation, the choice between
the fused NumPy kernels and the generic array-API path, sample weights, reductions, and the
public method set. A concrete loss implements only ``_compute`` (value, gradient and Hessian
from one shared pass over the data), its target checks and ``_intercept``.

Conventions (``docs/conventions.md``): the first argument is always ``y_true``, the second the
raw prediction (logit for classification, the prediction itself for regression); options are
keyword-only; derivatives are taken with respect to the raw prediction; outputs have the
namespace, device and dtype of ``raw_prediction`` (float16 and bfloat16 are computed in float32).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np

from losslab import _kernels, _validate
from losslab._array_api import Array, concrete_bool, get_namespace, is_numpy_namespace, to_numpy
from losslab._config import get_config
from losslab.links import IdentityLink, Link
from losslab.losses._params import Param, declared
from losslab.losses._policy import HessianPolicy
from losslab.losses._reduce import Reduction, check_reduction, reduce

__all__ = [
    "REGISTRY",
    "Focused",
    "HessianSign",
    "Kind",
    "Loss",
    "Need",
    "NonConvex",
    "Reduction",
    "register",
]

Need = tuple[bool, bool, bool]
"""Which of (value, gradient, Hessian) a computation must return."""
Results = tuple[Any, Any, Any]
"""(value, gradient, Hessian), each an array or None (typed loosely: arrays are ``Any``)."""
Kind = Literal["binary", "multiclass", "regression"]
HessianSign = Literal["positive", "nonnegative", "zero", "indefinite"]

VALUE: Need = (True, False, False)
GRAD: Need = (False, True, False)
HESS: Need = (False, False, True)
VALUE_GRAD: Need = (True, True, False)
GRAD_HESS: Need = (False, True, True)
ALL: Need = (True, True, True)


def _is_array(x: object) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


@dataclass(frozen=True)
class _Prepared:
    """Validated inputs in the working dtype, plus what the outputs must be cast back to."""

    xp: Any
    y: Array
    z: Array
    w: Array | None
    out_dtype: Any


@dataclass(frozen=True)
class Loss:
    """Base class of every losslab loss.

    A loss is a frozen dataclass whose fields are its hyperparameters, each declared with
    :func:`losslab.losses.param` (kind, default, range, one line of doc) and validated here
    at construction. Everything else that varies per loss is declared on the class, once, and
    read by the rest of losslab (kernels, reductions, torch and JAX modules, boosting, CLI,
    benchmarks and tests iterate the registry):

    name
        The registry name (``losslab.get_loss(name)``).
    kind
        ``"binary"`` (labels in [0, 1], logit link), ``"multiclass"`` (raw predictions of
        shape (n, K), softmax link) or ``"regression"`` (identity link).
    link
        The link (:mod:`losslab.links`): ``link.inverse(raw)`` gives predictions.
    constant_hessian
        The Hessian does not depend on the inputs (squared errors).
    differentiable
        False where the loss has kinks at which the gradient is a subgradient (absolute, pinball).
    supports_positives
        The loss has a foreground class, so ``reduction="positives"`` is defined.
    kernel
        Name of the fused CPU kernel in :mod:`losslab._kernels` (None: none); its float
        arguments come from :meth:`_kernel_args`.
    examples
        Hyperparameter settings worth exercising besides the defaults (tests, benchmarks).
    """

    name: ClassVar[str] = "loss"
    kind: ClassVar[Kind] = "regression"
    link: ClassVar[Link] = IdentityLink()
    constant_hessian: ClassVar[bool] = False
    differentiable: ClassVar[bool] = True
    supports_positives: ClassVar[bool] = False
    kernel: ClassVar[str | None] = None
    examples: ClassVar[tuple[dict[str, Any], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A kernel computes one class's formulas: a subclass (which may change them) does not
        # inherit it, it names its own.
        if "kernel" not in cls.__dict__:
            cls.kernel = None

    def __post_init__(self) -> None:
        for spec in self.parameters():
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))
        self._check_params()

    def _check_params(self) -> None:
        """Checks that involve several hyperparameters (ValueError naming them)."""

    # ------------------------------------------------------------------ metadata
    @classmethod
    def parameters(cls) -> tuple[Param, ...]:
        """The declared hyperparameters (:class:`losslab.losses.Param`), in order."""
        return declared(cls)

    @property
    def is_multiclass(self) -> bool:
        """Shorthand for ``kind == "multiclass"``."""
        return self.kind == "multiclass"

    @property
    def convex(self) -> bool:
        """Whether the loss is convex in the raw prediction."""
        return True

    @property
    def hessian_sign(self) -> HessianSign:
        """Sign of the exact Hessian: "positive", "nonnegative", "zero" (almost everywhere)
        or "indefinite" (negative somewhere: the boosting adapters then need a policy)."""
        return "positive"

    @property
    def hessian_policies(self) -> tuple[HessianPolicy, ...]:
        """The Hessian policies this loss offers to gradient boosting, its default first.

        Derived from :attr:`hessian_sign` and the link unless a loss overrides it:
        ``exact`` first where the Hessian is positive, ``gauss_newton`` for an indefinite
        Hessian on the logit or softmax link, ``floor`` (1) for a nonnegative one and
        ``constant`` (1) for one that is zero almost everywhere. ``exact`` is never offered for
        a zero Hessian, ``gauss_newton`` only on the logit and softmax links.
        """
        sign = self.hessian_sign
        on_logits = self.kind != "regression"
        if sign == "zero":
            first = HessianPolicy("constant", value=1.0)
        elif sign == "indefinite":
            first = HessianPolicy("gauss_newton" if on_logits else "floor")
        elif sign == "nonnegative":
            first = HessianPolicy("floor", floor=1.0)
        else:
            first = HessianPolicy("exact")
        names = [n for n in ("exact", "floor", "gauss_newton", "constant") if n != first.name]
        if sign == "zero":
            names.remove("exact")
        if not on_logits:
            names.remove("gauss_newton")
        return (first, *(HessianPolicy(n) for n in names))  # type: ignore[arg-type]

    def kinks(self) -> tuple[float, ...]:
        """Residuals (regression) or logits where a derivative jumps (empty: none)."""
        return ()

    @property
    def params(self) -> dict[str, Any]:
        """The hyperparameters as a dict (the dataclass fields)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyperparameters, as scikit-learn's ``get_params`` (estimators then expose them
        as ``loss__gamma``); ``deep`` is accepted for the protocol and changes nothing."""
        return self.params

    def replace(self, **params: Any) -> Loss:
        """A copy with some hyperparameters changed (validated; the loss is immutable).

        Raises
        ------
        TypeError
            A parameter the loss does not take.
        ValueError
            A value outside its range.
        """
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            takes = ", ".join(self.params) or "no parameters"
            raise TypeError(
                f"loss {self.name!r} got unknown parameter(s) {', '.join(unknown)}; "
                f"it takes {takes}"
            )
        return dataclasses.replace(self, **params)

    def _kernel_args(self) -> tuple[float, ...]:
        """The float arguments of :attr:`kernel` (the hyperparameters it needs; two, or three
        for the kernels of three-parameter losses)."""
        return 0.0, 0.0

    # ------------------------------------------------------------------ subclass hooks
    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        """Return (value, gradient, Hessian), None for what ``need`` does not ask for."""
        raise NotImplementedError

    def _convert_targets(self, y: Any, z: Array, xp: Any, device: Any) -> Array:
        """Convert ``y_true`` to an array in z's working dtype and check its shape."""
        if not _is_array(y):
            y = xp.asarray(_validate.host_numbers(y, "y_true"), dtype=z.dtype, device=device)
        if not (xp.isdtype(y.dtype, "numeric") or xp.isdtype(y.dtype, "bool")) or xp.isdtype(
            y.dtype, "complex floating"
        ):
            raise TypeError(f"y_true must be a real numeric array, got dtype {y.dtype}")
        if y.dtype != z.dtype:
            y = xp.astype(y, z.dtype)
        _validate.check_same_shape(y, z, "y_true", "raw_prediction")
        return y

    def _check_target_values(self, y: Array, z: Array, xp: Any) -> None:
        """Raise ValueError for targets outside the loss's domain (NaN passes through)."""

    def _weight_shape(self, z: Array) -> tuple[int, ...]:
        return tuple(z.shape[:1]) if self.is_multiclass else tuple(z.shape)

    def _positives(self, y: Array, z: Array, xp: Any) -> Array:
        """The foreground mass of each element (row for multiclass) for ``"positives"``."""
        raise NotImplementedError

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------ machinery
    def _prepare(
        self,
        y_true: Any,
        raw_prediction: Any,
        sample_weight: Any,
        validate: bool,
        z_name: str = "raw_prediction",
    ) -> _Prepared:
        xp, device = get_namespace(y_true, raw_prediction, sample_weight)
        z = raw_prediction
        if not _is_array(z):
            host = _validate.host_numbers(z, z_name)
            z = xp.asarray(host, dtype=xp.float64, device=device)
        _validate.check_raw_prediction_dtype(z, xp=xp, name=z_name)
        out_dtype = z.dtype
        if z.dtype not in (xp.float32, xp.float64):
            z = xp.astype(z, xp.float32)
        if self.is_multiclass and z.ndim != 2:
            raise ValueError(
                f"{self.name} needs {z_name} of shape (n_samples, n_classes), "
                f"got shape {tuple(z.shape)}"
            )
        y = self._convert_targets(y_true, z, xp, device)
        _validate.check_nonempty(z, z_name)
        w = sample_weight
        if w is not None:
            if not _is_array(w):
                w = xp.asarray(
                    _validate.host_numbers(w, "sample_weight"), dtype=z.dtype, device=device
                )
            if not (
                xp.isdtype(w.dtype, "real floating")
                or xp.isdtype(w.dtype, "integral")
                or xp.isdtype(w.dtype, "bool")
            ):
                raise TypeError(f"sample_weight must be a real array, got dtype {w.dtype}")
            if w.dtype != z.dtype:
                w = xp.astype(w, z.dtype)
            _validate.check_weights(w, self._weight_shape(z), xp=xp, validate=validate)
        if validate:
            self._check_target_values(y, z, xp)
        return _Prepared(xp=xp, y=y, z=z, w=w, out_dtype=out_dtype)

    def _run(self, p: _Prepared, need: Need, out: Results | None = None) -> Results:
        """Compute in the working dtype, weights applied, not yet cast back.

        The fused kernel declared by the loss runs where it applies (NumPy arrays and CPU
        torch tensors that autograd is not recording; :func:`losslab._kernels.try_fused`);
        ``out`` (NumPy only, already checked) is handed to it, and the caller copies into
        ``out`` otherwise.
        """
        xp = p.xp
        if self.kernel is not None and get_config()["use_kernels"]:
            if out is not None and any(o is not None and o.dtype != p.z.dtype for o in out):
                out = None  # float16 outputs: computed in float32, copied by the caller
            result = _kernels.try_fused(self.kernel, self._kernel_args(), p.y, p.z, p.w, need, out)
            if result is not None:
                return result
        if is_numpy_namespace(xp):
            # Overflow to inf, underflow to 0 and 1/0 are the correctly rounded results of the
            # stable formulas; 'invalid' (a NaN made from numbers) stays a warning: a bug.
            with np.errstate(divide="ignore", over="ignore", under="ignore"):
                result = self._compute(p.y, p.z, need, xp)
        else:
            result = self._compute(p.y, p.z, need, xp)
        if p.w is None:
            return result
        w = p.w
        wm = w[:, None] if self.is_multiclass else w
        value, grad, hess = result
        return (
            None if value is None else value * w,
            None if grad is None else grad * wm,
            None if hess is None else hess * wm,
        )

    def _evaluate(
        self,
        y_true: Any,
        raw_prediction: Any,
        sample_weight: Any,
        validate: bool,
        need: Need,
        out: Any = None,
    ) -> Results:
        p = self._prepare(y_true, raw_prediction, sample_weight, validate)
        outs = None if out is None else self._check_out(p, need, out, (y_true, raw_prediction))
        results = self._run(p, need, outs)
        if outs is not None:
            for o, r in zip(outs, results, strict=True):
                if o is not None and r is not o:
                    np.copyto(o, r, casting="same_kind")
            return outs
        if p.z.dtype == p.out_dtype:
            return results
        return tuple(None if r is None else p.xp.astype(r, p.out_dtype) for r in results)  # type: ignore[return-value]

    def _check_out(self, p: _Prepared, need: Need, out: Any, inputs: tuple[Any, Any]) -> Results:
        """Spread ``out`` (one array, or one per requested output) over (value, grad, hess).

        Raises
        ------
        TypeError
            ``out`` on a non-NumPy namespace, not NumPy arrays, or the wrong number of them.
        ValueError
            An array of the wrong shape or dtype, read-only, or sharing memory with an input.
        """
        if not is_numpy_namespace(p.xp):
            raise TypeError("out= is only supported for NumPy arrays")
        wanted = sum(need)
        if isinstance(out, np.ndarray):
            arrays: tuple[Any, ...] = (out,)
        elif isinstance(out, (tuple, list)):
            arrays = tuple(out)
        else:
            arrays = (out,)
        if len(arrays) != wanted or not all(isinstance(a, np.ndarray) for a in arrays):
            got = ", ".join(type(a).__name__ for a in arrays)
            raise TypeError(
                f"out must be {wanted} NumPy array(s), one per output (a tuple for several), "
                f"got {got}"
            )
        n = tuple(p.z.shape[:1]) if self.is_multiclass else tuple(p.z.shape)
        shapes = (n, tuple(p.z.shape), tuple(p.z.shape))
        it = iter(arrays)
        spread: list[Any] = []
        for k, needed in enumerate(need):
            if not needed:
                spread.append(None)
                continue
            a = next(it)
            if a.shape != shapes[k] or a.dtype != p.out_dtype:
                raise ValueError(
                    f"out array must have shape {shapes[k]} and dtype {p.out_dtype}, "
                    f"got {a.shape} and {a.dtype}"
                )
            if not a.flags.writeable:
                raise ValueError("out array is read-only")
            if any(isinstance(x, np.ndarray) and np.shares_memory(a, x) for x in inputs):
                raise ValueError("out array shares memory with an input; pass a separate array")
            spread.append(a)
        return spread[0], spread[1], spread[2]

    # ------------------------------------------------------------------ public methods
    def loss(
        self,
        y_true: Any,
        raw_prediction: Any,
        *,
        sample_weight: Any = None,
        validate: bool = True,
        out: Any = None,
    ) -> Array:
        """Element-wise loss value (shape of ``raw_prediction``; (n,) for multiclass).

        Parameters
        ----------
        y_true : array
            Targets: labels in [0, 1] (binary), class indices (n,) or probabilities (n, K)
            (multiclass), real values (regression).
        raw_prediction : array of real floating dtype
            Logits or predictions; same shape as ``y_true`` for element-wise losses.
        sample_weight : array or None, keyword-only
            Non-negative finite weights (shape of the per-sample output); multiply the result.
        validate : bool, keyword-only
            Check target, probability and weight values (on by default; set False in a
            training loop that validated once). Dtype and shape are always checked.
        out : numpy.ndarray or tuple of them, keyword-only
            NumPy only: preallocated outputs to write into and return (one per output of the
            method, in order) of the output's shape and ``raw_prediction``'s dtype, writeable
            and not overlapping the inputs. The fused kernels write into C-contiguous ones
            directly; otherwise the result is copied in.

        Raises
        ------
        TypeError
            ``raw_prediction`` is not real floating, or arrays of different libraries.
        ValueError
            Shapes differ, input is empty, targets lie outside the loss's domain, or weights
            are negative, NaN, inf or of the wrong shape; ``out`` of the wrong shape, dtype,
            read-only or overlapping an input (TypeError for ``out`` on another namespace).
        """
        return self._evaluate(y_true, raw_prediction, sample_weight, validate, VALUE, out)[0]

    def gradient(
        self,
        y_true: Any,
        raw_prediction: Any,
        *,
        sample_weight: Any = None,
        validate: bool = True,
        out: Any = None,
    ) -> Array:
        """Element-wise first derivative with respect to ``raw_prediction`` (same shape).

        Parameters and errors as for :meth:`loss`.
        """
        return self._evaluate(y_true, raw_prediction, sample_weight, validate, GRAD, out)[1]

    def hessian(
        self,
        y_true: Any,
        raw_prediction: Any,
        *,
        sample_weight: Any = None,
        validate: bool = True,
        out: Any = None,
    ) -> Array:
        """Element-wise exact second derivative with respect to ``raw_prediction``.

        For multiclass losses this is the diagonal of each row's K x K Hessian, shape (n, K).
        Where the exact Hessian is zero almost everywhere (absolute, pinball) it is 0.
        Parameters and errors as for :meth:`loss`.
        """
        return self._evaluate(y_true, raw_prediction, sample_weight, validate, HESS, out)[2]

    def loss_gradient(
        self,
        y_true: Any,
        raw_prediction: Any,
        *,
        sample_weight: Any = None,
        validate: bool = True,
        out: Any = None,
    ) -> tuple[Array, Array]:
        """(value, gradient) from one pass sharing the transcendental work."""
        v, g, _ = self._evaluate(y_true, raw_prediction, sample_weight, validate, VALUE_GRAD, out)
        return v, g

    def gradient_hessian(
        self,
        y_true: Any,
        raw_prediction: Any,
        *,
        sample_weight: Any = None,
        validate: bool = True,
        out: Any = None,
    ) -> tuple[Array, Array]:
        """(gradient, Hessian) from one pass; what a boosting objective returns."""
        _, g, h = self._evaluate(y_true, raw_prediction, sample_weight, validate, GRAD_HESS, out)
        return g, h

    def loss_gradient_hessian(
        self,
        y_true: Any,
        raw_prediction: Any,
        *,
        sample_weight: Any = None,
        validate: bool = True,
        out: Any = None,
    ) -> tuple[Array, Array, Array]:
        """(value, gradient, Hessian) from one pass."""
        v, g, h = self._evaluate(y_true, raw_prediction, sample_weight, validate, ALL, out)
        return v, g, h

    def __call__(
        self,
        y_true: Any,
        raw_prediction: Any,
        *,
        sample_weight: Any = None,
        reduction: Reduction = "mean",
        validate: bool = True,
    ) -> Array:
        """The reduced loss.

        ``reduction``:

        * ``"mean"``: ``sum(w * L) / sum(w)`` (the weighted average, as scikit-learn's
          ``np.average``); the plain mean without weights;
        * ``"sum"``: ``sum(w * L)``;
        * ``"none"``: the element-wise ``w * L``;
        * ``"positives"`` (losses with a foreground class): ``sum(w * L) / max(n_pos, 1)``
          where ``n_pos`` is the number of positives (foreground) among the elements of
          non-zero weight, as RetinaNet normalises.

        The reduction is :func:`losslab.losses._reduce.reduce`, shared with
        :mod:`losslab.torch` and :mod:`losslab.jax` (same numbers on every backend; sums in at
        least float32). Returns a 0-d array of ``raw_prediction``'s namespace and dtype (the
        element-wise array for ``"none"``). With ``validate=False`` weights summing to 0 give
        0 for ``"mean"`` (the training-loop policy of the shared reduction).

        Raises
        ------
        ValueError
            Unknown reduction, ``"positives"`` on a loss without positives, weights summing to
            0 with ``"mean"``, and every error of :meth:`loss`.
        """
        check_reduction(reduction, self)
        p = self._prepare(y_true, raw_prediction, sample_weight, validate)
        xp = p.xp
        weightless = validate and p.w is not None and reduction == "mean"
        if weightless and concrete_bool(xp.sum(p.w) <= 0):
            raise ValueError("sample_weight sums to 0: the weighted mean is undefined")
        value = self._run(p, VALUE)[0]
        positives = self._positives(p.y, p.z, xp) if reduction == "positives" else None
        out = reduce(value, reduction, xp=xp, weight=p.w, positives=positives)
        return out if out.dtype == p.out_dtype else xp.astype(out, p.out_dtype)

    def fit_intercept_only(self, y_true: Any, sample_weight: Any = None) -> Any:
        """The constant raw prediction that minimises the weighted mean loss (the init score).

        Returns a Python float for element-wise losses and a NumPy array of shape (K,) for
        multiclass losses, computed in float64 on the host whatever the input namespace.
        Closed forms where they exist (mean, median, quantile, logit of the mean), otherwise a
        1-D bisection on the summed gradient (focal, Huber, pseudo-Huber, log-cosh).

        Raises
        ------
        ValueError
            As :meth:`loss` for the targets and weights.
        """
        y = to_numpy(y_true) if _is_array(y_true) else _validate.host_numbers(y_true, "y_true")
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y_true must be a real numeric array, got dtype {y.dtype}")
        if not self.is_multiclass:
            y = y.astype(np.float64)
        if y.dtype.kind == "f" and bool(np.any(np.isnan(y))):
            raise ValueError("y_true contains NaN: fit_intercept_only needs every target")
        z = self._intercept_raw_placeholder(y)
        w = (
            None
            if sample_weight is None
            else to_numpy(sample_weight)
            if _is_array(sample_weight)
            else _validate.host_numbers(sample_weight, "sample_weight").astype(np.float64)
        )
        p = self._prepare(y, z, w, True)
        w64 = (
            np.ones(p.z.shape[:1] if self.is_multiclass else p.z.shape)
            if p.w is None
            else np.asarray(p.w, dtype=np.float64)
        )
        if float(np.sum(w64)) <= 0:
            raise ValueError("sample_weight sums to 0: no intercept minimises a zero-weight loss")
        y64 = np.asarray(p.y)
        if not self.is_multiclass:  # one constant for every element, whatever the shape
            y64, w64 = y64.reshape(-1), w64.reshape(-1)
        return self._intercept(y64, w64)

    def _intercept_raw_placeholder(self, y: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.zeros(y.shape, dtype=np.float64)


class Focused:
    """Mixin of the losses with a focusing power ``gamma`` (focal, softmax focal, varifocal):
    convex, with a positive Hessian, only at ``gamma = 0``; for ``gamma > 0`` the exact Hessian
    is negative for hard examples ("indefinite")."""

    gamma: float

    @property
    def convex(self) -> bool:
        """Convex only for gamma = 0."""
        return self.gamma == 0

    @property
    def hessian_sign(self) -> HessianSign:
        """ "positive" for gamma = 0, else "indefinite" (negative for hard examples)."""
        return "positive" if self.gamma == 0 else "indefinite"


class NonConvex:
    """Mixin of the losses that are not convex for any hyperparameters in general (quality
    focal, poly-1 focal, asymmetric): ``convex`` False, ``hessian_sign`` "indefinite"."""

    @property
    def convex(self) -> bool:
        """Not convex in general."""
        return False

    @property
    def hessian_sign(self) -> HessianSign:
        """ "indefinite": negative somewhere (hard examples)."""
        return "indefinite"


REGISTRY: dict[str, type[Loss]] = {}
"""Every registered loss class by name, filled by :func:`register` (read it as
``losslab.LOSSES``)."""

_L = TypeVar("_L", bound=type[Loss])


def register(cls: _L) -> _L:
    """Class decorator: enter a loss class in the registry under its ``name``.

    Everything that iterates the registry (``losslab.LOSSES``, ``get_loss``, the torch and JAX
    modules, the boosting adapters, the CLI, the benchmarks and the tests) then knows it.

    Raises
    ------
    ValueError
        The name is taken, or the class declares an unknown ``kind``.
    """
    name = cls.name
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise ValueError(f"a loss named {name!r} is already registered ({REGISTRY[name]})")
    if cls.kind not in ("binary", "multiclass", "regression"):
        raise ValueError(f"loss {name!r} declares an unknown kind {cls.kind!r}")
    REGISTRY[name] = cls
    return cls
