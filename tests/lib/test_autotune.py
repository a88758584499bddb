"""lib/autotune: a choice is measured once per machine and problem, cached, and read back."""
import json

import pytest

from lib import autotune


@pytest.fixture
def tuning(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_AUTOTUNE", "1")
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_fastest_candidate_is_chosen_cached_and_reused(tuning):
    calls = []

    def measure(c):
        calls.append(c)
        return {1: 0.3, 2: 0.1, 3: 0.2}[c]

    assert autotune.choose("t", "n=4", [1, 2, 3], measure, default=1) == 2
    assert calls == [1, 2, 3]
    assert autotune.choose("t", "n=4", [1, 2, 3], measure, default=1) == 2
    assert calls == [1, 2, 3]  # read back, not measured again
    saved = json.load(open(tuning / "autotune.json"))[autotune.machine_key()]["t|n=4"]
    assert saved["choice"] == 2 and saved["seconds"]["3"] == 0.2
    assert autotune.choose("t", "n=8", [1, 2, 3], measure, default=1) == 2  # another shape: measured
    assert calls == [1, 2, 3] * 2


def test_off_gives_the_default_and_a_damaged_cache_is_remeasured(tuning, monkeypatch):
    monkeypatch.setenv("TESSERA_AUTOTUNE", "0")
    assert autotune.choose("t", "p", [1, 2], lambda c: 1.0 / c, default=1) == 1
    monkeypatch.setenv("TESSERA_AUTOTUNE", "1")
    (tuning / "autotune.json").write_text("{not json")
    assert autotune.choose("t", "p", [1, 2], lambda c: 1.0 / c, default=1) == 2


def test_moe_tile_is_measured_on_the_problem_and_used_by_the_spec(tuning):
    from configs.lossfree_balance import default
    from lib.moe import dispatch as D
    from lib.moe import tasks

    c = default.get_config()
    c.moe.dispatch, c.batch_size, c.model.seq_len = "dropless_tiles", 4, 32
    c.model.d_model, c.model.d_ff = 16, 32
    spec = tasks.moe_spec(c)
    rec = autotune.recorded("moe.dropless_tile", f"rows=256,d={c.model.d_model},d_ff={c.model.d_ff},experts=8,float32")
    assert spec.tile == rec["choice"] and sorted(map(int, rec["seconds"])) == [64, 128, 256]  # tiles <= rows
    assert D.choose_tile(256, c.model.d_model, c.model.d_ff, 8) == spec.tile  # cached
    c.moe.tile = "96"
    assert tasks.moe_spec(c).tile == 96  # a fixed tile (as a flag gives it) is used as is
    c.moe.tile = "big"
    from lib.moe.routers import MoEConfigError
    with pytest.raises(MoEConfigError, match="moe.tile"):
        tasks.moe_spec(c)


def test_dropless_on_accelerators_weighs_ragged_dot_against_the_tiles(tuning, monkeypatch):
    import jax
    from configs.lossfree_balance import default
    from lib.moe import dispatch as D
    from lib.moe import tasks

    choice = D.choose_dropless(64, 8, 16, 4, allow_ragged=True)
    rec = autotune.recorded("moe.dropless", "rows=64,d=8,d_ff=16,experts=4,float32")
    assert rec["choice"] == choice and set(rec["seconds"]) == {"64", D.RAGGED}  # both paths measured
    # on a GPU, 'dropless' runs whichever path measured faster; explicit modes stay as given
    c = default.get_config()
    c.moe.dispatch = "dropless"
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    for winner, mode in ((D.RAGGED, "dropless_ragged"), (256, "dropless_tiles")):
        monkeypatch.setattr(D, "choose_dropless", lambda *a, allow_ragged, default, w=winner, **k: w)
        spec = tasks.moe_spec(c)
        assert spec.mode.name == mode and (winner == D.RAGGED or spec.tile == 256)
    c.moe.dispatch = "dropless_ragged"
    assert tasks.moe_spec(c).mode.name == "dropless_ragged"
