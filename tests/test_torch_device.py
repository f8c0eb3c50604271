"""losslab.torch on devices: results on the input's device, and no host copy or sync.

The ``device`` fixture runs each test on the CPU and on CUDA; the CUDA case is skipped only
where CUDA is absent (this CI has no GPU: the CUDA numbers are unmeasured there). The ``meta``
device, whose tensors have shapes but no data, stands in for an accelerator on every machine:
``.item()``, ``.cpu()``, ``.numpy()`` or ``bool()`` of a meta tensor fails, so a training step
that runs on meta tensors reads no device value on the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import losslab
import losslab.torch as lt
from _cases import make_case


@pytest.fixture(params=["cpu", "cuda"])
def device(request: pytest.FixtureRequest) -> torch.device:
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine")
    return torch.device(request.param)


def _inputs(name: str, device: Any, n: int = 32, target: str = "index") -> tuple[Any, Any]:
    case = make_case(losslab.get_loss(name), n=n, seed=3, target=target)
    z = torch.tensor(case.z, dtype=torch.float32, device=device)
    if case.kind == "multiclass" and target == "index":
        return torch.tensor(case.y, device=device), z
    return torch.tensor(case.y, dtype=torch.float32, device=device), z


@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_training_step_reads_no_device_value_on_the_host(name: str) -> None:
    # validate=False: what a training loop runs after the first (checked) call
    y, z = _inputs(name, "meta")
    z.requires_grad_(True)
    loss = lt.LosslabLoss(name, validate=False)
    value = loss(
        z, y, torch.ones(z.shape[:1] if loss.loss.is_multiclass else z.shape, device="meta")
    )
    assert value.device.type == "meta"
    assert value.shape == ()
    value.backward()
    assert z.grad is not None
    assert z.grad.shape == z.shape


def test_checked_module_reads_no_device_value_after_its_first_call(monkeypatch: Any) -> None:
    y, z = _inputs("focal", "cpu")
    module = lt.FocalLoss(ignore_index=-1)
    module(z, y)  # the first call checks the values (one host read)
    assert module.checked

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a host read of a tensor value in a training step")

    monkeypatch.setattr(torch.Tensor, "item", refuse)
    monkeypatch.setattr(torch.Tensor, "__bool__", refuse)
    monkeypatch.setattr(torch.Tensor, "tolist", refuse)
    zz = z.clone().requires_grad_(True)
    module(zz, y).backward()
    monkeypatch.undo()
    assert zz.grad is not None
    assert torch.isfinite(zz.grad).all()


@pytest.mark.parametrize("name", ["focal", "log_loss", "softmax_focal", "softmax_cross_entropy"])
def test_values_and_gradients_on_the_device(name: str, device: torch.device) -> None:
    targets = ["index", "proba"] if losslab.get_loss(name).is_multiclass else ["index"]
    for target in targets:
        y, z = _inputs(name, device, target=target)
        zz = z.clone().requires_grad_(True)
        value = lt.LosslabLoss(name, reduction="sum")(zz, y)
        value.backward()
        assert value.device.type == device.type
        assert zz.grad is not None
        assert zz.grad.device.type == device.type
        core = losslab.get_loss(name)
        y64 = y.cpu() if y.dtype == torch.int64 else y.cpu().double()
        z64 = z.detach().cpu().double()
        expected_v = core(y64, z64, reduction="sum")
        expected_g = core.gradient(y64, z64)
        torch.testing.assert_close(value.cpu().double(), expected_v, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(zz.grad.cpu().double(), expected_g, rtol=1e-4, atol=1e-6)


def test_half_precision_on_the_device(device: torch.device) -> None:
    rng = np.random.default_rng(4)
    z = torch.tensor(rng.normal(size=(16, 5)) * 3, dtype=torch.bfloat16, device=device)
    y = torch.tensor(rng.integers(0, 5, 16), device=device)
    zz = z.clone().requires_grad_(True)
    value = lt.SoftmaxFocalLoss()(zz, y)
    value.backward()
    assert value.dtype == torch.bfloat16
    assert zz.grad is not None
    assert zz.grad.dtype == torch.bfloat16
    ref = losslab.get_loss("softmax_focal").gradient(y.cpu(), z.detach().cpu().float()) / 16
    torch.testing.assert_close(zz.grad.cpu().float(), ref, rtol=2e-2, atol=2e-3)
