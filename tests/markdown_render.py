"""Markdown as a viewer shows it, for tests of what data text can do in report.md and index.md:
markdown-it-py (a rich dependency) with GitHub's table and strike-through rules."""

from __future__ import annotations


def render_gfm(text: str) -> str:
    """``text`` rendered to HTML (CommonMark + tables + strike-through; raw HTML passes through,
    as on GitHub before its sanitiser, so a tag that survives escaping shows up here)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(text)
