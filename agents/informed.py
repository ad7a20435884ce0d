"""Informed traders: the market's channel of information about the fundamental value.

Each of ``count`` traders sees the fundamental value ``V`` through an error of its own,
``V_i = V * exp(e_i)``, where ``e_i`` is an Ornstein-Uhlenbeck process with stationary standard
deviation ``estimate_noise_bps`` and half-life ``error_half_life_s`` (a private signal that
drifts, not a fresh draw at each look). The crowd's information is the average of many noisy
views, and nobody quotes ``V``: it reaches the price only through their orders and what the
makers learn from them (``agents.market_maker``).

A trader holds a target position proportional to the mispricing it sees, the linear demand of
Kyle (1985) and Grossman & Stiglitz (1980):

    target_i = clip(position_per_bp * 1e4 * ln(V_i / mid), -max_position, +max_position)   (USD)

At each of its decisions (the crowd's self-exciting Poisson rate, ``agents.excitation``; the
deciding trader is drawn uniformly) it trades toward the target: at most ``clip_notional``
per decision, not less than one lot, as an IOC limited to the price at which its demand curve
asks for the position it would end with, ``V_i * exp(-(held + order) / (position_per_bp *
1e4))`` (USD signed): it buys no higher, and sells no lower, than where it would want exactly
that position. The crowd's participation cap is a budget: each step adds ``participation``
times the market's traded volume (every venue's) of the last step, kept up to
``participation_burst_notional``; an order is cut to the budget left. Capital and the cap are
what let an uninformed push stay in the price for a while: after a large metaorder the informed
can lean against it only as fast as the market trades.

The error's update over the ``dt`` seconds since the trader's last decision is exact:
``e <- e * k + sigma * sqrt(1 - k^2) * Z`` with ``k = 2 ** (-dt / half_life)``.
"""

from __future__ import annotations

import math

from agents import stages
from agents.base import limit_ticks
from agents.flow import Crowd
from agents.params import InformedParams
from sim.exchange import BUY, IOC, SELL, Status
from sim.model import MarketModel

BPS = 1e-4
_EPS = 1e-9


class InformedTraders(Crowd):
    """``count`` informed accounts on one venue (a crowd: one mesa agent).

    Args:
        model: the market.
        params: ``InformedParams``.
        venue: "perp" (stages.VALUE) or a spot venue ("spot", "spot1", ...: stages.SPOT).

    Attributes:
        errors: each trader's current log error ``e_i`` (as of its last decision).
        budget_usd: the participation budget left (USD).
        traded_usd: notional filled so far (USD).
    """

    kind = "informed"
    stage = stages.VALUE

    def __init__(self, model: MarketModel, params: InformedParams, venue: str = "perp") -> None:
        super().__init__(model, params, venue, params.rate_per_s)
        n = params.count
        self.errors = (params.estimate_noise_bps * BPS
                       * self.draws.rng.standard_normal(n)).tolist()
        self._last_t = [model.t] * n
        self.budget_usd = params.participation_burst_notional
        self.traded_usd = 0.0

    def act(self) -> None:
        """Refill the budget, draw this step's decisions, trade each toward its target."""
        p = self.params
        m = self.model
        # With one spot venue: 0 + perp + spot, the same float as perp + spot.
        volume = sum(m.volume_usd.values())
        self.budget_usd = min(p.participation_burst_notional,
                              self.budget_usd + p.participation * volume)
        n_traders = len(self._account_list)
        for _ in range(self._arrivals()):
            self.decide(min(int(self.draws.uniform() * n_traders), n_traders - 1))

    def estimate(self, i: int) -> float:
        """Advance trader ``i``'s error to now; return its estimate ``V * exp(e_i)`` (USD)."""
        p = self.params
        t = self.model.t
        keep = 0.5 ** ((t - self._last_t[i]) / p.error_half_life_s)
        self.errors[i] = (self.errors[i] * keep + p.estimate_noise_bps * BPS
                          * math.sqrt(max(0.0, 1.0 - keep * keep)) * self.draws.normal())
        self._last_t[i] = t
        return self.model.fundamental.price * math.exp(self.errors[i])

    def target_notional(self, estimate: float, price: float) -> float:
        """Return the target position (USD, signed): ``position_per_bp`` per bp of
        ``ln(estimate / price)``, within ``max_position_notional``."""
        p = self.params
        target = p.position_per_bp * 1e4 * math.log(estimate / price)
        return max(-p.max_position_notional, min(p.max_position_notional, target))

    def limit_price(self, estimate: float, position_after: float) -> float:
        """Return the price at which the target equals ``position_after`` (USD, signed):
        ``estimate * exp(-position_after / (position_per_bp * 1e4))``."""
        return estimate * math.exp(-position_after / (self.params.position_per_bp * 1e4))

    def decide(self, i: int) -> None:
        """Trade trader ``i`` toward its target: one IOC of at most ``clip_notional``."""
        ex = self.exchange
        price = self.reference_price()
        estimate = self.estimate(i)
        account = self._account_list[i]
        held = ex.position_lots(account) * self._lot * price
        gap = self.target_notional(estimate, price) - held
        side = BUY if gap > 0 else SELL
        size = min(abs(gap), self.params.clip_notional, self.budget_usd)
        lots = int(size / (price * self._lot) + _EPS)
        if lots <= 0:
            return
        limit = self.limit_price(estimate, held + side * size)
        result = ex.submit(account, side, IOC, lots, limit_ticks(limit, side, self._tick))
        if result.status is Status.OK and result.filled > 0:
            filled = result.filled * self._lot * price
            self.budget_usd -= filled
            self.traded_usd += filled


__all__ = ["InformedTraders"]
