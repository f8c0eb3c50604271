"""The quick report end to end: files written, results.json schema, verdicts recomputed from the
stored numbers, self-contained HTML, reproducibility."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("tqdm")

from losslab.lab import EXPERIMENTS, SCHEMA_VERSION, run_report, verdict
from losslab.lab._common import to_jsonable

STATUSES = {"held", "partly", "failed"}


def _strict(text: str) -> Any:
    def reject(name: str) -> Any:
        raise AssertionError(f"results.json contains the non-JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], float]:
    out = tmp_path_factory.mktemp("report")
    t0 = time.perf_counter()
    res = run_report(out, mode="quick", seed=0, progress=False)
    return out, res, time.perf_counter() - t0


def test_quick_report_is_quick(quick: tuple[Path, dict[str, Any], float]) -> None:
    # the budget is 45 s on two cores; leave room for a loaded CI machine
    assert quick[2] < 120


def test_files_written(quick: tuple[Path, dict[str, Any], float]) -> None:
    out, res, _ = quick
    assert (out / "index.html").is_file()
    assert (out / "results.json").is_file()
    figures = [f["file"] for e in res["experiments"].values() for f in e["figures"]]
    assert len(figures) >= 10
    for f in figures:
        data = (out / f).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f
        assert len(data) > 5000, f
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not leftovers
    on_disk = sorted(str(p.relative_to(out)) for p in (out / "figures").iterdir())
    assert on_disk == sorted(figures)


def test_results_schema(quick: tuple[Path, dict[str, Any], float]) -> None:
    out, res, _ = quick
    data = _strict((out / "results.json").read_text(encoding="utf-8"))
    assert data == res
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["mode"] == "quick"
    assert data["seed"] == 0
    assert set(data["experiments"]) == set(EXPERIMENTS) == set(data["experiments_run"])
    for key in ("python", "numpy", "scipy", "matplotlib", "losslab", "torch", "pycocotools"):
        assert isinstance(data["versions"][key], str)
    assert set(data["timings_s"]) == {*EXPERIMENTS, "total"}
    assert all(isinstance(v, float) and v >= 0 for v in data["timings_s"].values())
    assert set(data["thresholds"]) == set(EXPERIMENTS)
    for e in data["experiments"].values():
        assert set(e) == {"title", "claim", "parameters", "results", "verdict", "figures", "time_s"}
        assert isinstance(e["title"], str)
        assert isinstance(e["claim"], str)
        v = e["verdict"]
        assert v["status"] in STATUSES
        assert v["summary"].startswith(v["status"])
        assert v["checks"]
        for c in v["checks"]:
            assert set(c) == {"id", "description", "value", "op", "threshold", "passed", "counts"}
            assert isinstance(c["passed"], bool)
            assert isinstance(c["counts"], bool)
        for f in e["figures"]:
            assert set(f) == {"file", "caption"}
            assert f["file"].startswith("figures/")


def test_verdicts_are_computed_from_the_stored_numbers(
    quick: tuple[Path, dict[str, Any], float],
) -> None:
    _, res, _ = quick
    for name, e in res["experiments"].items():
        # the stored verdict went through to_jsonable (inf -> "inf")
        assert to_jsonable(verdict(name, e["results"])) == e["verdict"]


def test_experiment_contents(quick: tuple[Path, dict[str, Any], float]) -> None:
    exps = quick[1]["experiments"]
    routes = exps["logits"]["results"]["routes"]
    assert set(routes) == {"float32", "float64"}
    # float32 saturates at a smaller logit than float64
    assert (
        routes["float32"]["0"]["p_rounds_to_1_from_z"]
        < routes["float64"]["0"]["p_rounds_to_1_from_z"]
    )
    conv = exps["regression"]["results"]["convergence"]["methods"]
    assert set(conv) == {"gradient_descent", "lbfgs", "newton"}
    focal = exps["focal"]["results"]
    tab = focal["ap_table"]
    assert len(tab["ap"]) == len(tab["gammas"])
    assert all(len(row) == len(tab["alphas"]) for row in tab["ap"])
    assert all(0.0 <= ap <= 1.0 for row in tab["ap"] for ap in row)
    boost = focal["boosting"]
    assert boost["status"] in {"ran", "skipped", "failed"}
    assert set(boost["libraries"]) == {"xgboost", "lightgbm"}
    for lib in boost["libraries"].values():
        if lib["status"] == "ran":
            assert set(lib["ap"]) == {"log_loss", "focal"}
            assert all(0.0 <= v <= 1.0 for v in lib["ap"].values())
        else:
            assert lib["reason"].startswith(lib["status"] + ":")
    det = exps["detection"]["results"]
    grid = [*det["grid"]["ce"], *det["grid"]["focal"]]
    assert grid
    for row in grid:
        assert all(0.0 <= row[m] <= 1.0 for m in ("AP", "AP50", "AP75"))
        assert row["AP75"] <= row["AP50"]
    assert det["best_focal"]["gamma"] > 0
    assert det["best_ce"]["gamma"] == 0
    assert len(det["per_replicate"]) == det["replicates"]
    assert det["data"]["positive_output_fraction"] < 0.01
    assert set(det["loss_distribution"]["summary"]) == {"0.0", "0.5", "1.0", "2.0"}
    assert det["no_prior"]
    names = {f["file"] for f in exps["detection"]["figures"]}
    assert {
        "figures/detector_detections.png",
        "figures/detector_loss_cdf.png",
        "figures/detector_prior_init.png",
        "figures/detector_data.png",
    } <= names


def test_html_is_self_contained(quick: tuple[Path, dict[str, Any], float]) -> None:
    out, res, _ = quick
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "http://" not in page
    assert "https://" not in page
    for e in res["experiments"].values():
        assert e["title"] in page
        assert f"badge {e['verdict']['status']}" in page
        for f in e["figures"]:
            assert f"src='{f['file']}'" in page


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    a = run_report(tmp_path / "a", mode="quick", seed=3, only=["logits"], progress=False)
    b = run_report(tmp_path / "b", mode="quick", seed=3, only=["logits"], progress=False)
    assert a["experiments"]["logits"]["results"] == b["experiments"]["logits"]["results"]
    assert list(a["experiments"]) == ["logits"]


def _without_timings(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: _without_timings(v)
            for k, v in obj.items()
            if not (k.endswith("_s") or k in {"time_s", "train_s", "total_s"})
        }
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def test_detection_same_seed_same_numbers(
    quick: tuple[Path, dict[str, Any], float], tmp_path: Path
) -> None:
    again = run_report(tmp_path, mode="quick", seed=0, only=["detection"], progress=False)
    first = quick[1]["experiments"]["detection"]["results"]
    assert _without_timings(again["experiments"]["detection"]["results"]) == _without_timings(first)


def test_run_report_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        run_report(tmp_path, mode="huge", progress=False)
    with pytest.raises(ValueError, match="unknown experiment"):
        run_report(tmp_path, mode="quick", only=["nope"], progress=False)
    assert not (tmp_path / "results.json").exists()
