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


def _shakespeare(tmp_path, raw: bytes):
    (tmp_path / "shakespeare").mkdir(exist_ok=True)
    (tmp_path / "shakespeare" / "tinyshakespeare.txt").write_bytes(raw)
    return str(tmp_path)


def test_non_utf8_text_names_the_file_and_byte_offset(tmp_path):
    """Issue 11 item 6: a UnicodeDecodeError used to name no path."""
    root = _shakespeare(tmp_path, "First Citizen: caf\u00e9".encode() + b"\xff rest")
    with pytest.raises(DataError, match=r"tinyshakespeare.txt: not UTF-8 text: byte 0xff at byte offset 20"):
        text.load_text("tinyshakespeare", root)


@pytest.mark.parametrize("raw,kw,match", [
    (b"", {}, "has 0 characters .*too short"),
    (b"abcdefgh", {}, "has 8 characters .*too short to hold out val_fraction=0.1"),
    (b"ab" * 100, {"seq_len": 300}, r"train split has 180 characters, fewer than seq_len \+ 2 = 302"),
    (b"ab" * 100, {"seq_len": 8, "batch_size": 4}, r"held-out split has 20 characters, 2 eval windows of seq_len=8, "
                                                  r"fewer than batch_size=4"),
])
def test_text_too_short_fails_before_training(tmp_path, raw, kw, match):
    """Issue 11 item 6: an empty or short text used to crash after all training steps (the
    evaluation found no batch), losing them."""
    with pytest.raises(DataError, match=match):
        text.make_corpus("tinyshakespeare", _shakespeare(tmp_path, raw), 0.1, **kw)


def test_eval_batches_of_nothing_is_an_error():
    with pytest.raises(DataError, match="fewer than one batch of 4"):
        text.eval_batches(np.arange(20, dtype=np.int32), batch_size=4, seq_len=8)
