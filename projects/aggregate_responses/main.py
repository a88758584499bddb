"""Learning from aggregate responses. `python -m projects.aggregate_responses.main --config=configs/aggregate_responses/default.py --workdir=runs/agg`."""
from lib import app
from projects.aggregate_responses import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
