"""Forecasting from aged features. `python -m projects.feature_age.main --config=configs/feature_age/default.py --workdir=runs/age`."""
from lib import app
from projects.feature_age import train

if __name__ == "__main__":
    app.run(train.train_and_evaluate)
