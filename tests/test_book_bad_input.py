"""Wrong-typed requests to ``OrderBook``: order entry and cancel return a reject status and
change nothing (never a numba typing error); the query helpers raise ValueError naming the
argument.

Codes and ids (account, side, kind, trigger, order id) must be integers: Python or numpy ints
and IntEnum members pass, while floats (even 1.0), bools, strings and None are rejected.
Quantities and prices may be whole floats (2.0), as before.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.exchange.codes import (
    BUY,
    LIMIT,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    OrderKind,
    Side,
    Status,
    Trigger,
)
from tests.builders import assert_unchanged, ladder, make_book, snapshot

TAKER = 0
BASE = dict(account=TAKER, side=BUY, kind=LIMIT, qty=1, price=99, trigger=TRIGGER_LAST)

WRONG_FIELDS = [
    ("account", v, Status.UNKNOWN_ACCOUNT) for v in (0.0, 1.5, np.float64(0.0), "0", None, True)
] + [
    ("side", v, Status.BAD_SIDE) for v in (1.0, 1.5, np.float64(1.0), "x", None, True)
] + [
    # kind 1.5 used to pass validation (0 <= 1.5 <= 4) and rest as a limit order
    ("kind", v, Status.BAD_KIND) for v in (0.0, 1.5, np.float64(0.0), "x", None)
] + [
    ("trigger", v, Status.BAD_TRIGGER) for v in (0.0, 1.5, "x", None)
] + [
    ("qty", v, Status.BAD_QTY) for v in (1.5, "1", None, math.nan, math.inf, True)
] + [
    ("price", v, Status.BAD_PRICE) for v in ("99", None, math.nan, -math.inf)
] + [
    ("price", 99.5, Status.OFF_GRID),
    # Python ints beyond int64: numba cannot type them
    ("account", 1 << 64, Status.UNKNOWN_ACCOUNT), ("side", -(10**30), Status.BAD_SIDE),
    ("kind", 1 << 70, Status.BAD_KIND), ("qty", 1 << 64, Status.BAD_QTY),
    ("price", 1 << 64, Status.BAD_PRICE), ("trigger", 1 << 64, Status.BAD_TRIGGER),
]


@pytest.mark.parametrize("field, value, status", WRONG_FIELDS,
                         ids=[f"{f}={v!r}" for f, v, _ in WRONG_FIELDS])
def test_wrong_typed_order_field_is_rejected_and_changes_nothing(field, value, status):
    book, _ = make_book(bids=[(98, [2])], asks=[(101, [3])], n_accounts=8)
    order = dict(BASE, **{field: value})
    if field == "trigger":
        order.update(side=SELL, kind=STOP_MARKET, price=95)
    before = snapshot(book)
    res = book.submit(**order)
    assert res.status == status
    assert (res.order_id, res.filled, len(res.fills)) == (0, 0, 0)
    assert_unchanged(book, before)
    # the same order with the field put right is accepted
    assert book.submit(**dict(order, **{field: BASE[field]})).status == Status.OK


def test_a_limit_order_with_a_wrong_typed_trigger_is_rejected_too():
    book, _ = make_book()
    assert book.submit(TAKER, BUY, LIMIT, 1, 99, trigger=None).status == Status.BAD_TRIGGER


def test_numpy_ints_and_enum_members_are_accepted_as_their_values():
    book, _ = make_book(asks=[(101, [3])], n_accounts=8)
    res = book.submit(np.int64(5), Side.BUY, OrderKind.LIMIT, np.int32(2), np.int16(99),
                      trigger=Trigger.MARK)
    assert res.status == Status.OK
    assert ladder(book, BUY) == [(99, [(res.order_id, 5, 2)])]
    assert book.cancel(np.int64(res.order_id)) == Status.OK
    assert ladder(book, BUY) == []


@pytest.mark.parametrize("order_id", ["live as float", 1.5, "x", None, 1 << 64, -(1 << 64)])
def test_cancel_with_a_wrong_typed_id_is_unknown_and_changes_nothing(order_id):
    book, ids = make_book(bids=[(98, [2])])
    if order_id == "live as float":
        order_id = float(ids[0])  # the live order's id, exactly, but as a float
    before = snapshot(book)
    assert book.cancel(order_id) == Status.UNKNOWN_ORDER
    assert_unchanged(book, before)


# ---------------------------------------------------------------- query helpers


@pytest.mark.parametrize("call, name", [
    (lambda b: b.depth(1.0), "side"),
    (lambda b: b.depth("x"), "side"),
    (lambda b: b.depth(BUY, -1), "n"),
    (lambda b: b.depth(BUY, 2.5), "n"),
    (lambda b: b.depth(BUY, None), "n"),
    (lambda b: b.resting_qty(BUY, 98.5), "price"),
    (lambda b: b.resting_qty(BUY, "98"), "price"),
    (lambda b: b.queue(BUY, None), "price"),
    (lambda b: b.depth_to_price(0, 100), "taker_side"),
    (lambda b: b.depth_to_price(BUY, 100.5), "target"),
    (lambda b: b.impact_price(BUY, "1"), "value"),
    (lambda b: b.impact_price(BUY, math.inf), "value"),
    (lambda b: b.impact_price(BUY, math.nan), "value"),
    (lambda b: b.open_orders(-1), "account"),
    (lambda b: b.open_orders(8), "account"),
    (lambda b: b.open_orders(1.0), "account"),
    (lambda b: b.add_accounts(-1), "n"),
    (lambda b: b.add_accounts("2"), "n"),
])
def test_query_helpers_raise_value_error_naming_the_argument(call, name):
    book, _ = make_book(bids=[(98, [2])], n_accounts=8)
    before = snapshot(book)
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call(book)
    assert_unchanged(book, before)


def test_open_orders_of_minus_one_does_not_wrap_to_the_last_account():
    book, _ = make_book(n_accounts=8)
    book.submit(7, BUY, LIMIT, 1, 99)  # the last account has an order
    with pytest.raises(ValueError, match="account"):
        book.open_orders(-1)  # owner[-1] would have been account 7's row
