"""Collectives for multi-process runs: ``torchrun`` / ``accelerate launch`` with the Trainer's
DDP (or FSDP / DeepSpeed through ``[train]`` config keys).

Every helper is trivial in a single process (rank 0 of 1), so the code that uses them needs no
``if distributed`` branches. In a launched run (``WORLD_SIZE > 1``):

* :func:`init_if_launched` initialises the default process group once, at the start of a run,
  with the backend the Trainer would pick (``nccl`` on CUDA, ``gloo`` on CPU); accelerate's
  ``PartialState`` (created by ``TrainingArguments``) sees an initialised group and reuses it,
  so eval-only and training runs share one consistent initialisation.
* Evaluation is data-parallel (:func:`harness.evaluation.predict_sharded`): each rank predicts
  the examples ``examples[rank::world]``; the predictions are gathered on rank 0, put back in the
  original order, and scored there once, on the whole test set, so the metric values are those
  of a single process given the same predictions.
* Rank 0 alone writes reports, results.json, cache entries, run_state.json and the final model;
  the other ranks wait at a :func:`barrier` and return.

Why not accelerate's ``PartialState`` and ``accelerate.utils.gather_object``: these helpers
never import torch (the CLI asks :func:`is_main` before anything heavy), creating a
``PartialState`` initialises the process group by itself (and picks the device), and accelerate's
``gather_object`` flattens lists and returns the result on every rank."""

from __future__ import annotations

import os
import sys
from typing import Any


def _dist():
    """``torch.distributed`` when a process group is initialised, else None.

    Never imports torch: a group can only exist once ``torch.distributed`` has been imported, and
    commands that fail on bad input must stay light.
    """
    dist = sys.modules.get("torch.distributed")
    return dist if dist is not None and dist.is_available() and dist.is_initialized() else None


def launched() -> bool:
    """True when a launcher (torchrun, accelerate launch) started more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    """This process's global rank (0 in a single process)."""
    dist = _dist()
    return dist.get_rank() if dist else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """The number of processes (1 in a single process)."""
    dist = _dist()
    return dist.get_world_size() if dist else int(os.environ.get("WORLD_SIZE", "1"))


def local_world_size() -> int:
    """Processes on this node."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def is_main() -> bool:
    """True on rank 0: the process that writes files and prints."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    dist = _dist()
    if dist and dist.get_world_size() > 1:
        dist.barrier()


def gather_object(obj: Any) -> list | None:
    """Every rank's ``obj`` in rank order on rank 0, None elsewhere (``[obj]`` in one process)."""
    dist = _dist()
    if not dist or dist.get_world_size() == 1:
        return [obj]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)  # all_gather: supported by every backend, NCCL included
    return gathered if dist.get_rank() == 0 else None


def sum_ints(values: list[int], device=None) -> list[int]:
    """``values`` summed element-wise over the ranks (``values`` itself in one process).

    :param device: where the reduction tensor lives (a CUDA device for NCCL).
    """
    dist = _dist()
    if not dist or dist.get_world_size() == 1:
        return list(values)
    import torch

    tensor = torch.tensor(values, dtype=torch.int64, device=device)
    dist.all_reduce(tensor)
    return [int(v) for v in tensor.tolist()]


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (``obj`` itself in one process)."""
    dist = _dist()
    if not dist or dist.get_world_size() == 1:
        return obj
    box = [obj if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def init_if_launched(device: str = "auto") -> bool:
    """Initialise the default process group when launched with ``WORLD_SIZE > 1`` and nobody has yet.

    Backend: ``nccl`` when the run uses CUDA (after selecting the GPU ``LOCAL_RANK``), else
    ``gloo``, the same choice accelerate makes, which then reuses this group. Returns True when
    a process group is (now) initialised.
    """
    if not launched():
        return False
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return True
    cuda = torch.cuda.is_available() and (device == "auto" or device.startswith("cuda"))
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def info() -> dict:
    """For results.json: how many processes ran and with which backend."""
    dist = _dist()
    return {
        "world_size": world_size(),
        "backend": dist.get_backend() if dist else None,
        "nodes": max(1, world_size() // max(1, local_world_size())),
        "evaluation": "sharded" if world_size() > 1 else "single process",
    }
