"""Where a model runs: the device, its dtype and torch's CPU threads."""

from __future__ import annotations

import os

from harness.errors import HarnessError


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity masks and container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def configure_threads(threads: int = 0) -> int:
    """Set torch's intra-op thread count: ``threads`` if > 0, else one per available core.

    Oversubscribed threads are very costly on small machines (20x slower in a trial with one
    core busy), so never leave torch's default when cores are shared.
    """
    import torch

    count = threads if threads > 0 else available_cores()
    torch.set_num_threads(count)
    return count


def default_threads() -> int:
    """CPU threads per process for ``threads = 0``: the available cores shared by this node's ranks."""
    from harness.distributed import local_world_size

    return max(1, available_cores() // max(1, local_world_size()))


def resolve_device(requested: str = "auto") -> str:
    """``auto`` picks CUDA when available, else CPU; an unavailable CUDA request is an error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError(
            f'config: device {requested!r} requested but CUDA is not available; use device="cpu"'
        )
    return requested


def pick_dtype(device: str):
    """bf16 on GPUs that support it, fp32 otherwise (fp32 keeps CPU results exact)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
