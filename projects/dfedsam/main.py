"""DFedSAM. `python -m projects.dfedsam.main --config=configs/dfedsam/default.py --workdir=runs/dfedsam`."""
from lib import app
from projects.dfedsam import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
