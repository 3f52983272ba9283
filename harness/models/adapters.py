"""LoRA adapters swapped on one loaded base model (peft): the base is read once, and each
adapter folder (a run's ``checkpoint-<step>``, or its final ``model``) is attached in turn, made the
active one, and the one before it deleted, so memory holds the base and at most two adapters."""

from __future__ import annotations

from pathlib import Path


def is_adapter(folder: Path) -> bool:
    """True when ``folder`` holds a peft adapter (``adapter_config.json``) rather than a whole model."""
    return (Path(folder) / "adapter_config.json").is_file()


class AdapterSwap:
    """One base model wearing one adapter at a time.

    :param base: the loaded base model (a transformers ``PreTrainedModel``); peft wraps it in
        place on the first :meth:`attach`, so use the returned model from then on.
    """

    def __init__(self, base):
        self.base = base
        self.model = None  # the PeftModel, once an adapter is attached
        self.active: str | None = None
        self.loaded = 0  # adapters attached so far

    def attach(self, folder: Path, name: str):
        """Load the adapter in ``folder`` as ``name``, make it the active one and delete the one
        before; returns the model to evaluate (in eval mode)."""
        from peft import PeftModel

        if self.model is None:
            self.model = PeftModel.from_pretrained(self.base, str(folder), adapter_name=name)
        else:
            self.model.load_adapter(str(folder), adapter_name=name)
            self.model.set_adapter(name)
            self.model.delete_adapter(self.active)
        self.active = name
        self.loaded += 1
        self.model.eval()
        return self.model
