"""What the lean decoding loops need to know about a model's ``forward``: the keywords it
accepts and the name of its KV cache, read from its signature (never guessed)."""

from __future__ import annotations

# The keyword a model's ``forward`` takes its KV cache under, newest first: transformers 5.24
# renamed ``past_key_values`` to ``cache`` (the old name is deprecated, to go in 5.40), in the
# model outputs too. Both are supported; tests fail loudly if a future release renames it again.
CACHE_ARGUMENTS = ("cache", "past_key_values")


def _forward_parameters(model) -> frozenset[str]:
    """The keyword names the (base) model's ``forward`` accepts; empty when it cannot be read."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
    try:
        return frozenset(inspect.signature(base.forward).parameters)
    except (TypeError, ValueError):
        return frozenset()


def cache_argument(model) -> str | None:
    """The name under which ``model.forward`` takes its KV cache (see :data:`CACHE_ARGUMENTS`),
    or ``None`` when it takes neither."""
    parameters = _forward_parameters(model)
    return next((name for name in CACHE_ARGUMENTS if name in parameters), None)


def returned_cache(output):
    """The KV cache a forward pass returned, under either of :data:`CACHE_ARGUMENTS`, or ``None``."""
    for name in CACHE_ARGUMENTS:
        if name in output.keys():  # keys only: the old attribute name warns on new releases
            return output[name]
    return None
