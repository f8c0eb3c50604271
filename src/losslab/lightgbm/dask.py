"""LightGBM's Dask estimators with any losslab loss, as :mod:`lightgbm.dask` is to LightGBM.

Importing this module imports :mod:`lightgbm.dask` and :mod:`dask.array`. The estimators share
the fit plan of :class:`losslab.lightgbm.LGBMClassifier` (one mixin): the init score comes from
a reduction over the label blocks on the workers (:func:`losslab._boosting.dask_label_summary`:
only distinct labels and their summed weights reach the client), is passed to LightGBM as an
``init_score`` Dask array with the labels' row chunks, and is folded into the trained model's
first trees; predictions are Dask arrays. Dask arrays and Dask DataFrames are accepted
wherever :mod:`lightgbm.dask` accepts them.
"""

from __future__ import annotations

from typing import Any

import dask.array
import lightgbm.dask as ld
import numpy as np

from losslab._boosting import FitPlan, dask_labels, dask_proba, not_fitted
from losslab.lightgbm import _LGBMLossMixin

__all__ = ["DaskLGBMClassifier", "DaskLGBMRegressor"]

_da: Any = dask.array  # untyped in places


def _as_dask_array(x: Any) -> Any:
    """A Dask array from a Dask array, Series or DataFrame (row chunks left unknown: computing
    them would run the prediction twice)."""
    return x.to_dask_array() if hasattr(x, "to_dask_array") else x


def _init_like(plan: FitPlan, y: Any) -> Any:
    """The init score as a Dask array with ``y``'s row chunks: (n,) or (n, K)."""
    rows = _as_dask_array(y)
    rows = rows if rows.ndim == 1 else rows[:, 0]
    if plan.init.ndim == 0:
        return _da.map_blocks(lambda b: plan.margins(b.shape[0]), rows, dtype=np.float64)
    return _da.map_blocks(
        lambda b: plan.margins(b.shape[0]),
        rows,
        dtype=np.float64,
        new_axis=1,
        chunks=(rows.chunks[0], (plan.init.shape[0],)),
    )


class _DaskLGBMMixin(_LGBMLossMixin):
    """``fit`` from a distributed label summary and raw scores as Dask arrays."""

    def fit(  # type: ignore[override]
        self, X: Any, y: Any, sample_weight: Any = None, init_score: Any = None, **kwargs: Any
    ) -> Any:
        """Fit on ``loss`` through LightGBM's Dask interface (labels 0..K-1 for classifiers)."""
        plan = self._plan_fit_dask(y, sample_weight, start_given=init_score is not None)
        if init_score is None:
            init_score = _init_like(plan, y)
        # the host's fit, past the in-memory plan of the mixin
        parent = super(_LGBMLossMixin, self).fit  # type: ignore[misc]

        def fit() -> Any:
            # lightgbm.dask builds a plain LightGBM estimator on each worker from
            # get_params(); "loss" would be read there as an alias of "objective".
            self.__dict__["_losslab_hide_params"] = True
            try:
                return parent(X, y, sample_weight=sample_weight, init_score=init_score, **kwargs)
            finally:
                self.__dict__.pop("_losslab_hide_params", None)

        self._run_fit(plan, fit)
        return self

    def _margin(self, X: Any) -> Any:
        """Raw scores (Dask array): the init score is in the trees."""
        not_fitted(self)
        return _as_dask_array(ld.DaskLGBMRegressor.predict(self, X, raw_score=True))  # type: ignore[arg-type]


class DaskLGBMClassifier(_DaskLGBMMixin, ld.DaskLGBMClassifier):  # type: ignore[misc]
    """``lightgbm.dask.DaskLGBMClassifier`` on a losslab loss (see
    :class:`losslab.lightgbm.LGBMClassifier` for the parameters and fitted attributes).

    Labels must be 0..K-1. ``decision_function`` / ``predict_proba`` / ``predict`` return
    Dask arrays.
    """

    get_params = _LGBMLossMixin._get_params

    def decision_function(self, X: Any, **kwargs: Any) -> Any:
        """Raw scores (Dask array): (n,) or (n, K)."""
        return self._margin(X)

    def predict_proba(self, X: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Class probabilities (Dask array, (n, K))."""
        return dask_proba(self.loss_, self._margin(X), len(self.classes_))

    def predict(self, X: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """The most probable class label (Dask array)."""
        return dask_labels(self.predict_proba(X), np.asarray(self.classes_))


class DaskLGBMRegressor(_DaskLGBMMixin, ld.DaskLGBMRegressor):  # type: ignore[misc]
    """``lightgbm.dask.DaskLGBMRegressor`` on a losslab loss (see
    :class:`losslab.lightgbm.LGBMRegressor`)."""

    get_params = _LGBMLossMixin._get_params

    def predict(self, X: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Predictions (Dask array): raw scores, the init score folded into the trees."""
        return self._margin(X)
