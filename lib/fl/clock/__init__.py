"""Event-driven virtual clock for asynchronous and heterogeneous-speed FL (see README.md)."""

from lib.fl.clock.schedule import (MIXING, SCHEDULES, STALENESS, Clock, ClockConfig, Plan, count_aggregations,
                                   pack, staleness_weight, unpack)
from lib.fl.clock.speeds import SPEED_MODELS, STRAGGLERS, Speeds, Stragglers, TraceError, make_speeds, make_stragglers

__all__ = ["MIXING", "SCHEDULES", "STALENESS", "Clock", "ClockConfig", "Plan", "count_aggregations", "pack",
           "staleness_weight", "unpack", "SPEED_MODELS", "STRAGGLERS", "Speeds", "Stragglers", "TraceError",
           "make_speeds", "make_stragglers"]
