"""harness-qa: a question-answering task and a normalising metric for harness, as an installable
plugin package (entry-point group ``harness``, see pyproject.toml)."""

__version__ = "0.1.0"
