"""Where ``impasto serve``'s workers run and which jobs each takes, for made-up machines: the
CPU case as it always was, one GPU or several of different sizes, ``--workers`` and
``--gpu-jobs`` given, and bad settings refused. (No GPU is needed: the plan is a pure
function of the machine's facts.)"""

from __future__ import annotations

import pytest

from impasto.errors import InvalidOption
from impasto.serve.scheduling import (
    ANY,
    QUICK,
    Slot,
    describe,
    gpu_facts,
    jobs_per_gpu,
    plan_workers,
)


def test_on_the_cpu_the_last_of_two_or_more_workers_takes_quick_jobs_only() -> None:
    assert plan_workers("cpu", cpus=2) == [Slot("cpu", ANY, 1), Slot("cpu", QUICK, 1)]
    assert plan_workers("cpu", workers=1, cpus=2) == [Slot("cpu", ANY, 2)]
    three = plan_workers("cpu", workers=3, cpus=12)
    assert [s.lanes for s in three] == [ANY, ANY, QUICK] and {s.threads for s in three} == {4}
    # More workers than cores: one thread each, never none.
    assert {s.threads for s in plan_workers("cpu", workers=4, cpus=2)} == {1}


@pytest.mark.parametrize(("memory", "jobs"), [(4.0, 1), (8.0, 1), (12.0, 2), (16.0, 3),
                                              (24.0, 4), (80.0, 4), (None, 2)])
def test_jobs_per_gpu_grow_with_its_memory(memory: float | None, jobs: int) -> None:
    assert jobs_per_gpu(memory) == jobs


def test_one_gpu_runs_one_long_job_and_quick_jobs_beside_it() -> None:
    plan = plan_workers("cuda", gpus=1, gpu_memory_gib=24.0, cpus=16)
    assert [s.device for s in plan] == ["cuda:0"] * 4
    assert [s.lanes for s in plan] == [ANY, QUICK, QUICK, QUICK]
    assert {s.threads for s in plan} == {4}
    assert describe(plan) == "4 workers: 4 on cuda:0 (1 for any job, 3 for quick jobs)"
    # A small GPU: one job at a time, which then takes any job.
    assert plan_workers("cuda", gpus=1, gpu_memory_gib=6.0, cpus=8) == [
        Slot("cuda:0", ANY, 8)]
    # Few cores: no more jobs at once than cores (each needs one for its CPU side).
    assert len(plan_workers("cuda", gpus=1, gpu_memory_gib=80.0, cpus=2)) == 2


def test_several_gpus_each_get_a_worker_for_any_job() -> None:
    plan = plan_workers("cuda", gpus=2, gpu_memory_gib=12.0, cpus=32)
    assert [(s.device, s.lanes) for s in plan] == [
        ("cuda:0", ANY), ("cuda:1", ANY), ("cuda:0", QUICK), ("cuda:1", QUICK)]
    # Every GPU keeps its worker for any job even on a machine with fewer cores than GPUs.
    assert [s.device for s in plan_workers("cuda", gpus=4, gpu_memory_gib=40.0, cpus=2)] == [
        "cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    # A GPU named: only that one.
    named = plan_workers("cuda:1", gpus=2, gpu_memory_gib=12.0, cpus=8)
    assert {s.device for s in named} == {"cuda:1"} and len(named) == 2


def test_the_settings_change_the_plan() -> None:
    assert [s.lanes for s in plan_workers("cuda", gpus=1, gpu_memory_gib=80.0, gpu_jobs=2,
                                          cpus=16)] == [ANY, QUICK]
    assert [s.lanes for s in plan_workers("cuda", gpus=1, gpu_memory_gib=80.0, gpu_jobs=1,
                                          cpus=16)] == [ANY]
    # --workers is the total, spread over the GPUs.
    plan = plan_workers("cuda", gpus=2, gpu_memory_gib=80.0, workers=3, cpus=16)
    assert [(s.device, s.lanes) for s in plan] == [
        ("cuda:0", ANY), ("cuda:1", ANY), ("cuda:0", QUICK)]
    mps = plan_workers("mps", cpus=8)
    assert [(s.device, s.lanes) for s in mps] == [("mps", ANY), ("mps", QUICK)]


@pytest.mark.parametrize(("device", "changes", "needle"), [
    ("cpu", {"workers": 0}, "--workers must be at least 1"),
    ("cuda", {"gpus": 1, "gpu_jobs": 0}, "--gpu-jobs must be at least 1"),
    ("cuda", {"gpus": 0}, "no CUDA GPU"),
    ("xla", {}, "cpu, cuda or mps"),
])
def test_bad_settings_are_refused(device: str, changes: dict[str, int], needle: str) -> None:
    with pytest.raises(InvalidOption, match=needle):
        plan_workers(device, **changes)  # type: ignore[arg-type]


def test_gpu_facts_off_cuda_ask_nothing() -> None:
    assert gpu_facts("cpu") == (0, None) and gpu_facts("mps") == (0, None)
