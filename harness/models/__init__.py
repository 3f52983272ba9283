"""Models: loading a preset, local directory or Hub id (:mod:`.loading`), device, dtype and
threads (:mod:`.device`), and the embedded ``tiny`` preset built locally (:mod:`.presets`)."""

from harness.models.device import available_cores, configure_threads, pick_dtype, resolve_device
from harness.models.loading import LoadedModel, check_model, count_parameters, load_model

__all__ = [
    "LoadedModel",
    "available_cores",
    "check_model",
    "configure_threads",
    "count_parameters",
    "load_model",
    "pick_dtype",
    "resolve_device",
]
