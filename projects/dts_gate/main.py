"""`python -m projects.dts_gate.main --config=configs/dts_gate/default.py --workdir=runs/dts_gate`."""
from lib import app
from projects.dts_gate import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
