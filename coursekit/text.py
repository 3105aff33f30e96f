"""Real English text for the capstone, bundled with the package: nothing is downloaded.

The text is Python's own documentation, as it ships with every CPython under the PSF licence
(``corpus/PSF-LICENSE.txt``): the documentation topics (``pydoc_data/topics.py``, what
``help("assert")`` prints), then the docstring of every standard-library module (what
``help("glob")`` prints first). :func:`extract_python_docs` made the two files in ``corpus/``
from CPython 3.11.7 and makes them again, byte for byte, on that version (``python -m
coursekit.text`` rewrites them):

- every topic, sorted by name, then every module's docstring, sorted by module name (test
  suites left out), joined by blank lines; typographic quotes and dashes written in ASCII, any
  other character outside printable ASCII dropped (so the vocabulary is small);
- every paragraph once (topics repeat whole paragraphs of one another, which would leak the
  held-out text into the training text);
- cut into chunks of whole paragraphs of at least :data:`CHUNK` characters; every tenth chunk
  is held out, so the held-out text is unseen paragraphs from all over the documentation.
"""

from __future__ import annotations

import ast
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch

from .validate import require_positive_int

CORPUS = Path(__file__).with_name("corpus")
TRAIN_FILE, HELDOUT_FILE = "python_docs.train.txt", "python_docs.heldout.txt"
CHUNK = 2000  # characters, at least, in a train or held-out chunk of whole paragraphs
HELD_OUT_EVERY = 10  # every tenth chunk is held out
NOT_STDLIB = {"site-packages", "test", "tests", "idle_test"}  # folders left out: not documentation
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


def module_docstrings(stdlib: Path | None = None) -> dict[str, str]:
    """``{module name: docstring}`` of every module in the standard library at ``stdlib``
    (default: this Python's), test suites and installed packages left out."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]) if stdlib is None else Path(stdlib)
    docs = {}
    for path in sorted(stdlib.rglob("*.py")):
        relative = path.relative_to(stdlib)
        if NOT_STDLIB & set(relative.parts) or relative.name.startswith("test_"):
            continue
        try:
            docstring = ast.get_docstring(ast.parse(path.read_bytes()))
        except SyntaxError:  # a template or a deliberately broken file
            continue
        if docstring:
            docs[".".join(relative.with_suffix("").parts)] = docstring
    return docs


def extract_python_docs(
    topics: dict[str, str] | None = None, modules: dict[str, str] | None = None
) -> tuple[str, str]:
    """``(train, heldout)`` text from the documentation topics and the module docstrings
    (default: this Python's own). Deterministic: the same inputs give the same two strings."""
    if topics is None:
        from pydoc_data.topics import topics
    modules = module_docstrings() if modules is None else modules
    parts = [topics[name] for name in sorted(topics)] + [modules[name] for name in sorted(modules)]
    paragraphs = _clean("\n\n".join(part.strip("\n") for part in parts)).split("\n\n")
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
    """Rewrite the two text files from this Python's documentation (for a maintainer); return
    their paths."""
    folder = CORPUS if folder is None else Path(folder)
    train, heldout = extract_python_docs()
    paths = folder / TRAIN_FILE, folder / HELDOUT_FILE
    for path, text in zip(paths, (train, heldout), strict=True):
        path.write_text(text, encoding="ascii")
    return paths


if __name__ == "__main__":
    for written in write_corpus():
        print(f"wrote {written} ({written.stat().st_size:,} bytes)")
