"""DistGNN. `python -m projects.distgnn.main --config=configs/distgnn/default.py --workdir=runs/distgnn`
(with XLA_FLAGS=--xla_force_host_platform_device_count=8 on a CPU: one partition per device)."""
from lib import app
from projects.distgnn import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
