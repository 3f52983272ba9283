"""Tasks and their data: the ``Task`` / ``DataSource`` / ``Example`` records (:mod:`.task`),
loading splits from files (:mod:`.data`), dev splits and task mixing (:mod:`.splits`), and turning
an example into a prompt and training tokens (:mod:`.prompting`, over :mod:`.chat` for the chat
template and :mod:`.tokens`)."""

from harness.tasks.task import SCORING_METHODS, DataSource, Example, Task

__all__ = ["SCORING_METHODS", "DataSource", "Example", "Task"]
