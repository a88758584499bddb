"""PowerWalk PPR vs exact PPR. `python -m projects.ppr.main --config=configs/ppr/default.py --workdir=runs/ppr`."""
from lib import app
from projects.ppr import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
