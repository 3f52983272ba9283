"""Every key of the config schema, fed a value of the wrong type or outside its domain, is refused
with one line naming where it was set (exit code 2), before any model work: a property over the
whole schema (walked from the dataclasses), not a list of cases. A new key joins it by itself;
a new numeric key must declare its domain in DOMAINS."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from harness.cli import main
from harness.config import Config
from harness.config_loader import load_config
from harness.errors import HarnessError
from harness.validation import MAX_SEED


def _leaves(cls=Config, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            yield from _leaves(hint, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}", hint


LEAVES = dict(_leaves())
INF = math.inf
# the values a numeric key accepts: (low, high, low included, high included)
DOMAINS = {
    "seed": (0, MAX_SEED, True, True),
    "seeds": (1, 100, True, True),
    "threads": (0, INF, True, False),
    "train.epochs": (0, INF, True, False),  # 0 only with train.max_steps (checked below)
    "train.batch_size": (1, INF, True, False),
    "train.learning_rate": (0, INF, False, False),
    "train.weight_decay": (0, 1, True, True),
    "train.warmup_ratio": (0, 1, True, True),
    "train.max_length": (1, INF, True, False),
    "train.logging_steps": (1, INF, True, False),
    "train.max_steps": (-1, INF, True, False),  # and not 0 (-1: use epochs)
    "train.seed": (-1, MAX_SEED, True, True),
    "train.eval_every": (0, INF, True, False),
    "train.dev_size": (0, INF, True, False),
    "train.patience": (0, INF, True, False),
    "train.save_every": (0, INF, True, False),
    "lora.r": (1, INF, True, False),
    "lora.alpha": (1, INF, True, False),
    "lora.dropout": (0, 1, True, False),
    "eval.batch_size": (1, INF, True, False),
    "eval.limit": (0, INF, True, False),
    "eval.num_fewshot": (0, INF, True, False),
    "stats.n_resamples": (1, INF, True, False),
    "stats.alpha": (0, 1, False, False),
    "stats.min_effect": (0, INF, True, False),
    "guard.limit": (0, INF, True, False),
    "guard.num_fewshot": (0, INF, True, False),
    "guard.batch_size": (1, INF, True, False),
    "forgetting.documents": (0, INF, True, False),
}
NUMERIC = {key for key, hint in LEAVES.items() if hint in (int, float)}

# TOML literals of the wrong type for each kind of key
WRONG = {
    int: ['"7"', "1.5", "true", "[1]", "{ a = 1 }"],
    float: ['"0.5"', "true", "[0.5]", "nan", "inf"],
    bool: ["1", '"yes"', "[true]"],
    str: ["1", "true", '["a"]', "{ a = 1 }"],
    list[str]: ["1", "true", "[1, 2]", "{ a = 1 }", '[""]'],
}


def _refused(item: str) -> str:
    """The one-line error ``--set item`` gets (the test fails if it is accepted)."""
    with pytest.raises(HarnessError) as caught:
        load_config(None, [item])
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"--set {item!r}:"), message
    return message


def test_every_numeric_key_declares_its_domain():
    assert sorted(NUMERIC - set(DOMAINS)) == [] and sorted(set(DOMAINS) - NUMERIC) == []


@pytest.mark.parametrize("key", sorted(k for k, h in LEAVES.items() if h in WRONG))
def test_a_value_of_the_wrong_type_is_one_line(key):
    for literal in WRONG[LEAVES[key]]:
        if (
            key in ("plugins", "tasks_dirs", "gates.require", "guard.tasks", "train.report_to")
            and literal == '[""]'
        ):
            continue  # empty names there are checked where they are resolved (a file or a name)
        _refused(f"{key}={literal}")


@pytest.mark.parametrize("key", sorted(DOMAINS))
def test_a_value_outside_the_domain_is_one_line_and_the_bounds_are_accepted(key):
    low, high, low_in, high_in = DOMAINS[key]
    number = (lambda x: str(int(x))) if LEAVES[key] is int else (lambda x: repr(float(x)))
    step = 1 if LEAVES[key] is int else 1e-6
    outside = [low - step] if low_in else [low]
    if not math.isinf(high):
        outside.append(high + step if high_in else high)
    for value in outside:
        _refused(f"{key}={number(value)}")
    extras = {"train.epochs": ["train.max_steps=5"]}.get(key, [])
    for value in ([low] if low_in else [low + step]) + ([high] if high_in and not math.isinf(high) else []):
        overrides = [f"{key}={number(value)}", *extras]
        if key == "seed":
            overrides.append("seeds=1")
        load_config(None, overrides)  # accepted


def test_cross_field_rules(tmp_path):
    _refused("train.max_steps=0")
    with pytest.raises(HarnessError, match="train.epochs must be positive"):
        load_config(None, ["train.epochs=0"])
    with pytest.raises(HarnessError, match="seed \\+ seeds - 1 must be at most"):
        load_config(None, [f"seed={MAX_SEED}", "seeds=2"])


def test_a_config_file_names_the_line_and_the_cli_exits_2_before_model_work(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('model = "tiny"\n\n[train]\nbatch_size = "eight"\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"bad\.toml:4: 'train\.batch_size' must be an integer"):
        load_config(path)
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml:4" in err and len(err.strip().splitlines()) == 1


DATA_WRONG = {  # a [data.<task>.<split>] table's keys, each with values of the wrong type or range
    "path": ["1", '""', "[1]"],
    "limit": ['"x"', "-1", "0", "1.5", "true"],
    "fields": ["1", '"input"', "{ input = 1 }"],
    "labels": ["[1]", '"x"'],
    "columns": ["1", "[1]", '["a", "a"]'],
}


@pytest.mark.parametrize("key", sorted(DATA_WRONG))
def test_a_data_table_value_of_the_wrong_type_is_one_line(key):
    for literal in DATA_WRONG[key]:
        table = f'{{ path = "x.tsv", {key} = {literal} }}' if key != "path" else f"{{ path = {literal} }}"
        message = _refused(f"data.sentiment.test={table}")
        assert "data.sentiment.test" in message
