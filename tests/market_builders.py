"""Shared test kit for markets: quiet models, resting quotes and a ladder maker.

Keyword defaults describe the common case; a test states only what its arithmetic needs.
"""

from __future__ import annotations

import math

from agents import stages
from agents.base import Trader
from sim.exchange import BUY, LIMIT, SELL, Exchange, ExchangeConfig, Status
from sim.fundamental import FundamentalProcess
from sim.model import MarketModel


def quiet_model(*, seed: int = 1, price: float = 100_000.0, volatility: float = 0.0,
                spot: bool = False, **config) -> MarketModel:
    """Return a model whose fundamental starts at ``price`` with ``volatility`` per year (0:
    the exogenous index stays put), on an exchange of ``ExchangeConfig(**config)``; with
    ``spot`` a default spot book makes the index."""
    return MarketModel(ExchangeConfig(**{"initial_price": price, **config}),
                       FundamentalProcess(price, volatility_per_year=volatility), seed=seed,
                       spot_config=ExchangeConfig(initial_price=price) if spot else None)


def quote(exchange: Exchange, bid_usd: float, ask_usd: float, lots: int = 10_000,
          wallet: float = 1e8) -> int:
    """Rest a bid and an ask of ``lots`` each from a fresh, well-funded account; return it."""
    account = int(exchange.open_accounts(1, wallet, 10.0)[0])
    exchange.submit(account, BUY, LIMIT, lots, exchange.to_ticks(bid_usd))
    exchange.submit(account, SELL, LIMIT, lots, exchange.to_ticks(ask_usd))
    return account


class LadderMaker(Trader):
    """Test-only liquidity on the perpetual (or on ``venue``): ``levels`` LIMIT orders of
    ``lots`` a side, ``spacing_ticks`` apart, around the index (or the venue's last trade
    price, with ``follow="last"``), cancelled and requoted every step."""

    kind = "ladder"
    stage = stages.MAKER

    def __init__(self, model: MarketModel, *, levels: int = 20, spacing_ticks: int = 5,
                 lots: int = 5_000, wallet: float = 1e10, leverage: float = 4.0,
                 follow: str = "index", venue: str = "perp") -> None:
        super().__init__(model)
        self.trade_on(venue)
        self.account = int(self.open_accounts(1, wallet, leverage, venue)[0])
        self.levels, self.spacing, self.lots, self.follow = levels, spacing_ticks, lots, follow
        self.orders: list[int] = []

    def act(self) -> None:
        ex = self.exchange
        for oid in self.orders:
            ex.cancel(self.account, oid)
        self.orders = []
        centre = ex.to_ticks(self.model.index)
        if self.follow == "last":
            centre = ex.last_price_ticks() or centre
        for k in range(1, self.levels + 1):
            for side in (BUY, SELL):
                res = ex.submit(self.account, side, LIMIT, self.lots,
                                centre - side * k * self.spacing)
                if res.status == Status.OK and res.filled < self.lots:
                    self.orders.append(res.order_id)


def takers_paid_any_price(model: MarketModel) -> None:
    """Set every venue's step taker prices so that a learning maker's Glosten-Milgrom bound
    does not bind: takers bought up to any price and sold down to any (for tests of the
    flow arithmetic that set ``taker_flow_usd`` by hand)."""
    for venue in model.taker_buy_high:
        model.taker_buy_high[venue] = math.inf
        model.taker_sell_low[venue] = 0.0
