"""FRL. `python -m projects.frl.main --config=configs/frl/default.py --workdir=runs/frl`."""
from lib import app
from projects.frl import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
