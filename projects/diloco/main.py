"""DiLoCo. `python -m projects.diloco.main --config=configs/diloco/default.py --workdir=runs/diloco`."""
from lib import app
from projects.diloco import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
