"""benchmarks/accelerator.py at tiny sizes on CPU, so the GPU benchmark script cannot rot."""
import importlib.util
import json

import pytest


@pytest.mark.slow
def test_accelerator_benchmark_smoke(tmp_path):
    from benchmarks import accelerator

    sections = ["fl_round", "aggregators", "moe_layer"]
    if importlib.util.find_spec("torch") and importlib.util.find_spec("torch_geometric"):
        sections.append("gcn")  # the peer is only installed with the bench extra
    assert accelerator.main(["--smoke", "--sections", ",".join(sections), "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "accelerator_cpu_smoke.json").read_text())
    assert set(sections) <= set(res["sections"])
    assert res["sections"]["aggregators"]["median"]["median_s"] > 0
    assert all("tflops" in v for k, v in res["sections"]["moe_layer"]["rows"][0].items() if isinstance(v, dict))
    assert (tmp_path / "accelerator_cpu_smoke.md").read_text().startswith("## Accelerator benchmarks: cpu")
