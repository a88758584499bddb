import pytest
from ml_collections import ConfigDict

from lib import config as C


def test_parse_arg_types_and_unknown_keys():
    c = C.parse_arg("batch=4096,opt=lamb,lr=0.5,warm=false", batch=512, opt="adamw", lr=1.0, warm=True)
    assert (c.batch, c.opt, c.lr, c.warm) == (4096, "lamb", 0.5, False)
    with pytest.raises(C.ConfigError, match="unknown config arg 'bach'.*allowed"):
        C.parse_arg("bach=1", batch=512)
    with pytest.raises(C.ConfigError, match="'batch'.*not int"):
        C.parse_arg("batch=big", batch=512)
    assert C.parse_arg("7", n=1).n == 7  # a bare value for a single-key spec
    assert C.parse_arg(None, n=1).n == 1


@pytest.mark.parametrize("value,spe,expected", [
    (500, None, 500), ("500", None, 500), ("500 steps", None, 500), ("2ep", 100, 200),
    ("1.5 epochs", 10, 15), ("30 rounds", None, 30), ("0.5e", 3, 2),
])
def test_durations(value, spe, expected):
    assert C.steps(ConfigDict({"total": value}), "total", spe) == expected


@pytest.mark.parametrize("value", ["ten", "5 weeks", -3, "nan", True])
def test_bad_durations_name_the_key(value):
    with pytest.raises(C.ConfigError, match="config.total"):
        C.steps(ConfigDict({"total": value}), "total", 10)


def test_epochs_need_steps_per_epoch_and_missing_default():
    with pytest.raises(C.ConfigError, match="epochs"):
        C.steps(ConfigDict({"total": "2ep"}), "total")
    assert C.steps(ConfigDict({}), "warmup", 10, default=0) == 0
    with pytest.raises(C.ConfigError, match="config.warmup is missing"):
        C.steps(ConfigDict({}), "warmup", 10)


def test_validators_name_key_value_and_allowed():
    c = ConfigDict({"opt": "sgdd", "lr": -1.0, "model": {"k": 3}, "b": 10})
    with pytest.raises(C.ConfigError, match=r"config.opt='sgdd'.*\['lamb', 'sgd'\]"):
        C.choice(c, "opt", ["lamb", "sgd"])
    with pytest.raises(C.ConfigError, match="config.lr=-1.0 must be"):
        C.positive(c, "lr")
    assert C.in_range(c, "model.k", 1, 8) == 3
    with pytest.raises(C.ConfigError, match="config.model.nope is missing"):
        C.get(c, "model.nope")
    with pytest.raises(C.ConfigError, match="config.b=10 must be divisible by 4"):
        C.divisible(c, "b", 4, "data axis")
    assert C.integer(c, "b", 1) == 10
    for v in (0, 2.0, True):
        with pytest.raises(C.ConfigError, match=rf"config.b={v!r} must be an integer >= 1 \(workers\)"):
            C.integer(ConfigDict({"b": v}), "b", 1, "workers")


def test_write_config_replaces_atomically_and_changed_keys(tmp_path):
    c = ConfigDict({"lr": 0.1, "model": {"hidden": (8, 8)}, "opt": "lamb"})
    C.write_config(c, str(tmp_path))
    saved = C.read_config(str(tmp_path))
    assert saved == {"lr": 0.1, "model": {"hidden": [8, 8]}, "opt": "lamb"}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left
    c2 = ConfigDict({"lr": 0.2, "model": {"hidden": (8, 8)}, "opt": "lamb", "new": 1})
    assert C.changed_keys(saved, C.as_json_dict(c2)) == ["lr", "new"]
    assert C.read_config(str(tmp_path / "none")) is None


def test_lib_never_imports_the_entry_point():
    """Issue 12: lib/train.py imported lib/app.py (which defines absl flags at import)."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "lib"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "app.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            mod = node.module if isinstance(node, ast.ImportFrom) else None
            if mod == "lib.app" or "lib.app" in names or (mod == "lib" and "app" in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_every_named_error_has_one_base():
    """Issue 12: AggregatorConfigError, AttackConfigError, QuantConfigError, ReversibleError,
    MoEConfigError, data and graph errors stood beside ConfigError with no common base."""
    from lib.checkpoint import CheckpointMismatchError
    from lib.data.common import DataError, MissingDataError
    from lib.data.leaf import LeafError
    from lib.data.planetoid import PlanetoidError
    from lib.errors import NonFiniteError, TesseraError
    from lib.fl.aggregate import AggregatorConfigError
    from lib.fl.attacks import AttackConfigError
    from lib.fl.engine import CapacityError, NonFiniteUpdateError
    from lib.graph.graph import GraphError
    from lib.graph.reversible import ReversibleError
    from lib.moe.routers import MoEConfigError
    from lib.quant.uniform import QuantConfigError
    from lib.workdir import WorkdirLockedError

    for cls in (C.ConfigError, AggregatorConfigError, AttackConfigError, QuantConfigError, ReversibleError,
                MoEConfigError):
        assert issubclass(cls, C.ConfigError)
    for cls in (DataError, MissingDataError, LeafError, PlanetoidError, GraphError, NonFiniteError,
                NonFiniteUpdateError, CapacityError, CheckpointMismatchError, WorkdirLockedError):
        assert issubclass(cls, TesseraError)
    assert issubclass(MissingDataError, FileNotFoundError) and issubclass(C.ConfigError, ValueError)
