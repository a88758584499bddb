"""PowerWalk project: smoke run on the synthetic CSBM (fingerprint combination beats single
fingerprints, more walks give less error, results and config written), and bad config
is a named error before any compile."""
import json

import pytest

from lib.config import ConfigError


def _config(**kw):
    from configs.ppr import default
    c = default.get_config()
    c.update_from_flattened_dict({"hops": (0, 2, 4), "timing_queries": 3, **kw})
    return c


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from projects.ppr import train
    workdir = tmp_path_factory.mktemp("ppr")
    final = train.train_and_evaluate(_config(), str(workdir))
    return workdir, final, json.load(open(workdir / "results.json"))


def test_smoke_combination_beats_single_fingerprints(result):
    _, final, res = result
    assert res["num_nodes"] == 300 and 290 <= res["num_sources"] <= 300 and res["exact"] == "dense solve"
    by = {(r["walks_per_node"], r["hops"]): r for r in res["rows"]}
    for r in (16, 64):
        assert by[(r, 2)]["l1_mean"] < 0.6 * by[(r, 0)]["l1_mean"]
        assert by[(r, 4)]["l1_mean"] < by[(r, 2)]["l1_mean"]
        assert by[(r, 0)]["truncated_walks"] < 1e-3
    # more walks, less error (slower than 1/sqrt(R) while most PPR entries are below 1/R)
    assert by[(64, 0)]["l1_mean"] < 0.85 * by[(16, 0)]["l1_mean"]
    # the equal-error power iteration count is the exact bound: (1-alpha)^(t+1) <= error
    for row in res["rows"]:
        t = row["power_iters_equal_error"]
        assert 0.85 ** (t + 1) <= row["l1_mean"] + 1e-12 and (t == 0 or 0.85 ** t > row["l1_mean"])
    assert final["R64_h4_vs_single"] < 0.5
    workdir = result[0]
    assert json.load(open(workdir / "config.json"))["project"] == "ppr"
    assert json.load(open(workdir / "final_metrics.json")) == final


@pytest.mark.parametrize("overrides,match", [
    ({"alpha": 1.0}, r"alpha=1.0 must be in the open interval \(0, 1\)"),
    ({"alpha": 0.0}, r"alpha=0.0 must be in the open interval"),
    ({"walks_per_node": (0,)}, "walks_per_node"),
    ({"hops": (-1,)}, "hops"),
    ({"dataset": "karate"}, "config.dataset"),
    ({"num_sources": 1000}, "num_sources=1000 > 29[0-9] non-isolated nodes"),
])
def test_bad_config_named_error_before_compile(tmp_path, no_compiles, overrides, match):
    from projects.ppr import train
    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**overrides), str(tmp_path))
    assert no_compiles == []


@pytest.mark.data
def test_cora_fingerprints_short(data_dir):
    """Cora, 200 sampled sources, R=16: the 4-hop combination is several times more accurate than the
    single fingerprint."""
    from projects.ppr import train
    c = _config(dataset="cora", num_sources=200, walks_per_node=(16,), hops=(0, 4))
    c.data_dir = str(data_dir)
    res = train.evaluate(c)
    assert res["num_nodes"] == 2708
    single, combo = res["rows"]
    assert combo["l1_mean"] < 0.4 * single["l1_mean"]
