"""What a manipulator reads off the public tape to price a push: each venue's price impact of
signed order flow, minute by minute.

Kyle's lambda (Kyle 1985; the price-impact regression of Hasbrouck 2007, 'Empirical Market
Microstructure', ch. 5): a minute's log return is ``lambda`` times its net taker flow (USD
bought by takers minus USD sold) plus noise, and ``lambda`` is the slope of that regression
through the origin over the recent minutes. Moving the price by a distance ``d`` then takes
about ``d / lambda`` USD of net flow, on top of whatever the book shows: a market that
refills behind a push (or learns from its flow) shows it in ``lambda``.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

MIN_MINUTES = 5  # fewer 1-minute returns than this: nothing to read


class Tape:
    """Each venue's 1-minute closes, traded volume and net taker flow over the last
    ``window_s`` seconds.

    ``record`` is called once a step with the venues' prices and the step's volume and flow;
    a minute closes at every multiple of 60 s of simulated time.
    """

    def __init__(self, venues: list[str], window_s: float) -> None:
        minutes = max(1, int(window_s // 60))
        self.closes = {v: deque(maxlen=minutes + 1) for v in venues}
        self.flows = {v: deque(maxlen=minutes) for v in venues}
        self._flow = dict.fromkeys(venues, 0.0)
        self._next_close_t = 60.0

    def record(self, t: float, prices: dict[str, float | None],
               flows_usd: dict[str, float]) -> None:
        """Add a step's net taker flow; at a minute's close, store each venue's price and
        the minute's flow (a venue without a price keeps its previous close)."""
        for venue in self._flow:
            self._flow[venue] += flows_usd.get(venue, 0.0)
        if t + 1e-9 < self._next_close_t:
            return
        self._next_close_t = (math.floor(t / 60.0 + 1e-9) + 1.0) * 60.0
        for venue, closes in self.closes.items():
            price = prices.get(venue)
            if price is not None and price > 0:
                closes.append(price)
            elif closes:
                closes.append(closes[-1])
            else:
                continue
            self.flows[venue].append(self._flow[venue])
        self._flow = dict.fromkeys(self._flow, 0.0)

    def kyle_lambda(self, venue: str) -> float:
        """Return the log return per USD of net taker flow: ``sum(r f) / sum(f^2)`` over the
        minutes on record, NaN with fewer than ``MIN_MINUTES`` or without flow."""
        closes = np.asarray(self.closes[venue], dtype=np.float64)
        n = min(len(closes) - 1, len(self.flows[venue]))
        if n < MIN_MINUTES:
            return math.nan
        returns = np.diff(np.log(closes))[-n:]
        flows = np.asarray(self.flows[venue], dtype=np.float64)[-n:]
        den = float(np.dot(flows, flows))
        return float(np.dot(returns, flows)) / den if den > 0 else math.nan


def flow_to_move(distance: float, kyle_lambda: float) -> float:
    """Return the net flow (USD) that moves the price by ``distance`` (a fraction) at impact
    ``kyle_lambda`` (per USD): ``distance / lambda``; infinite when the tape shows no impact
    (NaN, zero or negative lambda): nothing to price the push with."""
    if not kyle_lambda > 0:
        return math.inf
    return distance / kyle_lambda


__all__ = ["Tape", "flow_to_move"]
