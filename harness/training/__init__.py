"""Fine-tuning with the transformers Trainer: full or LoRA (peft), loss on response tokens only,
checkpoints chosen on a dev split, resumable after a kill.

The recipe (:mod:`.recipe`: :func:`fine_tune` step by step) uses the batches (:mod:`.batching`,
:mod:`.packing`), the method (:mod:`.lora`), the dev evaluation (:mod:`.dev`), the checkpoints
(:mod:`.checkpoints`) and the Trainer subclass (:mod:`.trainer`, the only module that imports
transformers at import time: loaded when training starts), and reports a :class:`TrainResult`
(:mod:`.result`). Importing this package stays light (no torch, no transformers).
"""

from harness.training.batching import build_train_features, make_collator
from harness.training.checkpoints import latest_checkpoint
from harness.training.dev import DevSet
from harness.training.recipe import engine_arguments, fine_tune
from harness.training.result import TrainResult

__all__ = [
    "DevSet",
    "TrainResult",
    "build_train_features",
    "engine_arguments",
    "fine_tune",
    "latest_checkpoint",
    "make_collator",
]
