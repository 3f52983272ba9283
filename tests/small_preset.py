"""A very small variant of the ``tiny`` preset for tests that train, and a plugin file that
registers it for tests that run ``harness`` in a subprocess."""

from __future__ import annotations

from pathlib import Path

from harness.presets import preset_path, tiny_preset

NAME = "tiny-train-test"
SMALL = {"pretrain_steps": 5, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
PLUGIN = f"""
import harness
from harness.presets import tiny_preset

@harness.hookimpl
def harness_model_presets():
    return [tiny_preset({NAME!r}, **{SMALL!r})]
"""


def small_preset_dir() -> Path:
    """The small preset, built on first use into the test session's cache."""
    return preset_path(tiny_preset(NAME, **SMALL))


def write_plugin(directory: Path) -> Path:
    """Write the plugin that registers the small preset; build the preset first so that
    concurrent subprocesses find it cached instead of racing to build it."""
    small_preset_dir()
    path = Path(directory) / "plugin.py"
    path.write_text(PLUGIN, encoding="utf-8")
    return path
