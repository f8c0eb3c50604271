"""Declared hyperparameters: each loss states its parameters once, with kind, default and range.

A loss class declares a hyperparameter as a dataclass field made by :func:`param`::

    gamma: float = param(2.0, low=0.0, doc="Focusing parameter.")

The field's metadata holds a :class:`Param`, which the rest of losslab reads: the base class
validates every declared parameter at construction (:meth:`Param.check`), ``losslab list``
prints :meth:`Param.describe`, the CLI converts text with :meth:`Param.parse`, and
scikit-learn's nested-parameter protocol (``loss__gamma``) sees them through
:meth:`losslab.Loss.get_params`. Nothing keeps a second list of a loss's parameters.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

from losslab import _validate

__all__ = ["Param", "ParamKind", "param"]

ParamKind = Literal["real", "optional_real", "optional_index", "optional_weights"]
"""``real``: a finite number in the range; ``optional_real``: that or None;
``optional_index``: None or a whole number >= 0 (a class index); ``optional_weights``: None or a
sequence of finite weights >= 0 (one per class)."""

_NONE_WORDS = frozenset({"none", "null"})


@dataclass(frozen=True)
class Param:
    """One declared hyperparameter of a loss.

    Attributes
    ----------
    name : str
        The field name (filled in by :meth:`losslab.Loss.parameters`).
    default : object
        The default value.
    kind : ParamKind
        What values are allowed (see :data:`ParamKind`).
    low, high : float or None
        Bounds of a real parameter (None: unbounded), inclusive unless
        ``low_inclusive``/``high_inclusive`` is False.
    doc : str
        One line for ``losslab list`` and the docs.
    """

    default: Any
    kind: ParamKind = "real"
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    doc: str = ""
    name: str = ""

    # ------------------------------------------------------------------ checking
    def check(self, value: Any) -> Any:
        """The validated, normalised value (float, int, tuple of floats or None).

        Raises
        ------
        ValueError
            Naming the parameter, what it must be and the value received.
        """
        if value is None and self.kind != "real":
            return None
        if self.kind in ("real", "optional_real"):
            if _is_traced(value):
                return value  # a JAX tracer: checked where it becomes concrete
            return _validate.check_real_param(
                self.name,
                value,
                low=self.low,
                high=self.high,
                low_inclusive=self.low_inclusive,
                high_inclusive=self.high_inclusive,
            )
        if self.kind == "optional_index":
            as_float = float(value) if isinstance(value, numbers.Real) else math.nan
            if (
                isinstance(value, bool)
                or not math.isfinite(as_float)
                or not as_float.is_integer()
                or as_float < 0
            ):
                raise ValueError(f"{self.name} must be None or a class index >= 0, got {value!r}")
            return int(as_float)
        return _validate.check_weight_vector(self.name, value)

    # ------------------------------------------------------------------ text
    def parse(self, text: str) -> Any:
        """Convert command-line text into a checked value.

        ``none``/``null`` gives None where allowed; real parameters take a number; class
        weights take a comma-separated list (``0.25,0.5,0.25``).

        Raises
        ------
        ValueError
            Naming the parameter when the text is not a value of its kind.
        """
        raw = text.strip()
        if raw.lower() in _NONE_WORDS:
            if self.kind == "real":
                raise ValueError(f"{self.name} must be a number, got {text!r}")
            return None
        try:
            if self.kind == "optional_weights":
                value: Any = [float(v) for v in raw.split(",") if v.strip()]
            else:
                value = float(raw)
        except ValueError:
            raise ValueError(f"cannot parse {self.name}={text!r}: {self.expects()}") from None
        return self.check(value)

    def expects(self) -> str:
        """What a value must be, in words: ``a number >= 0``, ``None or a class index``."""
        if self.kind == "optional_index":
            return "None or a class index >= 0"
        if self.kind == "optional_weights":
            return "None or comma-separated class weights >= 0"
        parts = []
        if self.low is not None:
            parts.append((">= " if self.low_inclusive else "> ") + _fmt(self.low))
        if self.high is not None:
            parts.append(("<= " if self.high_inclusive else "< ") + _fmt(self.high))
        number = "a number" + (" " + " and ".join(parts) if parts else "")
        return number if self.kind == "real" else f"None or {number}"

    def describe(self) -> str:
        """One line: ``gamma: a number >= 0 (default 2.0). Focusing parameter.``"""
        text = f"{self.name}: {self.expects()} (default {self.default!r})."
        return f"{text} {self.doc}" if self.doc else text


def param(
    default: Any,
    *,
    kind: ParamKind = "real",
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    doc: str = "",
) -> Any:
    """A dataclass field declaring a hyperparameter (see the module docstring)."""
    spec = Param(
        default=default,
        kind=kind,
        low=low,
        high=high,
        low_inclusive=low_inclusive,
        high_inclusive=high_inclusive,
        doc=doc,
    )
    return dataclasses.field(default=default, metadata={"losslab_param": spec})


def declared(cls: type) -> tuple[Param, ...]:
    """The :class:`Param` of every field of the dataclass ``cls``, named, in field order."""
    return tuple(
        dataclasses.replace(f.metadata["losslab_param"], name=f.name)
        for f in dataclasses.fields(cls)
        if "losslab_param" in f.metadata
    )


def _is_traced(value: Any) -> bool:
    """True for a JAX tracer (a hyperparameter under ``jit``/``vmap``/``grad``)."""
    import sys

    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.core.Tracer)


def _fmt(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() else repr(x)
