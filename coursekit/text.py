"""Real English text for the capstone, bundled with the package: nothing is downloaded.

The text is Python's own documentation topics (``pydoc_data/topics.py``, what ``help("assert")``
prints), which ships with every CPython under the PSF licence (``corpus/PSF-LICENSE.txt``).
:func:`extract_pydoc_topics` made the two files in ``corpus/`` from CPython 3.11.7 and makes
them again, byte for byte, on that version (``python -m coursekit.text`` rewrites them):

- every topic, sorted by name, joined by blank lines; typographic quotes and dashes written in
  ASCII, any other character outside printable ASCII dropped (so the vocabulary is small);
- every paragraph once (topics repeat whole paragraphs of one another, which would leak the
  held-out text into the training text);
- cut into chunks of whole paragraphs of at least :data:`CHUNK` characters; every tenth chunk
  is held out, so the held-out text is unseen paragraphs from all over the documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .validate import require_positive_int

CORPUS = Path(__file__).with_name("corpus")
TRAIN_FILE, HELDOUT_FILE = "pydoc_topics.train.txt", "pydoc_topics.heldout.txt"
CHUNK = 2000  # characters, at least, in a train or held-out chunk of whole paragraphs
HELD_OUT_EVERY = 10  # every tenth chunk is held out
ASCII_FOR = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...", "\u2014": "--",
             "\u2013": "-"}  # fmt: skip


@dataclass(frozen=True)
class CharText:
    """A text as character ids, split into train and held-out parts, with its vocabulary.

    ``vocab[i]`` is the character with id ``i`` (sorted, so ids do not depend on the split).
    """

    train: torch.Tensor  # (n_train,) long
    heldout: torch.Tensor  # (n_heldout,) long
    vocab: str

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> torch.Tensor:
        """Character ids of ``text``; a character outside the vocabulary is a ``ValueError``."""
        index = {c: i for i, c in enumerate(self.vocab)}
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(f"characters not in the text's vocabulary: {''.join(unknown)!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        """The characters with ids ``ids``."""
        return "".join(self.vocab[i] for i in torch.as_tensor(ids).tolist())


def _clean(text: str) -> str:
    """ASCII quotes and dashes for typographic ones; other non-printable-ASCII characters dropped."""
    text = "".join(ASCII_FOR.get(c, c) for c in text)
    return "".join(c for c in text if c == "\n" or " " <= c <= "~")


def extract_pydoc_topics(topics: dict[str, str] | None = None) -> tuple[str, str]:
    """``(train, heldout)`` text from the documentation topics (default: this Python's own).

    Deterministic: the same topics give the same two strings (module docstring).
    """
    if topics is None:
        from pydoc_data.topics import topics
    paragraphs = _clean("\n\n".join(topics[name].strip("\n") for name in sorted(topics))).split("\n\n")
    paragraphs = list(dict.fromkeys(paragraphs))  # topics repeat whole paragraphs: keep the first
    chunks, current = [], []
    for paragraph in paragraphs:
        current.append(paragraph)
        if sum(len(p) + 2 for p in current) >= CHUNK:
            chunks.append("\n\n".join(current) + "\n\n")
            current = []
    if current:
        chunks.append("\n\n".join(current) + "\n\n")
    held = [c for i, c in enumerate(chunks) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    train = [c for i, c in enumerate(chunks) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    return "".join(train), "".join(held)


def load_text(folder: Path | None = None) -> CharText:
    """The bundled documentation text as a :class:`CharText` (read from ``corpus/``, no download)."""
    folder = CORPUS if folder is None else Path(folder)
    train = (folder / TRAIN_FILE).read_text(encoding="ascii")
    heldout = (folder / HELDOUT_FILE).read_text(encoding="ascii")
    vocab = "".join(sorted(set(train) | set(heldout)))
    ids = {c: i for i, c in enumerate(vocab)}
    return CharText(
        train=torch.tensor([ids[c] for c in train], dtype=torch.long),
        heldout=torch.tensor([ids[c] for c in heldout], dtype=torch.long),
        vocab=vocab,
    )


def text_batch(
    ids: torch.Tensor, batch: int, seq: int, generator: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """``(x, y)``, each ``(batch, seq)``: random windows of ``ids`` and the same shifted by one."""
    require_positive_int("batch", batch)
    require_positive_int("seq", seq)
    if ids.numel() <= seq:
        raise ValueError(f"the text ({ids.numel()} characters) is too short for windows of {seq}")
    start = torch.randint(ids.numel() - seq, (batch, 1), generator=generator)  # (batch, 1)
    window = start + torch.arange(seq + 1)  # (batch, seq + 1)
    chars = ids[window]
    return chars[:, :-1], chars[:, 1:]


def write_corpus(folder: Path | None = None) -> tuple[Path, Path]:
    """Rewrite the two text files from this Python's topics (for a maintainer); return their paths."""
    folder = CORPUS if folder is None else Path(folder)
    train, heldout = extract_pydoc_topics()
    paths = folder / TRAIN_FILE, folder / HELDOUT_FILE
    for path, text in zip(paths, (train, heldout), strict=True):
        path.write_text(text, encoding="ascii")
    return paths


if __name__ == "__main__":
    for written in write_corpus():
        print(f"wrote {written} ({written.stat().st_size:,} bytes)")
