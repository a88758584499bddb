"""The entry point: every named error is one line on stderr with exit code 2; a traceback
only with TESSERA_DEBUG=1; config.json is not replaced by a run that fails validation."""

import json

import pytest

from tests.helpers import run_main


def _one_line_error(p, cls, text):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    assert lines[-1].startswith(f"{cls}: ") and text in lines[-1], lines[-3:]


@pytest.mark.parametrize("project,config,overrides,cls,text", [
    # issue 11 item 6, each used to end in a traceback
    ("lamb", "configs/lamb/nope.py", [], "ConfigError", "--config=configs/lamb/nope.py: no such file"),
    ("dts_gate", "configs/dts_gate/default.py:gate=nosuch", [], "ConfigError", "config arg gate='nosuch'; allowed"),
    ("fedau", "configs/fedau/default.py", ["--config.aggregator=bogus"], "AggregatorConfigError",
     "aggregator='bogus' is unknown"),
    ("lamb", "configs/lamb/default.py", ["--config.mesh=data"], "ConfigError", "is not a list of (axis name, size)"),
    ("lamb", "configs/lamb/default.py", ["--config.log_every=0"], "ConfigError", "config.log_every=0"),
])
def test_bad_input_is_one_line_with_exit_code_2(tmp_path, project, config, overrides, cls, text):
    (tmp_path / "config.json").write_text('{"previous": 1}')
    p = run_main(project, config, tmp_path, *overrides, check=False, timeout=300)
    _one_line_error(p, cls, text)
    assert json.loads((tmp_path / "config.json").read_text()) == {"previous": 1}


def test_debug_env_shows_the_traceback(tmp_path):
    p = run_main("fedau", "configs/fedau/default.py", tmp_path, "--config.aggregator=bogus", check=False,
                 env={"TESSERA_DEBUG": "1"}, timeout=300)
    assert p.returncode != 0 and "Traceback" in p.stderr and "AggregatorConfigError" in p.stderr
