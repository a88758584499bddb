"""QG-DSGDm. `python -m projects.qgm.main --config=configs/qgm/default.py --workdir=runs/qgm`."""
from lib import app
from projects.qgm import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
