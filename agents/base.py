"""The base of every trading agent: a ``mesa.Agent`` with exchange accounts and a stage."""

from __future__ import annotations

import math

import mesa
import numpy as np

from agents import stages
from sim.exchange import BUY, Exchange
from sim.model import MarketModel

_EPS = 1e-9  # absorbs float error when a price falls exactly on a tick


def limit_ticks(price: float, side: int, tick_size: float) -> int:
    """Return ``price`` in ticks, rounded so that the limit is never more generous."""
    x = price / tick_size
    return math.floor(x + _EPS) if side == BUY else math.ceil(x - _EPS)


def venue_exchange(model: MarketModel, venue: str) -> Exchange:
    """Return the exchange of ``venue``: "perp", or one of the model's spot venues ("spot",
    "spot1", ...)."""
    return model.exchange(venue)


class Trader(mesa.Agent):
    """An agent that trades through the model's exchanges.

    Subclasses set ``kind`` (the agent type named in outputs) and ``stage`` (when it acts in
    a step, one of ``agents.stages``) and implement ``act``, called once per step. A class
    without a stage is an error, not a silent first stage.
    """

    kind = "trader"

    model: MarketModel

    def __init__(self, model: MarketModel) -> None:
        if not isinstance(getattr(self, "stage", None), int):
            raise TypeError(f"{type(self).__name__} sets no integer 'stage' "
                            "(one of agents.stages)")
        super().__init__(model)

    def trade_on(self, venue: str) -> Exchange:
        """Trade on ``venue`` ("perp" or a spot venue: "spot", "spot1", ...): set ``venue`` and
        ``exchange``; a spot agent acts in ``stages.SPOT``, before the index is read. Return
        the exchange."""
        self.exchange = venue_exchange(self.model, venue)
        self.venue = venue
        if venue != "perp":
            self.stage = stages.SPOT
        return self.exchange

    def open_accounts(self, n: int, wallet: float, leverage: float,
                      venue: str = "perp") -> np.ndarray:
        """Open ``n`` accounts on ``venue`` ("perp" or a spot venue) for this agent; return
        their ids."""
        return self.model.open_accounts(self, n, wallet, leverage, venue)

    def act(self) -> None:
        """Take this step's decisions."""
        raise NotImplementedError
