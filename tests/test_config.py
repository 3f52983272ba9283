"""Run configuration: defaults, TOML files, --set overrides and validation errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.config import PROMPT_TEMPLATES, Config, to_dict
from harness.config_loader import load_config
from harness.errors import HarnessError


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_defaults():
    config = load_config()
    assert config == Config()
    assert config.model == "tiny" and config.method == "auto"
    assert config.tasks == ["summarization", "sentiment", "translation"]
    assert config.train.epochs == 20.0 and config.train.batch_size == 8
    assert config.lora.target_modules == ["all-linear"]
    assert config.eval.limit == 0
    assert config.prompt() == PROMPT_TEMPLATES["compact"]
    as_dict = to_dict(config)
    assert as_dict["train"]["learning_rate"] == 3e-3 and as_dict["data"] == {}


def test_defaults_are_not_shared_between_configs():
    first, second = load_config(), load_config()
    first.tasks.append("extra")
    first.lora.target_modules.append("q_proj")
    assert second.tasks == ["summarization", "sentiment", "translation"]
    assert second.lora.target_modules == ["all-linear"]


def test_toml_file(tmp_path):
    path = write_toml(
        tmp_path,
        """
        model = "gpt2"
        method = "lora"
        tasks = ["sentiment"]
        prompt_template = "alpaca"

        [train]
        epochs = 3          # an int is fine for a float
        learning_rate = 1e-4

        [lora]
        r = 4
        target_modules = ["q_proj", "v_proj"]

        [eval]
        limit = 50

        [data.sentiment]
        test = { path = "my.csv", fields = { input = "text" }, labels = { "1" = "Positive" } }
    """,
    )
    config = load_config(path)
    assert config.model == "gpt2" and config.method == "lora" and config.tasks == ["sentiment"]
    assert config.train.epochs == 3.0 and isinstance(config.train.epochs, float)
    assert config.train.learning_rate == 1e-4
    assert config.train.batch_size == 8  # untouched keys keep their defaults
    assert config.lora.r == 4 and config.lora.target_modules == ["q_proj", "v_proj"]
    assert config.eval.limit == 50
    mine = str(tmp_path / "my.csv")  # read from the config file's folder
    assert config.data == {
        "sentiment": {"test": {"path": mine, "fields": {"input": "text"}, "labels": {"1": "Positive"}}}
    }
    assert config.prompt() == PROMPT_TEMPLATES["alpaca"]


def test_missing_config_file(tmp_path):
    with pytest.raises(HarnessError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_unknown_top_level_key_names_file_line_and_suggestion(tmp_path):
    path = write_toml(
        tmp_path,
        """\
        model = "tiny"
        # a comment
        epocs = 3
    """,
    )
    with pytest.raises(HarnessError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:3: unknown config key 'epocs'"  # nothing close at the top level


def test_unknown_top_level_key_suggestion(tmp_path):
    path = write_toml(tmp_path, 'modle = "tiny"\n')
    with pytest.raises(HarnessError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:1: unknown config key 'modle' (did you mean 'model'?)"


def test_unknown_nested_key_names_file_line_and_suggestion(tmp_path):
    path = write_toml(
        tmp_path,
        """\
        model = "tiny"

        [train]
        batch_size = 4
        learning_rat = 0.01
    """,
    )
    with pytest.raises(HarnessError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}:5: unknown config key 'train.learning_rat' (did you mean 'learning_rate'?)"
    )


def test_unknown_table(tmp_path):
    path = write_toml(
        tmp_path,
        """\
        [trian]
        epochs = 1
    """,
    )
    with pytest.raises(HarnessError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:1: unknown config key 'trian' (did you mean 'train'?)"


@pytest.mark.parametrize(
    "text, message",
    [
        ('seed = "zero"\n', "'seed' must be an integer, got 'zero'"),
        ("seed = 1.5\n", "'seed' must be an integer, got 1.5"),
        ("seed = true\n", "'seed' must be an integer, got True"),
        ('tasks = "sentiment"\n', None),  # a comma string is a list (see below)
        ("tasks = [1, 2]\n", "'tasks' must be a list of strings, got [1, 2]"),
        ("model = 3\n", "'model' must be a string, got 3"),
        ('[train]\nepochs = "many"\n', "'train.epochs' must be a number, got 'many'"),
        ('[train]\ngradient_checkpointing = "yes"\n', "'train.gradient_checkpointing' must be true or false"),
        ("train = 3\n", "'train' must be a table"),
        ("data = 3\n", "'data' must be a table, got 3"),
    ],
)
def test_wrong_types(tmp_path, text, message):
    path = write_toml(tmp_path, text)
    if message is None:
        assert load_config(path).tasks == ["sentiment"]
        return
    with pytest.raises(HarnessError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:")
    assert message in str(info.value)


def test_wrong_type_names_the_line(tmp_path):
    path = write_toml(tmp_path, 'model = "tiny"\n\n[eval]\nbatch_size = "big"\n')
    with pytest.raises(HarnessError, match=r"run\.toml:4: 'eval\.batch_size' must be an integer"):
        load_config(path)


def test_bad_method_value():
    with pytest.raises(HarnessError) as info:
        load_config(overrides=["method=lroa"])
    assert (
        str(info.value)
        == "--set 'method=lroa': method must be one of auto, full, lora, got 'lroa' (did you mean 'lora'?)"
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lr_scheduler=exponential", "train.lr_scheduler must be one of"),
        ("train.batch_size=0", "train.batch_size must be positive, got 0"),
        ("train.learning_rate=0", "train.learning_rate must be positive"),
        ("train.epochs=0", "train.epochs must be positive"),
        ("eval.limit=-1", "eval.limit must be >= 0"),
        ("tasks=[]", "tasks is empty"),
        ("device=gpu", "device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ],
)
def test_validation(override, message):
    with pytest.raises(HarnessError, match=message.replace(".", r"\.")):
        load_config(overrides=[override])


def test_epochs_zero_allowed_with_max_steps():
    config = load_config(overrides=["train.epochs=0", "train.max_steps=10"])
    assert config.train.max_steps == 10


def test_set_overrides_nested_keys_and_types(tmp_path):
    path = write_toml(tmp_path, "[train]\nepochs = 5\nbatch_size = 2\n")
    config = load_config(
        path,
        [
            "train.epochs=2",
            "lora.dropout=0.1",
            "model=gpt2",
            "device=cuda:1",
            "train.gradient_checkpointing=true",
            "eval.limit=7",
        ],
    )
    assert config.train.epochs == 2.0 and config.train.batch_size == 2  # file value kept, override wins
    assert config.lora.dropout == 0.1 and config.model == "gpt2" and config.device == "cuda:1"
    assert config.train.gradient_checkpointing is True and config.eval.limit == 7


def test_set_later_override_wins():
    assert load_config(overrides=["seed=1", "seed=2"]).seed == 2


def test_set_string_values_with_and_without_quotes():
    assert load_config(overrides=['model="org/model-name"']).model == "org/model-name"
    assert load_config(overrides=["model=org/model-name"]).model == "org/model-name"
    assert load_config(overrides=["prompt_template=Q: {input}\nA:"]).prompt() == "Q: {input}\nA:"


@pytest.mark.parametrize("value", ['["a","b"]', "a,b", " a , b ,"])
def test_set_lists(value):
    assert load_config(overrides=[f"tasks={value}"]).tasks == ["a", "b"]


def test_set_single_item_list():
    assert load_config(overrides=["tasks=sentiment"]).tasks == ["sentiment"]
    assert load_config(overrides=["lora.target_modules=q_proj,v_proj"]).lora.target_modules == [
        "q_proj",
        "v_proj",
    ]


def test_set_data_overrides(tmp_path):
    path = write_toml(tmp_path, '[data.sentiment]\ntrain = "train.jsonl"\n')
    config = load_config(
        path,
        [
            "data.sentiment.test.path=my/test.jsonl",
            'data.sentiment.test.labels={"0" = "Negative", "1" = "Positive"}',
            "data.sentiment.test.limit=5",
            "data.translation.test=fr.jsonl",
        ],
    )
    assert config.data == {
        "sentiment": {
            "train": str(tmp_path / "train.jsonl"),  # in the file: from its folder; --set: as given
            "test": {"path": "my/test.jsonl", "labels": {"0": "Negative", "1": "Positive"}, "limit": 5},
        },
        "translation": {"test": "fr.jsonl"},
    }


def test_set_data_inside_a_path_string_is_an_error():
    with pytest.raises(HarnessError, match="cannot set a key inside a path string"):
        load_config(overrides=["data.sentiment.test=x.jsonl", "data.sentiment.test.path=y.jsonl"])


def test_set_data_without_task():
    with pytest.raises(HarnessError, match="name a task"):
        load_config(overrides=["data=3"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epocs=3", "--set 'train.epocs=3': unknown config key 'train.epocs' (did you mean 'epochs'?)"),
        ("modle=x", "--set 'modle=x': unknown config key 'modle' (did you mean 'model'?)"),
        ("seed.x=1", "--set 'seed.x=1': 'seed' is not a table"),
        ("train.epochs", "--set 'train.epochs': expected KEY=VALUE, e.g. train.epochs=3"),
        ("=3", "--set '=3': expected KEY=VALUE"),
        (
            "train.batch_size=big",
            "--set 'train.batch_size=big': 'train.batch_size' must be an integer, got 'big'",
        ),
    ],
)
def test_set_errors(override, message):
    with pytest.raises(HarnessError) as info:
        load_config(overrides=[override])
    assert str(info.value).startswith(message)


def test_invalid_toml(tmp_path):
    path = write_toml(tmp_path, 'model = "tiny"\nseed = = 3\n')
    with pytest.raises(HarnessError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: invalid TOML: Invalid value (at line 2, column 8)"


@pytest.mark.parametrize("name", sorted(PROMPT_TEMPLATES))
def test_prompt_template_presets(name):
    template = load_config(overrides=[f"prompt_template={name}"]).prompt()
    assert template == PROMPT_TEMPLATES[name]
    assert "{instruction}" in template and template.endswith("### Response:\n")


def test_custom_prompt_template(tmp_path):
    path = write_toml(tmp_path, 'prompt_template = "{instruction}\\n\\nText: {input}\\nAnswer:"\n')
    assert load_config(path).prompt() == "{instruction}\n\nText: {input}\nAnswer:"


@pytest.mark.parametrize("template", ["compcat", "{instruction} only"])
def test_prompt_template_without_input_is_an_error(template):
    with pytest.raises(
        HarnessError, match=r"prompt_template .* is not one of compact, alpaca, chat.* nor a template"
    ) as error:
        load_config(overrides=[f"prompt_template={template}"])
    if template == "compcat":
        assert "did you mean 'compact'?" in str(error.value)


def test_relative_paths_in_a_config_file_are_read_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "run.toml"
    path.write_text(
        """
        plugins = ["my_plugins/topic.py", "some_package.plugin", "/abs/plugin.py"]
        tasks_dirs = ["../tasks-elsewhere"]
        output_dir = "out"
        [guard]
        tasks = ["guards/parity.yaml", "hellaswag"]
        [data.sentiment]
        train = "../data/train.jsonl"
        test = { path = "test.csv", limit = 5 }
        """,
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("configs/run.toml"))
    assert config.plugins == ["configs/my_plugins/topic.py", "some_package.plugin", "/abs/plugin.py"]
    assert config.tasks_dirs == ["tasks-elsewhere"]
    assert config.guard.tasks == ["configs/guards/parity.yaml", "hellaswag"]  # a name stays a name
    assert config.data["sentiment"] == {
        "train": "data/train.jsonl",
        "test": {"path": "configs/test.csv", "limit": 5},
    }
    assert config.output_dir == "out"  # where a run writes: the working directory
