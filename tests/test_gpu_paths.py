"""What a GPU run does, exercised on the CPU (no GPU is lent to this work; bench/gpu.sh measures
the rest there):

* bf16: on a GPU harness loads the weights in bfloat16 and trains with ``bf16=True``; the same path
  on the CPU (``pick_dtype`` answering bfloat16) trains, selects on dev and evaluates, with losses
  within bf16's rounding of the float32 run's.
* FSDP: accelerate shards only on GPUs. With processes on the CPU it drops the FSDP plugin without
  a word and the Trainer runs plain DDP (pinned below under torchrun with gloo), so harness refuses
  ``train.fsdp`` on the CPU, on one line, before any model work.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

import harness
from harness.cli import main


def test_bf16_on_the_cpu_trains_and_evaluates_as_float32_does(tmp_path, echo_plugin, run_config, monkeypatch):
    import torch
    from safetensors import safe_open

    from harness.models import loading
    from harness.training import recipe

    plugin = echo_plugin(tmp_path, n_test=16, n_train=32)
    made, arguments = {}, recipe.training_arguments
    monkeypatch.setattr(
        recipe, "training_arguments", lambda *a, **k: made.setdefault("args", arguments(*a, **k))
    )
    runs = {}
    for name in ("float32", "bfloat16"):
        if name == "bfloat16":  # what a GPU that supports it gets
            monkeypatch.setattr(loading, "pick_dtype", lambda device: torch.bfloat16)
        made.clear()
        config = run_config(tmp_path / name, plugin, epochs=2)
        config.train.dev_size, config.train.eval_every, config.train.logging_steps = 4, 2, 1
        results, paths = harness.run(config)
        samples = [json.loads(line) for line in paths["samples"].read_text(encoding="utf-8").splitlines()]
        runs[name] = results, samples, made["args"]
    (fp32, fp32_samples, fp32_args), (bf16, bf16_samples, bf16_args) = runs["float32"], runs["bfloat16"]

    assert (fp32_args.bf16, bf16_args.bf16) == (False, True) and bf16["device"]["dtype"] == "bfloat16"
    with safe_open(bf16["model"]["output_dir"] + "/model.safetensors", "pt") as weights:
        assert {weights.get_slice(k).get_dtype() for k in weights.keys()} == {"BF16"}
    # the same steps, each loss within bf16's rounding of float32's (measured: 0.004% at step 1,
    # at most 0.4%), and not the same numbers: another arithmetic ran
    losses = [
        (a["loss"], b["loss"])
        for a, b in zip(fp32["training"]["loss_history"], bf16["training"]["loss_history"], strict=True)
    ]
    assert len(losses) == fp32["training"]["steps"] == bf16["training"]["steps"] == 8
    assert losses[0][1] == pytest.approx(losses[0][0], rel=1e-3)
    assert all(b == pytest.approx(a, rel=1e-2) for a, b in losses) and any(a != b for a, b in losses)
    assert [row["step"] for row in bf16["training"]["dev_history"]] == [2, 4, 6, 8]
    # evaluation in bf16: greedy answers as float32's (measured: 16 of 16 before, 15 of 16 after)
    for phase in ("before", "after"):
        same = sum(
            a[f"prediction_{phase}"] == b[f"prediction_{phase}"]
            for a, b in zip(fp32_samples, bf16_samples, strict=True)
        )
        assert same >= 12, (phase, same)


def test_fsdp_on_the_cpu_is_one_line_before_any_model_work(tmp_path, echo_plugin, capsys, monkeypatch):
    from harness import models

    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    plugin = echo_plugin(tmp_path)
    args = ["run", "--tasks", "echo", "--plugin", str(plugin), "-o", str(tmp_path / "reports"), "-q"]
    args += ["--set", "device=cpu", "--set", 'train.fsdp="full_shard auto_wrap"']
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.fsdp = 'full_shard auto_wrap' on the CPU" in err
    assert "would run plain DDP" in err and not (tmp_path / "reports").exists()


PROBE = """
import json, os
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

tokenizer, model = AutoTokenizer.from_pretrained(MODEL), AutoModelForCausalLM.from_pretrained(MODEL)
batch = tokenizer(["a b c d"] * 4, return_tensors="pt")["input_ids"]
rows = [{"input_ids": ids, "labels": ids} for ids in batch]
args = TrainingArguments(
    output_dir=OUT, per_device_train_batch_size=2, max_steps=1, use_cpu=True, report_to="none",
    save_strategy="no", disable_tqdm=True, fsdp="full_shard auto_wrap",
    fsdp_config={"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]},
)
trainer = Trainer(model=model, args=args, train_dataset=rows)
trainer.train()
state, rank = trainer.accelerator.state, int(os.environ["RANK"])
seen = {"rank": rank, "fsdp": trainer.is_fsdp_enabled, "type": str(state.distributed_type),
        "wrapped": type(trainer.model_wrapped).__name__}
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, f"probe-{rank}.json"), "w") as f:  # a file per rank: no shared pipe
    json.dump(seen, f)
"""


@pytest.mark.slow
def test_accelerate_drops_fsdp_on_the_cpu(tmp_path, tiny_model_dir):
    """Why the refusal above: asked for FSDP under torchrun on the CPU (gloo), accelerate's state is
    MULTI_CPU without an FSDP plugin and the Trainer wraps the model in DDP. When this fails,
    accelerate shards on the CPU and harness.training.recipe.check_engine_device can go. ~10 s."""
    script = tmp_path / "probe.py"
    script.write_text(
        f"MODEL, OUT = {str(tiny_model_dir)!r}, {str(tmp_path / 'out')!r}\n{PROBE}", encoding="utf-8"
    )
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    done = subprocess.run(
        [*launcher, "--master_port", port, str(script)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = [json.loads((tmp_path / "out" / f"probe-{rank}.json").read_text()) for rank in (0, 1)]
    expected = {"fsdp": False, "type": "DistributedType.MULTI_CPU", "wrapped": "DistributedDataParallel"}
    assert seen == [{"rank": 0, **expected}, {"rank": 1, **expected}]
