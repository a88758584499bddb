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
