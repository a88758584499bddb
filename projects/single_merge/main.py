"""Single global merging. `python -m projects.single_merge.main --config=configs/single_merge/default.py --workdir=runs/sm`."""
from lib import app
from projects.single_merge import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
