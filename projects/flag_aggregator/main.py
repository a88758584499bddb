"""Flag Aggregator robustness runs. `python -m projects.flag_aggregator.main --config=configs/flag_aggregator/default.py --workdir=runs/flag`."""
from lib import app
from projects.flag_aggregator import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
