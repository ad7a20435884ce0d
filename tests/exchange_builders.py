"""Builders and state readers for the exchange-layer tests.

Conventions used throughout: defaults of ``ExchangeConfig`` (tick 0.1 USD, lot 0.001 BTC, so
100 lots = 0.1 BTC and a price of 100,000 USD is 1,000,000 ticks), a short price ladder that
grows on demand, and accounts opened with explicit wallets and leverages. ``usd(x)`` and
``ticks(x)`` convert between USD and ticks for the default tick.
"""

from __future__ import annotations

import numpy as np

from sim.exchange import Exchange, ExchangeConfig
from sim.exchange.codes import LIMIT, MARKET, SELL, Status

TICK = 0.1
LOT = 0.001

STATE_ARRAYS = ("book.orders", "book.levels", "book.meta", "book.owner", "book.stops",
                "book.fills", "acct_f", "acct_i", "ex_f", "ex_i")


def ticks(price_usd: float) -> int:
    """Return a USD price in ticks of 0.1."""
    return int(round(price_usd / TICK))


def make_exchange(**config) -> Exchange:
    """Return an exchange with the default contract and a small ladder (it grows on demand)."""
    config.setdefault("price_levels", 1 << 12)
    return Exchange(ExchangeConfig(**config), account_capacity=8)


def no_fee_exchange(**config) -> Exchange:
    """Return an exchange without trading fees (liquidation arithmetic without fee terms)."""
    return make_exchange(maker_fee=0.0, taker_fee=0.0, **config)


def open_account(ex: Exchange, wallet: float, leverage: float, mode: int = 0) -> int:
    """Open one account and return its id as a plain int."""
    return int(ex.open_accounts(1, wallet, leverage, mode)[0])


def trade_at(ex: Exchange, buyer: int, seller: int, lots: int, price_usd: float,
             maker_side: int = SELL) -> None:
    """Make ``buyer`` buy ``lots`` from ``seller`` at ``price_usd``; the maker rests first.

    The book must hold nothing on the maker's side that would be matched before the maker.
    """
    maker, taker = (seller, buyer) if maker_side == SELL else (buyer, seller)
    res = ex.submit(maker, maker_side, LIMIT, lots, ticks(price_usd))
    assert res.status == Status.OK and res.filled == 0, res
    res = ex.submit(taker, -maker_side, MARKET, lots)
    assert res.status == Status.OK and res.filled == lots, res


def rest(ex: Exchange, account: int, side: int, lots: int, price_usd: float) -> int:
    """Rest a LIMIT order that must not trade; return its id."""
    res = ex.submit(account, side, LIMIT, lots, ticks(price_usd))
    assert res.status == Status.OK and res.filled == 0, res
    return int(res.order_id)


def step(ex: Exchange, t: float, index: float):
    """Run one clock step without orders: ``begin_step`` then ``settle``; return the report."""
    ex.begin_step(t, index)
    return ex.settle()


def _get(ex: Exchange, name: str) -> np.ndarray:
    obj = ex
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def snapshot(ex: Exchange) -> dict[str, np.ndarray]:
    """Copy every state array of the exchange and its book."""
    return {name: _get(ex, name).copy() for name in STATE_ARRAYS}


def changed_arrays(ex: Exchange, before: dict[str, np.ndarray]) -> list[str]:
    """Return the names of the state arrays that differ (shape or content) from ``before``."""
    out = []
    for name, old in before.items():
        new = _get(ex, name)
        nan_ok = old.dtype.kind == "f"
        if new.shape != old.shape or not np.array_equal(new, old, equal_nan=nan_ok):
            out.append(name)
    return out
