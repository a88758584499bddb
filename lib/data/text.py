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


def read_utf8(path: str) -> str:
    """The file as text; DataError naming the path and the byte offset if it is not UTF-8."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text: byte 0x{raw[e.start]:02x} at byte offset {e.start} "
                        f"({e.reason}); convert the file to UTF-8") from None


def load_text(source: str, data_dir: str | None = None) -> str:
    if source == "pydoc_topics":
        from pydoc_data import topics

        return "\n\n".join(topics.topics[k] for k in sorted(topics.topics))
    if source == "tinyshakespeare":
        path = require_file(os.path.join(data_dir or "data", "shakespeare", "tinyshakespeare.txt"),
                            "tinyshakespeare", "plain UTF-8 text",
                            "https://github.com/karpathy/char-rnn (data/tinyshakespeare/input.txt)")
        return read_utf8(path)
    if source == "austen":
        parts = []
        for name in AUSTEN:
            path = require_file(os.path.join(data_dir or "data", "austen", name), "austen",
                                "plain UTF-8 text, one novel per file",
                                "Project Gutenberg (Jane Austen's six novels)")
            parts.append(read_utf8(path))
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
                max_chars: int | None = None, seq_len: int | None = None,
                batch_size: int | None = None) -> CharCorpus:
    """The corpus split into train and the held-out tail. With seq_len (and batch_size),
    checks now that training can draw windows and evaluation has at least one batch, so
    a text too short fails before training, not after it."""
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction={val_fraction!r}; allowed: 0 < val_fraction < 1")
    text = load_text(source, data_dir)
    if max_chars:
        text = text[:max_chars]
    n_val = int(len(text) * val_fraction)
    if n_val < 1 or len(text) - n_val < 1:
        raise DataError(f"text source {source!r} has {len(text)} characters (max_chars={max_chars}): too short "
                        f"to hold out val_fraction={val_fraction} of it")
    vocab = "".join(sorted(set(text)))
    lut = {c: i for i, c in enumerate(vocab)}
    ids = np.fromiter((lut[c] for c in text), np.int32, len(text))
    corpus = CharCorpus(vocab=vocab, train=ids[:len(ids) - n_val], val=ids[len(ids) - n_val:])
    if seq_len is not None:
        check_lengths(corpus, seq_len, batch_size or 1, f"text source {source!r}")
    return corpus


def check_lengths(corpus: CharCorpus, seq_len: int, batch_size: int, what: str = "the text") -> None:
    """DataError unless the train split fits a window and the held-out split an eval batch."""
    if len(corpus.train) < seq_len + 2:
        raise DataError(f"{what}: the train split has {len(corpus.train)} characters, fewer than "
                        f"seq_len + 2 = {seq_len + 2}; use a longer text or a smaller seq_len")
    windows = (len(corpus.val) - 1) // seq_len
    if windows < batch_size:
        raise DataError(f"{what}: the held-out split has {len(corpus.val)} characters, {max(windows, 0)} eval windows "
                        f"of seq_len={seq_len}, fewer than batch_size={batch_size}; use a longer text, a larger "
                        "val_fraction or a smaller seq_len / batch_size")


def batch(ids: np.ndarray, *, seed: int, step: int, batch_size: int, seq_len: int) -> dict:
    """Random windows; a pure function of (seed, step): {'inputs': [B, L], 'targets': [B, L]}."""
    if len(ids) < seq_len + 2:
        raise DataError(f"text of {len(ids)} tokens is shorter than seq_len + 2 = {seq_len + 2}")
    rng = np.random.default_rng([seed, step])
    start = rng.integers(0, len(ids) - seq_len - 1, batch_size)
    win = ids[start[:, None] + np.arange(seq_len + 1)]
    return {"inputs": win[:, :-1], "targets": win[:, 1:]}


def eval_batches(ids: np.ndarray, *, batch_size: int, seq_len: int, max_batches: int | None = None):
    """Non-overlapping windows covering the held-out text in order (the same every call).
    At least one batch, else a DataError (an evaluation of nothing would be NaN)."""
    n = max((len(ids) - 1) // seq_len, 0)
    if n < batch_size:
        raise DataError(f"the held-out text has {len(ids)} characters, {n} eval windows of seq_len={seq_len}: "
                        f"fewer than one batch of {batch_size}; use a longer text, a larger val_fraction or a "
                        "smaller seq_len / batch_size")
    starts = np.arange(n) * seq_len
    out = []
    for i in range(0, n - batch_size + 1, batch_size):
        s = starts[i:i + batch_size]
        win = ids[s[:, None] + np.arange(seq_len + 1)]
        out.append({"inputs": win[:, :-1], "targets": win[:, 1:]})
        if max_batches and len(out) >= max_batches:
            break
    return out
