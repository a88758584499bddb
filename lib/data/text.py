"""Character-level text corpora with a held-out split and batches that are a pure function of (seed, step).

Sources:
- 'pydoc_topics': the documentation topics in the standard library's `pydoc_data` package (ships with
  Python, ~465k characters): the default that runs anywhere.
- 'tinyshakespeare': <data_dir>/shakespeare/tinyshakespeare.txt (1,115,394 characters).
- 'austen': the six novels in <data_dir>/austen/*.txt, concatenated in file-name order.
The last `val_fraction` of the text is held out (a contiguous tail, so no window straddles the split).
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from lib.data.common import DataError, require_file

SOURCES = ("pydoc_topics", "tinyshakespeare", "austen")
AUSTEN = ("emma.txt", "mansfieldpark.txt", "northangerabbey.txt", "persuasion.txt", "prideprejudice.txt",
          "sensesensibility.txt")


def load_text(source: str, data_dir: str | None = None) -> str:
    if source == "pydoc_topics":
        from pydoc_data import topics

        return "\n\n".join(topics.topics[k] for k in sorted(topics.topics))
    if source == "tinyshakespeare":
        path = require_file(os.path.join(data_dir or "data", "shakespeare", "tinyshakespeare.txt"),
                            "tinyshakespeare", "plain UTF-8 text",
                            "https://github.com/karpathy/char-rnn (data/tinyshakespeare/input.txt)")
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    if source == "austen":
        parts = []
        for name in AUSTEN:
            path = require_file(os.path.join(data_dir or "data", "austen", name), "austen",
                                "plain UTF-8 text, one novel per file",
                                "Project Gutenberg (Jane Austen's six novels)")
            with open(path, encoding="utf-8", errors="replace") as fh:
                parts.append(fh.read())
        return "\n\n".join(parts)
    raise DataError(f"text source {source!r} is unknown; allowed: {SOURCES}")


@dataclasses.dataclass(frozen=True)
class CharCorpus:
    vocab: str  # sorted characters; id = position
    train: np.ndarray  # int32 ids
    val: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def decode(self, ids) -> str:
        return "".join(self.vocab[i] for i in np.asarray(ids).reshape(-1))


def make_corpus(source: str, data_dir: str | None = None, val_fraction: float = 0.1,
                max_chars: int | None = None) -> CharCorpus:
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction={val_fraction!r}; allowed: 0 < val_fraction < 1")
    text = load_text(source, data_dir)
    if max_chars:
        text = text[:max_chars]
    vocab = "".join(sorted(set(text)))
    lut = {c: i for i, c in enumerate(vocab)}
    ids = np.fromiter((lut[c] for c in text), np.int32, len(text))
    n_val = int(len(ids) * val_fraction)
    return CharCorpus(vocab=vocab, train=ids[:-n_val], val=ids[-n_val:])


def batch(ids: np.ndarray, *, seed: int, step: int, batch_size: int, seq_len: int) -> dict:
    """Random windows; a pure function of (seed, step): {'inputs': [B, L], 'targets': [B, L]}."""
    if len(ids) < seq_len + 2:
        raise DataError(f"text of {len(ids)} tokens is shorter than seq_len + 2 = {seq_len + 2}")
    rng = np.random.default_rng([seed, step])
    start = rng.integers(0, len(ids) - seq_len - 1, batch_size)
    win = ids[start[:, None] + np.arange(seq_len + 1)]
    return {"inputs": win[:, :-1], "targets": win[:, 1:]}


def eval_batches(ids: np.ndarray, *, batch_size: int, seq_len: int, max_batches: int | None = None):
    """Non-overlapping windows covering the held-out text in order (the same every call)."""
    n = (len(ids) - 1) // seq_len
    starts = np.arange(n) * seq_len
    out = []
    for i in range(0, n - batch_size + 1, batch_size):
        s = starts[i:i + batch_size]
        win = ids[s[:, None] + np.arange(seq_len + 1)]
        out.append({"inputs": win[:, :-1], "targets": win[:, 1:]})
        if max_batches and len(out) >= max_batches:
            break
    return out
