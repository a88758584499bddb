"""Character-level text data: sources, vocab, held-out split, batches as a pure function of (seed, step)."""
import numpy as np
import pytest

from lib.data import text
from lib.data.common import DataError, MissingDataError


@pytest.fixture(scope="module")
def corpus():
    return text.make_corpus("pydoc_topics", val_fraction=0.1)


def test_pydoc_corpus_and_split(corpus):
    n = len(corpus.train) + len(corpus.val)
    assert n > 100_000 and len(corpus.val) == int(n * 0.1)
    assert corpus.vocab == "".join(sorted(set(corpus.vocab)))
    full = text.load_text("pydoc_topics")
    assert corpus.decode(corpus.val[:50]) == full[len(corpus.train):len(corpus.train) + 50]


def test_batches_are_pure_functions_of_seed_and_step(corpus):
    a = text.batch(corpus.train, seed=1, step=7, batch_size=4, seq_len=16)
    b = text.batch(corpus.train, seed=1, step=7, batch_size=4, seq_len=16)
    c = text.batch(corpus.train, seed=1, step=8, batch_size=4, seq_len=16)
    np.testing.assert_array_equal(a["inputs"], b["inputs"])
    assert not np.array_equal(a["inputs"], c["inputs"])
    np.testing.assert_array_equal(a["inputs"][:, 1:], a["targets"][:, :-1])  # next-char targets
    assert a["inputs"].shape == (4, 16)


def test_eval_batches_cover_val_in_order(corpus):
    ev = text.eval_batches(corpus.val, batch_size=2, seq_len=32, max_batches=3)
    assert len(ev) == 3
    np.testing.assert_array_equal(ev[0]["inputs"][0], corpus.val[:32])
    np.testing.assert_array_equal(ev[0]["inputs"][1], corpus.val[32:64])


def test_named_errors(tmp_path):
    with pytest.raises(MissingDataError, match="tinyshakespeare.txt"):
        text.load_text("tinyshakespeare", str(tmp_path))
    with pytest.raises(MissingDataError, match="emma.txt"):
        text.load_text("austen", str(tmp_path))
    with pytest.raises(DataError, match="wikitext"):
        text.load_text("wikitext")
    with pytest.raises(DataError, match="val_fraction"):
        text.make_corpus("pydoc_topics", val_fraction=1.5)


@pytest.mark.data
def test_real_corpora(data_dir):
    shk = text.load_text("tinyshakespeare", str(data_dir))
    assert len(shk) == 1_115_394 and len(set(shk)) == 65
    aus = text.make_corpus("austen", str(data_dir))
    assert len(aus.train) + len(aus.val) > 3_000_000
