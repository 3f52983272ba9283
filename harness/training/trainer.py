"""The transformers Trainer as harness runs it: :class:`HarnessTrainer` (token counting, a stop on a
non-finite loss, dev evaluation by generation) and its callbacks (:class:`TokenCounter`,
:class:`Schedule`: when to evaluate, checkpoint and stop early).

Imports transformers at module level: import this module lazily (as :func:`harness.training.fine_tune`
does), never from a package ``__init__``.
"""

from __future__ import annotations

import contextlib
import math
import time

from transformers import Trainer, TrainerCallback, TrainerState
from transformers.trainer_callback import ExportableState

from harness import distributed
from harness.training import dev
from harness.training.dev import (
    SCORE_KEY,
    SELECTION_KEY,
    DevSet,
    patience_exhausted,
    scores_in,
    selection_score,
)


class NonFiniteLoss(Exception):
    """The training loss became nan or inf (on any rank) at ``step``."""

    def __init__(self, step: int, value: float):
        super().__init__(f"loss {value} at step {step}")
        self.step, self.value = step, value


class TokenCounter(TrainerCallback, ExportableState):
    """Real (non-pad) and padded tokens trained on, and the seconds spent in training steps.

    Exportable, so the counts survive a resume (they are stored in trainer_state.json under this
    class's name).
    """

    def __init__(self, real: int = 0, total: int = 0, seconds: float = 0.0):
        self.real, self.total, self.seconds = real, total, seconds
        self._started: float | None = None

    def state(self) -> dict:
        return {
            "args": {"real": self.real, "total": self.total, "seconds": self.seconds},
            "attributes": {},
        }

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None


class Schedule(TrainerCallback):
    """Evaluate on the dev split and checkpoint every ``interval`` steps (and at the last step),
    checkpoint every ``save_every`` steps, stop once the last ``patience`` evaluations all scored
    more than ``margin`` below the best (:func:`harness.training.dev.patience_exhausted`), and
    report each step as ``on_step(step, total_steps, loss=..., learning_rate=...)``.

    ``loss`` is the latest logged training loss (every ``train.logging_steps``; absent until the
    first), ``learning_rate`` the scheduler's current rate. Reading them changes nothing in training.
    """

    def __init__(
        self, interval: int, save_every: int, patience: int, evaluate: bool, on_step=None, margin: float = 0.0
    ):
        self.interval, self.save_every, self.patience = interval, save_every, patience
        self.evaluate, self.on_step, self.margin = evaluate, on_step, margin
        self.loss: float | None = None
        self.fields: dict[str, float] = {}  # the live values last reported

    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        step = state.global_step
        if step % self.interval == 0 or step >= state.max_steps:
            control.should_evaluate = self.evaluate
            control.should_save = True
        if self.save_every > 0 and step % self.save_every == 0:
            control.should_save = True
        if self.on_step is not None:
            fields = {"loss": self.loss}
            if lr_scheduler is not None:
                fields["learning_rate"] = float(lr_scheduler.get_last_lr()[0])
            self.fields = {k: v for k, v in fields.items() if v is not None}
            self.on_step(step, state.max_steps, **self.fields)
        return control

    def dev_progress(self, state, done: int, total: int) -> None:
        """Report a dev evaluation's progress (``dev_eval="12/60"``) with the latest live values,
        so that the progress display keeps moving while training waits for it."""
        if self.on_step is not None:
            self.on_step(state.global_step, state.max_steps, **self.fields, dev_eval=f"{done}/{total}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if patience_exhausted(state.log_history, self.patience, self.margin):
            control.should_training_stop = True
        return control


# The Trainer methods below are private: transformers has no public way to load a finished
# checkpoint without training on, to load the best checkpoint after training, or to say what
# counts as a new best. They are used only at the end of HarnessTrainer, and
# tests/test_training.py::test_private_trainer_api_is_still_there fails, naming the method, when
# transformers removes one or renames a parameter listed here.
PRIVATE_TRAINER_API: dict[str, tuple[str, ...]] = {
    "_load_from_checkpoint": ("resume_from_checkpoint",),  # called with the path
    "_load_callback_state": (),
    "_load_best_model": (),
    "_determine_best_metric": ("metrics", "trial"),  # overridden; the Trainer passes both by keyword
}


class HarnessTrainer(Trainer):
    """Counts tokens, stops on a non-finite loss, and evaluates by generation on the dev split.

    :param dev_set: the dev split ``evaluate`` scores (``None``: no dev evaluation).
    :param template: the prompt template the dev examples are formatted with.
    :param select_by: ``train.select_by``, for :func:`harness.training.dev.aggregate`.
    :param attention: the padding-free :class:`~harness.training.packing.TrainingAttention`, if used.
    """

    def __init__(
        self,
        *args,
        dev_set: DevSet | None = None,
        template: str = "",
        select_by: str = "mean",
        attention=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.dev_set, self.template, self.select_by, self.attention = dev_set, template, select_by, attention

    def token_counter(self) -> TokenCounter:
        return next(c for c in self.callback_handler.callbacks if isinstance(c, TokenCounter))

    def training_step(self, model, inputs, num_items_in_batch=None):
        counter = self.token_counter()
        mask = inputs.get("attention_mask")  # None for padding-free rows: every token is real
        real = int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        total = int((mask if mask is not None else inputs["input_ids"]).numel())
        loss = super().training_step(model, inputs, num_items_in_batch)
        value = float(loss.detach())
        # several ranks: count every rank's tokens, and stop on all ranks if any loss is not finite
        real, total, bad = distributed.sum_ints(
            [real, total, int(not math.isfinite(value))], inputs["input_ids"].device
        )
        counter.real += real
        counter.total += total
        if bad:
            shown = value if not math.isfinite(value) else math.nan  # nan: another rank's loss
            raise NonFiniteLoss(self.state.global_step + 1, shown)
        return loss

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        model = self.model
        was_training = model.training
        model.eval()
        suspended = self.attention.suspended() if self.attention else contextlib.nullcontext()
        schedule = next((c for c in self.callback_handler.callbacks if isinstance(c, Schedule)), None)
        rank, ranks = distributed.rank(), distributed.world_size()
        total = sum(len(self.dev_set.examples[task.name][rank::ranks]) for task in self.dev_set.tasks)
        done = 0

        def on_batch(n: int) -> None:
            nonlocal done
            done += n
            if schedule is not None:
                schedule.dev_progress(self.state, done, total)

        try:
            with suspended:  # generation runs padded batches: the model's own masked attention
                scores = dev.dev_scores(model, self.processing_class, self.dev_set, self.template, on_batch)
        finally:
            if was_training:
                model.train()
        metrics = {f"eval_{name}": score for name, score in scores.items()}
        metrics[f"eval_{SCORE_KEY}"] = dev.aggregate(scores, self.dev_set, self.select_by)
        earlier = scores_in(self.state.log_history)
        previous = earlier[-1][1] if earlier else None
        metrics[f"eval_{SELECTION_KEY}"] = selection_score(metrics[f"eval_{SCORE_KEY}"], previous)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # --- the only uses of private Trainer API (PRIVATE_TRAINER_API) ------------------------------

    def restore_finished(self, checkpoint) -> None:
        """Load a checkpoint in which training had already ended: its state, weights and callbacks."""
        self.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
        self._load_from_checkpoint(str(checkpoint))
        self._load_callback_state()

    def restore_kept(self, step: int | None) -> None:
        """Load the best checkpoint's weights when ``step``, the kept one
        (:func:`harness.training.dev.kept_step`), is the best step and not the last one."""
        state = self.state
        if step and step == state.best_global_step != state.global_step and state.best_model_checkpoint:
            self._load_best_model()

    def _determine_best_metric(self, metrics, trial):
        # like the Trainer's, but on the selection score (harness.training.dev.selection_score), and
        # a tie is a new best: more training at the same dev score (common on small dev sets) is
        # kept rather than thrown away
        value = metrics[f"eval_{SELECTION_KEY}"]
        if self.state.best_metric is None or value >= self.state.best_metric:
            self.state.best_metric = value
            self.state.best_global_step = self.state.global_step
            return True
        return False


def direct_tracker_logs(trainer, directory) -> None:
    """Have TensorBoard (when in ``report_to``) write its event files into ``directory`` rather
    than under the checkpoints, which a finished run deletes; ``TENSORBOARD_LOGGING_DIR`` wins."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
            callback.logging_dir = str(directory)
