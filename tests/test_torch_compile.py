"""losslab.torch under torch.compile with the default (inductor) backend, on the CPU.

Each test compiles one module (compilation takes seconds on two cores): no graph break
(``torch._dynamo.explain``), no warning from losslab's code (pytest turns warnings into errors;
only two notices of torch's own are let through: one printed on the first inductor compile of a
process whatever is compiled, one that dynamo records and hides while it traces any
``torch.autograd.Function``), and the compiled value and gradient equal eager ones, where eager
runs the fused CPU kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import losslab
import losslab.torch as lt
from _cases import make_case
from losslab import _kernels

# torch's own notice on the first inductor compile of a process (BCE-with-logits prints it too)
TORCH_NOTICE = "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
# Dynamo instantiates autograd.Function inside warnings.catch_warnings(record=True) to trace
# any custom Function: a user never sees it, but pytest's "error" filter raises it there.
DYNAMO_RECORDED = "ignore:.*should not be instantiated:DeprecationWarning"


def _step(module: Any, z: Any, y: Any, **kw: Any) -> tuple[Any, Any]:
    zz = z.clone().requires_grad_(True)
    value = module(zz, y, **kw)
    value.backward()
    return value.detach(), zz.grad


def _compiles_as_eager(module: Any, z: Any, y: Any, **kw: Any) -> tuple[Any, Any, Any]:
    """Assert no graph break under dynamo and a compiled (inductor) step equal to the eager
    one (value rtol 1e-5, gradient rtol 1e-4); return dynamo's explanation, the eager value
    and the compiled gradient."""
    explain = torch._dynamo.explain(module)(z, y, **kw)
    assert explain.graph_break_count == 0, explain.break_reasons
    v_eager, g_eager = _step(module, z, y, **kw)
    v_comp, g_comp = _step(torch.compile(module), z, y, **kw)
    torch.testing.assert_close(v_comp, v_eager, rtol=1e-5, atol=0)
    torch.testing.assert_close(g_comp, g_eager, rtol=1e-4, atol=1e-9)
    return explain, v_eager, g_comp


@pytest.mark.filterwarnings(TORCH_NOTICE)
@pytest.mark.filterwarnings(DYNAMO_RECORDED)
def test_binary_focal_compiles_without_graph_break_and_matches_eager() -> None:
    rng = np.random.default_rng(0)
    n = 12_000  # above kernel_min_size: eager runs the fused kernel
    z = torch.tensor(rng.normal(size=n) * 4, dtype=torch.float32)
    z[:4] = torch.tensor([-120.0, -30.0, 30.0, 120.0])
    y = torch.tensor((rng.random(n) < 0.05).astype(np.float32))
    y[10:40] = torch.tensor(rng.uniform(0.1, 0.9, 30), dtype=torch.float32)  # soft labels
    y[40:50] = -1.0  # ignored anchors
    w = torch.tensor(rng.uniform(0.5, 2.0, n), dtype=torch.float32)
    module = lt.FocalLoss(gamma=2.0, alpha=0.25, reduction="positives", ignore_index=-1)

    explain, _, g_comp = _compiles_as_eager(module, z, y, weight=w)
    assert explain.graph_count == 1
    assert module.checked  # the eager call ran the value checks once
    assert torch.isfinite(g_comp).all()
    assert float(g_comp[40:50].abs().max()) == 0.0  # ignored anchors get no gradient
    # Compiling never disables a kernel for later, unrelated calls.
    assert not _kernels._state["broken"]
    yn, zn = y.numpy().clip(0, 1).astype(np.float64), z.numpy().astype(np.float64)
    assert _kernels.try_fused("focal", (2.0, 0.25), yn, zn, None, (True, True, True)) is not None


@pytest.mark.filterwarnings(TORCH_NOTICE)
@pytest.mark.filterwarnings(DYNAMO_RECORDED)
def test_softmax_focal_compiles_without_graph_break_and_matches_eager() -> None:
    rng = np.random.default_rng(1)
    n, k = 200, 9
    z = torch.tensor(rng.normal(size=(n, k)) * 4, dtype=torch.float32)
    z[0, 3] = 60.0  # p_c rounds to 1
    y = torch.tensor(rng.integers(0, k, n))
    y[0] = 3
    module = lt.SoftmaxFocalLoss(gamma=0.5, background_class=0, reduction="positives")

    _, _, g_comp = _compiles_as_eager(module, z, y)
    core = losslab.get_loss("softmax_focal", gamma=0.5, background_class=0)
    n_pos = float((y != 0).sum())
    expected = core.gradient(y, z) / n_pos
    torch.testing.assert_close(g_comp, expected, rtol=1e-4, atol=1e-8)


@pytest.mark.filterwarnings(TORCH_NOTICE)
@pytest.mark.filterwarnings(DYNAMO_RECORDED)
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("softmax_focal", {"gamma": 2.0, "alpha": tuple(np.linspace(0.5, 1.5, 9))}),
        ("softmax_poly1", {"epsilon": 1.0}),
    ],
)
def test_softmax_training_step_compiles_on_f_cross_entropy(
    name: str, params: dict[str, Any]
) -> None:
    # The benchmark's case (class indices, unweighted mean): eager runs the softmax kernel,
    # traced code F.cross_entropy(reduction="none") feeding _RowsOfCrossEntropy.
    rng = np.random.default_rng(3)
    z = torch.tensor(rng.normal(size=(500, 9)) * 4, dtype=torch.float32)
    z[0, 3] = 60.0  # p_c rounds to 1
    y = torch.tensor(rng.integers(0, 9, 500))
    y[0] = 3
    module = lt.LosslabLoss(name, **params)
    explain, v_eager, g_comp = _compiles_as_eager(module, z, y)
    assert explain.graph_count == 1
    core = losslab.get_loss(name, **params)
    torch.testing.assert_close(g_comp, core.gradient(y, z) / 500, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(v_eager, core.loss(y, z).mean(), rtol=1e-6, atol=0)


@pytest.mark.filterwarnings(TORCH_NOTICE)
@pytest.mark.filterwarnings(DYNAMO_RECORDED)
def test_softmax_cross_entropy_compiles_as_f_cross_entropy() -> None:
    # Plain cross-entropy is F.cross_entropy itself (ignore_index: the int64 minimum).
    rng = np.random.default_rng(2)
    z = torch.tensor(rng.normal(size=(300, 7)) * 4, dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 7, 300))
    module = lt.SoftmaxCrossEntropy()
    _, v_eager, _ = _compiles_as_eager(module, z, y)
    torch.testing.assert_close(v_eager, torch.nn.functional.cross_entropy(z, y), rtol=0, atol=0)


# Losses whose core formulas make dynamo warn (none at present; an entry xfails strictly).
_CORE_WARNS: dict[str, str] = {}


@pytest.mark.filterwarnings(DYNAMO_RECORDED)
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=_CORE_WARNS[n], strict=True))
        if n in _CORE_WARNS
        else n
        for n in sorted(losslab.LOSSES)
    ],
)
def test_every_loss_traces_in_one_graph(name: str) -> None:
    # Dynamo alone (no inductor code generation): cheap enough for every registered loss.
    core = losslab.get_loss(name)
    case = make_case(core, n=16, seed=5)
    z = torch.tensor(case.z, dtype=torch.float32)
    y = torch.tensor(case.y) if core.is_multiclass else torch.tensor(case.y, dtype=torch.float32)
    w = torch.tensor(case.w, dtype=torch.float32)
    module = lt.LosslabLoss(core, validate=False)
    explain = torch._dynamo.explain(module)(z, y, w)
    assert explain.graph_break_count == 0, explain.break_reasons
    assert explain.graph_count == 1
