"""One Byzantine robustness run. `python -m projects.byzantine_bench.main --config=configs/byzantine_bench/default.py --workdir=runs/byz`."""
from lib import app
from projects.byzantine_bench import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
