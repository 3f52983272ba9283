"""The forgetting probe: did tuning make the model worse at ordinary text it was never tuned on?

A fixed general-text sample ships with harness (``harness/builtin/forgetting/``: passages of the
CIA World Factbook, public domain, provenance in its PROVENANCE.md). The base and the tuned model
each score every document: its mean next-token loss (nats per token, the document cut to
``min(train.max_length, the model's context)`` tokens). The documents pair the two models, so
the loss gets the paired bootstrap of :mod:`harness.evaluation.stats` and a verdict like any
task's; and the mean KL divergence KL(base ‖ tuned) of the two models' next-token distributions,
averaged over each document's positions and then over the documents, says how far the tuned
model's predictions moved on the same text.

The KL needs both distributions at every position:

* LoRA: one model in one process: the adapter disabled (peft's ``disable_adapter()``) is the base
  model, enabled the tuned one; both run on each batch after tuning, and the KL is exact.
* full fine-tuning overwrites the base weights, so before tuning the probe keeps, per position,
  the base model's :data:`TOP_K` likeliest tokens with their log-probabilities and the mass of all
  the others (about ``TOP_K * 12`` bytes a position: ~50 MB for the whole sample at 384 tokens).
  The KL is then the one between the two distributions over those ``TOP_K + 1`` outcomes (each of
  the top tokens, and "any other token"): a lower bound of the exact KL (grouping outcomes never
  increases it), and exact when the rest's mass is negligible. Its ``settings`` say which.

The results join ``results["tasks"]`` as ``"forgetting"`` (``"kind": "forgetting"``) with the
metrics ``loss`` (primary) and ``kl``, both lower-is-better, so verdicts, the decision, gates
(``forgetting.loss.relative<=0.05``) and the reports treat it like a guard task. The loss's
``scale`` is the base model's mean loss, so ``stats.min_effect`` (0.01) is a relative change of
1 % there. Per-document values are kept in the entry (``documents``), so ``harness rescore``
decides again from results.json alone.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass

from harness import builtin
from harness.config import Config
from harness.errors import HarnessError
from harness.jsonl import read_jsonl
from harness.metrics import Metric, MetricResult

NAME = KIND = "forgetting"  # its entry in results["tasks"], and that entry's kind
METRICS = ("loss", "kl")
VERSION = "1"  # bump when the sample or the scoring changes
SAMPLE = "sample.jsonl"
TOP_K = 64  # base tokens kept per position for the KL after full fine-tuning
TOKENS_PER_BATCH = 2048  # padded tokens per forward pass (their logits are in memory at once)
SOURCE = "harness built-in general text: CIA World Factbook backgrounds (public domain; PROVENANCE.md)"


@dataclass(frozen=True)
class Document:
    """One passage of the sample."""

    id: str
    title: str
    text: str


def sample_path():
    """The sample's file (JSON Lines: ``id``, ``title``, ``text``)."""
    return builtin.forgetting_dir() / SAMPLE


def load_sample(limit: int = 0) -> list[Document]:
    """The sample's documents in file order; the first ``limit`` of them when ``limit`` > 0."""
    path = sample_path()
    if not path.is_file():
        raise HarnessError(f"{path}: the forgetting probe's sample is missing (a broken install)")
    documents = []
    for line, record in read_jsonl(path):
        if not all(isinstance(record.get(key), str) and record[key] for key in ("id", "text")):
            raise HarnessError(f"{path}:{line}: a sample document needs an id and a text")
        documents.append(Document(record["id"], str(record.get("title", "")), record["text"]))
    return documents[:limit] if limit > 0 else documents


def sample_sha256() -> str:
    """The sha256 of the sample's file, as results.json's ``test_data`` names it."""
    return hashlib.sha256(sample_path().read_bytes()).hexdigest()


def runs(config: Config, train: bool) -> bool:
    """Whether the probe runs: in a tuning run (``harness run``) with ``forgetting.enabled``."""
    return train and config.forgetting.enabled


def gate_names(config: Config, train: bool) -> dict[str, list[str]]:
    """``{"forgetting": its metrics}`` when the probe runs, else ``{}``: what a gate may name
    besides the tasks, checked before any model work."""
    return {NAME: list(METRICS)} if runs(config, train) else {}


@dataclass
class Measurement:
    """Per document: its tokens scored, the base and tuned model's mean loss, and the mean KL."""

    ids: list[str]
    tokens: list[int]
    loss_before: list[float]
    loss_after: list[float]
    kl: list[float]
    kl_estimator: str
    max_length: int


@dataclass
class _Base:
    """The base model's side, kept before full fine-tuning: per document its loss, and per
    position the top tokens' ids and the log-probabilities of them and of the rest."""

    losses: list[float]
    top_ids: list  # per document: (positions, k) token ids
    buckets: list  # per document: (positions, k + 1) log-probs


class Probe:
    """The probe of one run: the sample as token ids, the base model's side where it must be
    kept before tuning (:meth:`remember_base`), and the measurement after it (:meth:`measure`)."""

    def __init__(self, config: Config, tokenizer, context: int | None):
        from harness.tasks.tokens import encode

        self.max_length = min(config.train.max_length, context) if context else config.train.max_length
        self.documents = load_sample(config.forgetting.documents)
        self.ids = [list(encode(tokenizer, d.text)["input_ids"])[: self.max_length] for d in self.documents]
        short = [d.id for d, ids in zip(self.documents, self.ids, strict=True) if len(ids) < 2]
        if short:
            raise HarnessError(
                f"forgetting: documents {', '.join(short)} are under 2 tokens; nothing to score"
            )
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.base: _Base | None = None

    def remember_base(self, model) -> None:
        """Score the sample with the base model before full fine-tuning changes its weights."""
        n = len(self.ids)
        base = _Base([0.0] * n, [None] * n, [None] * n)
        with _scoring(model):
            for batch in self._batches():
                for i, logp, targets in self._log_probs(model, batch):
                    top = logp.topk(min(TOP_K, logp.shape[-1]), dim=-1).indices
                    base.losses[i] = _loss(logp, targets)
                    base.top_ids[i], base.buckets[i] = top.cpu(), _buckets(logp, top).cpu()
        self.base = base

    def measure(self, model) -> Measurement:
        """Score the sample with the tuned ``model`` against the base: the base kept by
        :meth:`remember_base`, else (a peft model) ``model`` with its adapter disabled."""
        n = len(self.ids)
        before, after, kl = [0.0] * n, [0.0] * n, [0.0] * n
        if self.base is None and not hasattr(model, "disable_adapter"):
            raise HarnessError("forgetting: no base model to compare with (not LoRA, and none kept)")
        with _scoring(model):
            for batch in self._batches():
                if self.base is None:  # LoRA: the base is the same model with its adapter off
                    with model.disable_adapter():
                        base = {i: logp for i, logp, _ in self._log_probs(model, batch)}
                for i, logp, targets in self._log_probs(model, batch):
                    after[i] = _loss(logp, targets)
                    if self.base is None:
                        before[i], kl[i] = _loss(base[i], targets), _kl(base[i], logp)
                    else:
                        top, kept = (x.to(logp.device) for x in (self.base.top_ids[i], self.base.buckets[i]))
                        before[i], kl[i] = self.base.losses[i], _kl(kept, _buckets(logp, top))
        estimator = "exact (LoRA adapter off/on)" if self.base is None else f"top-{TOP_K} of the base + rest"
        tokens = [len(ids) for ids in self.ids]
        return Measurement(
            [d.id for d in self.documents], tokens, before, after, kl, estimator, self.max_length
        )

    def _batches(self) -> list[list[int]]:
        """Document indices grouped longest first, at most :data:`TOKENS_PER_BATCH` padded
        tokens a group (one document at least); the same groups every pass."""
        order = sorted(range(len(self.ids)), key=lambda i: (-len(self.ids[i]), i))
        batches: list[list[int]] = []
        for i in order:
            if batches and len(self.ids[batches[-1][0]]) * (len(batches[-1]) + 1) <= TOKENS_PER_BATCH:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def _log_probs(self, model, batch: list[int]) -> list[tuple]:
        """``(document index, log-probabilities of the next token at each position but the last,
        the tokens that follow)`` for each document of ``batch`` (one right-padded forward pass)."""
        import torch

        device = next(model.parameters()).device
        width = max(len(self.ids[i]) for i in batch)
        input_ids = torch.full((len(batch), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            input_ids[row, : len(self.ids[i])] = torch.tensor(self.ids[i])
            mask[row, : len(self.ids[i])] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        scored = []
        for row, i in enumerate(batch):
            n = len(self.ids[i])
            logp = torch.log_softmax(logits[row, : n - 1].float(), dim=-1)
            scored.append((i, logp, input_ids[row, 1:n].to(device)))
        return scored


@contextmanager
def _scoring(model):
    """``model`` in eval mode without gradients for the block, its training flag restored after."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _loss(logp, targets) -> float:
    """The mean negative log-likelihood of ``targets`` (nats per token)."""
    import torch.nn.functional as F

    return float(F.nll_loss(logp, targets))


def _kl(base_logp, tuned_logp) -> float:
    """KL(base ‖ tuned) summed over the outcomes at each position, averaged over the positions."""
    import torch.nn.functional as F

    return float(F.kl_div(tuned_logp, base_logp, log_target=True, reduction="none").sum(-1).mean())


def _buckets(logp, top_ids):
    """Log-probabilities of the outcomes ``top_ids`` (per position) and of any other token, the
    rest's mass summed over the other tokens themselves (no ``1 - sum`` cancellation)."""
    import torch

    rest = logp.exp().scatter(-1, top_ids, 0.0).sum(-1, keepdim=True)
    tiny = torch.finfo(logp.dtype).tiny
    return torch.cat([logp.gather(-1, top_ids), rest.clamp_min(tiny).log()], dim=-1)


# ------------------------------------------------------------------------------------ results


def add_to_results(results: dict, measured: Measurement, config: Config) -> None:
    """Add the probe to ``results["tasks"]`` as ``"forgetting"`` (call before the verdicts)."""
    documents = [
        {"id": doc_id, "tokens": tokens, "loss_before": before, "loss_after": after, "kl": kl}
        for doc_id, tokens, before, after, kl in zip(
            measured.ids, measured.tokens, measured.loss_before, measured.loss_after, measured.kl, strict=True
        )
    ]
    settings = {
        "loss": {"unit": "nats per token", "per": "document", "max_length": measured.max_length},
        "kl": {"direction": "KL(base || tuned)", "estimator": measured.kl_estimator},
    }
    results["tasks"][NAME] = {
        "kind": KIND,
        "version": VERSION,
        "source": SOURCE,
        "instruction": None,
        "test_data": f"harness/builtin/forgetting/{SAMPLE} (sha256 {sample_sha256()[:16]})",
        "n_test": len(documents),
        "n_train": 0,
        "primary_metric": METRICS[0],
        "scoring": "per-document next-token loss; KL of next-token distributions",
        "metrics": _metrics(documents, settings, config),
        "tokens_scored": sum(measured.tokens),
        "documents": documents,
    }


def recorded_metrics(task: dict, config: Config) -> dict:
    """The probe's metric entries again from its saved per-document values (``harness rescore``)."""
    settings = {name: dict(entry.get("settings") or {}) for name, entry in task["metrics"].items()}
    return _metrics(task["documents"], settings, config)


def _metrics(documents: list[dict], settings: dict, config: Config) -> dict:
    """``loss`` (its scale the base model's mean loss) and ``kl`` (0 before, by definition), each
    with the paired statistics of :func:`harness.evaluation.stats.metric_entry`."""
    import numpy as np

    from harness.evaluation.stats import metric_entry

    before = [float(d["loss_before"]) for d in documents]
    after = [float(d["loss_after"]) for d in documents]
    kl = [float(d["kl"]) for d in documents]
    base = float(np.mean(before))
    loss = Metric("loss", _recorded, higher_is_better=False, scale=base if base > 0 else 1.0)
    divergence = Metric("kl", _recorded, higher_is_better=False)
    return {
        "loss": metric_entry(
            loss,
            None,
            MetricResult(base, before, settings.get("loss", {})),
            MetricResult(float(np.mean(after)), after),
            config,
        ),
        "kl": metric_entry(
            divergence,
            None,
            MetricResult(0.0, [0.0] * len(kl), settings.get("kl", {})),
            MetricResult(float(np.mean(kl)), kl),
            config,
        ),
    }


def _recorded(predictions, references):
    raise HarnessError("the forgetting probe's metrics are computed from model losses, not predictions")
