"""`python -m projects.hetumoe.main --config=configs/hetumoe/default.py --workdir=runs/hetumoe`."""
from lib import app
from projects.hetumoe import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
