"""Pure-Python reference limit order book.

A deliberately simple price-time priority book used as the oracle in
differential tests against the fast order book. Clarity is preferred over
speed: levels are plain dicts of deques, best prices are found with min/max.

Semantics
---------
* Prices are positive integer ticks, quantities positive integer lots.
* Every accepted order (market and IOC included) gets the next sequential id,
  starting at 1. A rejected order gets ``None``, no fills, and changes nothing.
* Matching is price-time priority; fills happen at the maker's price.
* Self-trade prevention cancels the resting order of the taker's own account
  (no fill) and matching continues with the next resting order.
* LIMIT remainders rest; MARKET and IOC remainders are dropped.
* POST_ONLY orders that would cross are rejected entirely.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

BUY = 1
SELL = -1

LIMIT = 0
MARKET = 1
IOC = 2
POST_ONLY = 3

# (price, qty, maker_order_id, maker_account, taker_order_id, taker_account)
Fill = tuple[int, int, int, int, int, int]


@dataclass(eq=False)
class _Resting:
    order_id: int
    account: int
    side: int
    price: int
    qty: int


class RefBook:
    def __init__(self) -> None:
        # side -> {price -> deque of resting orders in arrival order}
        self._levels: dict[int, dict[int, deque[_Resting]]] = {BUY: {}, SELL: {}}
        # order_id -> resting order, only for orders currently in the book
        self._orders: dict[int, _Resting] = {}
        self._next_id = 1
        self._last_price: int | None = None

    # ------------------------------------------------------------------ queries

    def best_bid(self) -> int | None:
        bids = self._levels[BUY]
        return max(bids) if bids else None

    def best_ask(self) -> int | None:
        asks = self._levels[SELL]
        return min(asks) if asks else None

    def _best(self, side: int) -> int | None:
        return self.best_bid() if side == BUY else self.best_ask()

    def resting(self, side: int) -> list[tuple[int, list[tuple[int, int, int]]]]:
        """Levels best-first: ``(price, [(order_id, account, qty), ...])``."""
        if side not in (BUY, SELL):
            raise ValueError(f"bad side {side!r}")
        levels = self._levels[side]
        prices = sorted(levels, reverse=(side == BUY))
        return [
            (price, [(o.order_id, o.account, o.qty) for o in levels[price]]) for price in prices
        ]

    def last_price(self) -> int | None:
        return self._last_price

    # ------------------------------------------------------------------ actions

    def cancel(self, order_id: int) -> bool:
        order = self._orders.get(order_id)
        if order is None:
            return False
        self._remove(order)
        return True

    def submit(
        self,
        account: int,
        side: int,
        kind: int,
        qty: int,
        price: int | None = None,
    ) -> tuple[int | None, list[Fill]]:
        if side not in (BUY, SELL):
            raise ValueError(f"bad side {side!r}")
        if kind not in (LIMIT, MARKET, IOC, POST_ONLY):
            raise ValueError(f"bad kind {kind!r}")

        # ---- validation: a rejected order changes nothing
        if qty <= 0:
            return None, []
        if kind != MARKET and (price is None or price <= 0):
            return None, []
        if kind == POST_ONLY:
            assert price is not None
            if side == BUY:
                ask = self.best_ask()
                if ask is not None and price >= ask:
                    return None, []
            else:
                bid = self.best_bid()
                if bid is not None and price <= bid:
                    return None, []

        order_id = self._next_id
        self._next_id += 1

        # ---- matching against the opposite side
        fills: list[Fill] = []
        remaining = qty
        opposite = -side
        while remaining > 0:
            best = self._best(opposite)
            if best is None:
                break
            if kind != MARKET:
                assert price is not None
                if side == BUY and best > price:
                    break
                if side == SELL and best < price:
                    break
            maker = self._levels[opposite][best][0]
            if maker.account == account:
                # self-trade prevention: cancel the resting order, keep going
                self._remove(maker)
                continue
            traded = min(remaining, maker.qty)
            fills.append((best, traded, maker.order_id, maker.account, order_id, account))
            self._last_price = best
            remaining -= traded
            maker.qty -= traded
            if maker.qty == 0:
                self._remove(maker)

        # ---- remainder handling
        if remaining > 0 and kind in (LIMIT, POST_ONLY):
            assert price is not None
            order = _Resting(order_id, account, side, price, remaining)
            self._levels[side].setdefault(price, deque()).append(order)
            self._orders[order_id] = order
        # MARKET / IOC remainders are dropped

        return order_id, fills

    # ----------------------------------------------------------------- helpers

    def _remove(self, order: _Resting) -> None:
        levels = self._levels[order.side]
        queue = levels[order.price]
        queue.remove(order)
        if not queue:
            del levels[order.price]
        del self._orders[order.order_id]
