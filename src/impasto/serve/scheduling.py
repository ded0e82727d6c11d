"""Where ``impasto serve``'s workers run and which jobs each takes: one pure function,
:func:`plan_workers`, from the machine's facts (the device, the GPUs and their memory, the CPU
cores, ``--workers`` and ``--gpu-jobs``) to one :class:`Slot` per worker process, so the choice
is tested with made-up machines (tests/test_serve_scheduling.py) and read in one place.

On the CPU (the 2-core case) one job runs per worker, and with two or more workers the last
takes quick jobs only (AdaIN, WCT, networks), so a picture never waits behind an optimisation
or a video. On a GPU one small job leaves most of the GPU idle (a 512 px AdaIN picture is a few
milliseconds of work and a few hundred MB), so each GPU runs several jobs at once: one worker
that takes any job (one long job, an optimisation or a video, per GPU: they are what fills its
memory and its compute) and quick-only workers beside it, as many as its memory leaves room for.
These numbers are a reasoned guess, not measured on a GPU (docs/serve.md says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from impasto.errors import InvalidOption

#: GPU memory (GiB) held back for the one long job on a GPU (an optimisation at 1024-2048 px,
#: or a video's frame and its temporal state), and what each quick job beside it may take (a
#: network or AdaIN at up to 2048 px with its CUDA context). A guess, not measured.
SLOW_JOB_GIB = 8.0
QUICK_JOB_GIB = 3.0
#: At most this many jobs at once on one GPU by default: past it, the CPU side of each job
#: (decoding, encoding, the Python around the kernels) is what limits, not the GPU.
MAX_JOBS_PER_GPU = 4
#: Jobs at once on a GPU whose memory is not known (Apple's MPS shares the machine's memory).
UNKNOWN_MEMORY_JOBS = 2
#: Worker processes on the CPU when ``--workers`` is not given: one for any job and one for
#: quick jobs (the 2-core case).
CPU_WORKERS = 2

ANY = ("quick", "slow")
QUICK = ("quick",)


@dataclass(frozen=True)
class Slot:
    """One worker process: the device it renders on, the lanes it takes jobs from, and the
    CPU threads it gives PyTorch."""

    device: str
    lanes: tuple[str, ...]
    threads: int


def jobs_per_gpu(memory_gib: float | None) -> int:
    """How many jobs one GPU runs at once by default: one long job, and quick jobs beside it
    as far as its memory goes (at least one job, at most :data:`MAX_JOBS_PER_GPU`)."""
    if memory_gib is None:
        return UNKNOWN_MEMORY_JOBS
    quick = int(max(0.0, memory_gib - SLOW_JOB_GIB) // QUICK_JOB_GIB)
    return max(1, min(MAX_JOBS_PER_GPU, 1 + quick))


def plan_workers(device: str, *, gpus: int = 0, gpu_memory_gib: float | None = None,
                 workers: int | None = None, gpu_jobs: int | None = None, cpus: int = 2
                 ) -> list[Slot]:
    """The worker processes to start: ``device`` as resolved (``cpu``, ``cuda``, ``cuda:1``,
    ``mps``), ``gpus`` CUDA GPUs with ``gpu_memory_gib`` each (the smallest, None: not known),
    ``workers`` the total asked for (None: chosen here), ``gpu_jobs`` the jobs at once per GPU
    asked for (None: from its memory), ``cpus`` the CPU cores."""
    if workers is not None and workers < 1:
        raise InvalidOption("--workers must be at least 1")
    if gpu_jobs is not None and gpu_jobs < 1:
        raise InvalidOption("--gpu-jobs must be at least 1")
    cpus = max(1, cpus)
    kind, _, index = device.partition(":")
    if kind == "cpu":
        count = workers or CPU_WORKERS
        return [Slot("cpu", QUICK if count >= 2 and i == count - 1 else ANY,
                     max(1, cpus // count)) for i in range(count)]
    if kind == "cuda":
        if gpus < 1:
            raise InvalidOption("device cuda was asked for, but no CUDA GPU is seen")
        devices = [device] if index else [f"cuda:{i}" for i in range(gpus)]
    elif kind == "mps":
        devices, gpu_memory_gib = ["mps"], None
    else:
        raise InvalidOption(f"impasto serve runs on cpu, cuda or mps, not {device!r}")
    per_gpu = gpu_jobs or jobs_per_gpu(gpu_memory_gib)
    # Each job also needs a CPU core of its own (decoding, encoding, Python): on a machine
    # with few cores, fewer jobs at once unless --workers asks for more.
    count = workers or max(len(devices), min(per_gpu * len(devices), cpus))
    slots = []
    for i in range(count):
        first_on_its_gpu = i < len(devices)  # round robin: slots 0..G-1 open each GPU
        slots.append(Slot(devices[i % len(devices)], ANY if first_on_its_gpu else QUICK,
                          max(1, cpus // count)))
    return slots


def gpu_facts(device: str) -> tuple[int, float | None]:
    """(CUDA GPUs seen, the smallest one's memory in GiB) for ``device`` (0, None off CUDA)."""
    if not device.startswith("cuda"):
        return 0, None
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return 0, None
    smallest = min(torch.cuda.get_device_properties(i).total_memory for i in range(count))
    return count, smallest / 2**30


def describe(slots: list[Slot]) -> str:
    """The plan in a few words, for the start-up line: "3 workers on cuda:0 (1 for any job,
    2 for quick jobs)"."""
    parts = []
    for device in dict.fromkeys(s.device for s in slots):
        here = [s for s in slots if s.device == device]
        quick = sum(1 for s in here if s.lanes == QUICK)
        parts.append(f"{len(here)} on {device}" + (
            f" ({len(here) - quick} for any job, {quick} for quick jobs)" if quick else ""))
    return f"{len(slots)} worker{'s' if len(slots) != 1 else ''}: " + "; ".join(parts)
