"""Background flow: noise traders (random orders) and informed value traders (toward the
fundamental).

Both are crowds: one mesa agent owns ``count`` accounts, and a step costs time in proportion
to the orders drawn, not to ``count``. Arrivals are Poisson, as in the zero-intelligence order
flow of Farmer, Patelli & Zovko (2005), 'The predictive power of zero intelligence in financial
markets', at a self-exciting rate (``agents.excitation``): a burst of activity, a large move or
a liquidation print raises it for minutes. Value traders are the fundamentalists of the
heterogeneous-agent literature (e.g. Chiarella & Iori 2002): they buy below and sell above a
noisy estimate of the fundamental value.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from agents import stages
from agents.base import Trader, limit_ticks
from agents.excitation import Excitation
from agents.params import InformedParams, NoiseParams, ValueParams
from sim.exchange import BUY, IOC, LIMIT, MARKET, SELL, Status
from sim.model import MarketModel

BPS = 1e-4
_EPS = 1e-9


def capped_order(side: int, lots: int, position: int, max_lots: int) -> tuple[int, int, bool]:
    """Return (side, lots, forced_reduce) for an order that keeps ``|position| <= max_lots``.

    An order that would grow the position is cut to the room left; with no room left the
    account only reduces: the side flips, the size is cut to the position and
    ``forced_reduce`` is True.
    """
    room = max_lots - side * position
    if room > 0:
        return side, min(lots, room), False
    if position == 0:
        return side, 0, False
    side = SELL if position > 0 else BUY
    return side, min(lots, abs(position)), True


class RandomBlocks:
    """Draws from the model's generator, taken in blocks to spare a numpy call per draw.

    Every draw comes from the crowd's own stream in a fixed order, so runs stay reproducible.

    Args:
        rng: the crowd's generator (``model.random_stream``).
        block: draws fetched at once.
    """

    def __init__(self, rng: np.random.Generator, block: int = 1024) -> None:
        self.rng = rng
        self.block = block
        self._uniforms: list[float] = []
        self._normals: list[float] = []
        self._counts: list[int] = []

    def arrivals(self, mean: float) -> int:
        """Return a Poisson(``mean``) count for a rate that never changes, drawn in blocks of
        the generator's own Poisson counts (the draws of a crowd without excitation)."""
        if not self._counts:
            self._counts = self.rng.poisson(mean, self.block).tolist()[::-1]
        return self._counts.pop()

    def poisson(self, mean: float) -> int:
        """Return a Poisson(``mean``) count: by inversion of one uniform for a mean up to 30
        (the sequential search of Devroye 1986, X.3), from the generator beyond."""
        if mean <= 0.0:
            return 0
        if mean > 30.0:
            return int(self.rng.poisson(mean))
        u = self.uniform()
        k = 0
        term = cumulative = math.exp(-mean)
        while u > cumulative and term > 0.0:
            k += 1
            term *= mean / k
            cumulative += term
        return k

    def uniform(self) -> float:
        """Return a uniform draw in [0, 1)."""
        if not self._uniforms:
            self._uniforms = self.rng.random(self.block).tolist()
        return self._uniforms.pop()

    def normal(self) -> float:
        """Return a standard normal draw."""
        if not self._normals:
            self._normals = self.rng.standard_normal(self.block).tolist()
        return self._normals.pop()


class Crowd(Trader):
    """Accounts of one crowd on one venue, and the helpers its members share: the crowd's
    random stream, its self-exciting arrivals, its reference price."""

    def __init__(self, model: MarketModel, params: NoiseParams | ValueParams | InformedParams,
                 venue: str, rate_per_s: float) -> None:
        super().__init__(model)
        self.params = params
        self.trade_on(venue)
        self.accounts = (self.open_accounts(params.count, params.wallet, params.leverage, venue)
                         if params.count > 0 else np.zeros(0, dtype=np.int64))
        self._account_list = self.accounts.tolist()
        self.draws = RandomBlocks(model.random_stream(f"{venue}/{self.kind}"))
        self.excitation = Excitation(rate_per_s, params.excitation, model.step_s)
        self._lot = self.exchange.config.lot_size
        self._tick = self.exchange.config.tick_size

    def reference_price(self) -> float:
        """Return the book's mid, else the last trade, else the index."""
        ex = self.exchange
        mid = ex.mid_price
        if mid is not None:
            return mid
        last = ex.last_price
        if last is not None:
            return last
        return self.model.index

    def _arrivals(self) -> int:
        """Draw this step's arrivals at the excited rate, then let them excite the rate."""
        if not self._account_list:
            return 0
        m = self.model
        if not self.excitation.active:
            return self.draws.arrivals(self.excitation.base_rate * m.step_s)
        n = self.draws.poisson(self.excitation.rate * m.step_s)
        self.excitation.update(n, m.move_bps, m.liquidated_usd)
        return n

    def _pick_account(self) -> int:
        accounts = self._account_list
        return accounts[min(int(self.draws.uniform() * len(accounts)), len(accounts) - 1)]

    def _lots(self, notional: float, price: float) -> int:
        return int(notional / (price * self._lot) + _EPS)

    def _position(self, account: int) -> int:
        return self.exchange.position_lots(account)


class NoiseTraders(Crowd):
    """``count`` noise accounts sending random market and limit orders.

    Each step: ``Poisson(rate_per_s * step_s)`` orders, each from a random account; a market
    order with probability ``market_share``, else a GTC limit at a uniform random distance of
    up to ``limit_offset_bps`` from the mid on the passive side; a fair coin for the side;
    lognormal notional with median ``size_notional`` and log-sd ``size_sigma``. An account at
    ``max_position_notional`` only reduces. Resting limits are cancelled oldest first beyond
    ``max_resting_orders`` orders or after ``order_ttl_s``.

    Args:
        model: the market.
        params: ``NoiseParams``.
        venue: "perp" (stages.NOISE) or "spot" (stages.SPOT).
    """

    kind = "noise"
    stage = stages.NOISE

    def __init__(self, model: MarketModel, params: NoiseParams, venue: str = "perp") -> None:
        super().__init__(model, params, venue, params.rate_per_s)
        self.resting: deque[tuple[float, int, int]] = deque()  # (t placed, account, order id)

    def act(self) -> None:
        """Draw this step's orders and send them; cancel stale resting limits."""
        n = self._arrivals()
        if n:
            self._send(n)
        if self.resting:
            self._expire()

    def _send(self, n: int) -> None:
        p = self.params
        draws = self.draws
        ex = self.exchange
        ref = self.reference_price()
        max_lots = self._lots(p.max_position_notional, ref)
        for _ in range(n):
            account = self._pick_account()
            is_market = draws.uniform() < p.market_share
            side = BUY if draws.uniform() < 0.5 else SELL
            offset = draws.uniform() * p.limit_offset_bps * BPS
            notional = p.size_notional * math.exp(p.size_sigma * draws.normal())
            side, lots, forced_reduce = capped_order(side, self._lots(notional, ref),
                                                     self._position(account), max_lots)
            if lots <= 0:
                continue
            if is_market:
                ex.submit(account, side, MARKET, lots, reduce_only=forced_reduce)
                continue
            price = limit_ticks(ref * (1.0 - side * offset), side, self._tick)
            result = ex.submit(account, side, LIMIT, lots, price)
            if result.status is Status.OK and result.filled < lots:
                self.resting.append((self.model.t, account, result.order_id))

    def _expire(self) -> None:
        p = self.params
        oldest_allowed = self.model.t - p.order_ttl_s
        resting = self.resting
        while resting and (len(resting) > p.max_resting_orders
                           or resting[0][0] <= oldest_allowed):
            _, account, order_id = resting.popleft()
            self.exchange.cancel(account, order_id)  # UNKNOWN_ORDER if it has filled: fine


class ValueTraders(Crowd):
    """``count`` informed accounts trading toward a noisy estimate of the fundamental value.

    Each step: ``Poisson(rate)`` decisions (the self-exciting rate), each by a random account
    that draws an estimate ``V * exp(estimate_noise_bps * Z)`` of the fundamental ``V``; it buys
    ``size_notional`` (IOC, no higher than ``estimate * (1 - threshold)``) when the mid is below
    ``estimate * (1 - threshold)``, sells (no lower than ``estimate * (1 + threshold)``) when
    above ``estimate * (1 + threshold)``, within ``max_position_notional``. (The estimate is
    drawn afresh at each decision: the crowd knows the fundamental exactly on average. For a
    crowd whose errors persist, with capital tied to its view, see ``agents.informed``.)

    Args:
        model: the market.
        params: ``ValueParams``.
        venue: "perp" (stages.VALUE) or "spot" (stages.SPOT).
    """

    kind = "value"
    stage = stages.VALUE

    def __init__(self, model: MarketModel, params: ValueParams, venue: str = "perp") -> None:
        super().__init__(model, params, venue, params.rate_per_s)

    def act(self) -> None:
        """Draw this step's decisions and trade the mispriced ones."""
        n = self._arrivals()
        if n == 0:
            return
        p = self.params
        ex = self.exchange
        threshold = p.threshold_bps * BPS
        for _ in range(n):
            account = self._pick_account()
            estimate = self.model.fundamental.price * math.exp(
                p.estimate_noise_bps * BPS * self.draws.normal())
            ref = self.reference_price()  # the previous decision may have moved it
            if ref < estimate * (1.0 - threshold):
                side = BUY
            elif ref > estimate * (1.0 + threshold):
                side = SELL
            else:
                continue
            lots, at_limit = capped_order(side, self._lots(p.size_notional, ref),
                                          self._position(account),
                                          self._lots(p.max_position_notional, ref))[1:]
            if lots <= 0 or at_limit:
                continue  # at its limit: the only trade left would go against its view
            limit = limit_ticks(estimate * (1.0 - side * threshold), side, self._tick)
            ex.submit(account, side, IOC, lots, limit)


__all__ = ["Crowd", "NoiseTraders", "ValueTraders", "RandomBlocks", "capped_order"]
