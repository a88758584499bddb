"""LAMB / LARS large-batch training. `python -m projects.lamb.main --config=configs/lamb/default.py --workdir=runs/lamb`."""
from lib import app
from projects.lamb import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
