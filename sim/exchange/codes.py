"""Sides, order kinds, trigger sources and status codes shared by the engine and its callers.

The kernels compare plain integers (module-level ints are compile-time constants to numba);
the IntEnum classes carry the same values for readable results at the Python edge.
"""

from __future__ import annotations

from enum import IntEnum

BUY = 1
SELL = -1

# Order kinds accepted by ``submit``.
LIMIT = 0  # good till cancelled
MARKET = 1
IOC = 2  # immediate or cancel: match up to the limit price, drop the rest
POST_ONLY = 3  # rest only; rejected if it would take liquidity
STOP_MARKET = 4  # a market order released when the trigger price crosses the stop price

# Margin modes of an account.
ISOLATED_MARGIN = 0
CROSS_MARGIN = 1

# Which price a stop order (or the liquidation engine) watches.
TRIGGER_LAST = 0
TRIGGER_MARK = 1

# Flags carried by a fill, describing the taker.
FLAG_LIQUIDATION = 1
FLAG_ADL = 2
FLAG_STOP = 4

# Status of a request. 0 is success, positive values are rejects (state unchanged),
# negative values ask the Python wrapper to grow an array and call again (state unchanged).
OK = 0
REJECT_BAD_QTY = 1
REJECT_BAD_PRICE = 2
REJECT_OFF_GRID = 3
REJECT_UNKNOWN_ACCOUNT = 4
REJECT_INSUFFICIENT_MARGIN = 5
REJECT_UNKNOWN_ORDER = 6
REJECT_POST_ONLY_WOULD_CROSS = 7
REJECT_BAD_SIDE = 8
REJECT_BAD_KIND = 9
REJECT_BAD_TRIGGER = 10
REJECT_REDUCE_ONLY = 11
REJECT_POSITION_LIMIT = 12
NEED_ORDER_CAPACITY = -1
NEED_FILL_CAPACITY = -2
NEED_LADDER = -3
NEED_STOP_CAPACITY = -4
NEED_HEAP_CAPACITY = -5
NEED_LIQUIDATION_CAPACITY = -6


class Side(IntEnum):
    """Taker side of an order: +1 buys, -1 sells."""

    BUY = BUY
    SELL = SELL


class OrderKind(IntEnum):
    """Order types of ``submit``."""

    LIMIT = LIMIT
    MARKET = MARKET
    IOC = IOC
    POST_ONLY = POST_ONLY
    STOP_MARKET = STOP_MARKET


class Trigger(IntEnum):
    """Price a stop order or the liquidation engine watches."""

    LAST = TRIGGER_LAST
    MARK = TRIGGER_MARK


class Status(IntEnum):
    """Outcome of an order-entry or cancel request; anything but OK left the state unchanged."""

    OK = OK
    BAD_QTY = REJECT_BAD_QTY
    BAD_PRICE = REJECT_BAD_PRICE
    OFF_GRID = REJECT_OFF_GRID
    UNKNOWN_ACCOUNT = REJECT_UNKNOWN_ACCOUNT
    INSUFFICIENT_MARGIN = REJECT_INSUFFICIENT_MARGIN
    UNKNOWN_ORDER = REJECT_UNKNOWN_ORDER
    POST_ONLY_WOULD_CROSS = REJECT_POST_ONLY_WOULD_CROSS
    BAD_SIDE = REJECT_BAD_SIDE
    BAD_KIND = REJECT_BAD_KIND
    BAD_TRIGGER = REJECT_BAD_TRIGGER
    REDUCE_ONLY = REJECT_REDUCE_ONLY
    POSITION_LIMIT = REJECT_POSITION_LIMIT
