"""Invalid requests: order entry and cancel return a reject code and change no state array;
the Python-side functions raise ValueError naming the bad argument.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.exchange import Exchange, ExchangeConfig
from sim.exchange.codes import (
    BUY,
    CROSS_MARGIN,
    IOC,
    LIMIT,
    MARKET,
    POST_ONLY,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    OrderKind,
    Side,
    Status,
    Trigger,
)
from sim.exchange.perp import MarginTier
from tests.exchange_builders import (
    changed_arrays,
    make_exchange,
    open_account,
    rest,
    snapshot,
    step,
    ticks,
    trade_at,
)


@pytest.fixture
def busy():
    """An exchange with positions, resting orders on both sides and a stop."""
    ex = make_exchange()
    a = open_account(ex, 1_000.0, 10.0)
    b = open_account(ex, 100_000.0, 10.0)
    trade_at(ex, a, b, 50, 100_000.0)
    rest(ex, b, BUY, 30, 99_000.0)
    rest(ex, b, SELL, 30, 101_000.0)
    res = ex.submit(a, SELL, STOP_MARKET, 50, ticks(95_000.0), trigger=TRIGGER_LAST,
                    reduce_only=True)
    assert res.status == Status.OK
    step(ex, 1.0, 100_000.0)
    return ex, a, b


P = ticks(100_000.0)

BAD_ORDERS = [
    ("zero qty", dict(side=BUY, kind=LIMIT, qty=0, price=P), Status.BAD_QTY),
    ("negative qty", dict(side=BUY, kind=LIMIT, qty=-5, price=P), Status.BAD_QTY),
    ("negative market qty", dict(side=SELL, kind=MARKET, qty=-1), Status.BAD_QTY),
    ("fractional qty", dict(side=BUY, kind=LIMIT, qty=1.5, price=P), Status.BAD_QTY),
    ("off-grid price", dict(side=BUY, kind=LIMIT, qty=1, price=P + 0.5), Status.OFF_GRID),
    ("zero price", dict(side=BUY, kind=LIMIT, qty=1, price=0), Status.BAD_PRICE),
    ("negative price", dict(side=SELL, kind=IOC, qty=1, price=-3), Status.BAD_PRICE),
    ("bad side", dict(side=0, kind=LIMIT, qty=1, price=P), Status.BAD_SIDE),
    ("bad kind", dict(side=BUY, kind=9, qty=1, price=P), Status.BAD_KIND),
    ("bad trigger", dict(side=SELL, kind=STOP_MARKET, qty=1, price=P, trigger=7),
     Status.BAD_TRIGGER),
    ("insufficient margin", dict(side=BUY, kind=LIMIT, qty=100, price=ticks(98_000.0)),
     Status.INSUFFICIENT_MARGIN),
    ("post-only crossing", dict(side=BUY, kind=POST_ONLY, qty=1, price=ticks(101_000.0)),
     Status.POST_ONLY_WOULD_CROSS),
    ("reduce-only limit", dict(side=SELL, kind=LIMIT, qty=1, price=P, reduce_only=True),
     Status.REDUCE_ONLY),
    ("reduce-only growing", dict(side=BUY, kind=MARKET, qty=1, reduce_only=True),
     Status.REDUCE_ONLY),
]


@pytest.mark.parametrize("name, order, status", BAD_ORDERS, ids=[o[0] for o in BAD_ORDERS])
def test_invalid_order_is_rejected_and_changes_nothing(busy, name, order, status):
    ex, a, _ = busy
    before = snapshot(ex)
    res = ex.submit(a, **order)
    assert res.status == status
    assert (res.order_id, res.filled, len(res.fills)) == (0, 0, 0)
    assert changed_arrays(ex, before) == []


@pytest.mark.parametrize("account", [-1, 2, 7, 10**6])
def test_order_from_unknown_account_is_rejected_and_changes_nothing(busy, account):
    ex, _, _ = busy  # accounts 0 and 1 are open; capacity is 8
    before = snapshot(ex)
    res = ex.submit(account, BUY, LIMIT, 1, P)
    assert res.status == Status.UNKNOWN_ACCOUNT
    assert changed_arrays(ex, before) == []


def test_cancel_of_unknown_or_foreign_order_is_rejected_and_changes_nothing(busy):
    ex, a, b = busy
    theirs = ex.open_orders(b)
    mine = ex.open_orders(a)
    assert len(theirs) == 2 and len(mine) == 1
    before = snapshot(ex)
    for account, oid in ((a, theirs[0]), (a, theirs[1]), (b, mine[0]), (a, 0), (a, -1),
                         (a, 12_345), (a, theirs[0] + (1 << 32)), (7, mine[0])):
        assert ex.cancel(account, oid) == Status.UNKNOWN_ORDER, (account, oid)
    assert changed_arrays(ex, before) == []
    # a cancelled order cannot be cancelled twice
    assert ex.cancel(b, theirs[0]) == Status.OK
    before = snapshot(ex)
    assert ex.cancel(b, theirs[0]) == Status.UNKNOWN_ORDER
    assert changed_arrays(ex, before) == []


# Codes and ids must be integers (Python or numpy ints, IntEnum members); floats (even 1.0),
# bools, strings and None are refused with the field's reject status, without reaching numba.
WRONG_FIELDS = [
    ("account", v, Status.UNKNOWN_ACCOUNT) for v in (1.0, 1.5, np.float64(1.0), "1", None, True)
] + [
    ("side", v, Status.BAD_SIDE) for v in (1.0, 1.5, np.float64(1.0), "x", None, True)
] + [
    # kind 1.5 used to pass validation (0 <= 1.5 <= 4) and be accepted
    ("kind", v, Status.BAD_KIND) for v in (0.0, 1.5, np.float64(0.0), "x", None)
] + [
    ("trigger", v, Status.BAD_TRIGGER) for v in (0.0, 1.5, np.float64(1.0), "x", None)
] + [
    # qty "x" used to come back as BAD_PRICE
    ("qty", v, Status.BAD_QTY) for v in ("1", "x", None, math.nan, math.inf, True)
] + [
    ("price", v, Status.BAD_PRICE) for v in ("x", None, math.nan, math.inf)
] + [
    # Python ints beyond int64: numba cannot type them
    ("account", 1 << 64, Status.UNKNOWN_ACCOUNT), ("side", 10**30, Status.BAD_SIDE),
    ("kind", -(1 << 64), Status.BAD_KIND), ("qty", 1 << 64, Status.BAD_QTY),
    ("price", 1 << 64, Status.BAD_PRICE), ("trigger", 1 << 64, Status.BAD_TRIGGER),
]


@pytest.mark.parametrize("field, value, status", WRONG_FIELDS,
                         ids=[f"{f}={v!r}" for f, v, _ in WRONG_FIELDS])
def test_wrong_typed_order_field_is_rejected_and_changes_nothing(busy, field, value, status):
    ex, _, b = busy
    if field == "trigger":
        good = dict(account=b, side=SELL, kind=STOP_MARKET, qty=1, price=ticks(95_000.0),
                    trigger=TRIGGER_LAST)
    else:  # a bid below b's 99,000 bid
        good = dict(account=b, side=BUY, kind=LIMIT, qty=1, price=ticks(98_000.0))
    before = snapshot(ex)
    res = ex.submit(**dict(good, **{field: value}))
    assert res.status == status
    assert (res.order_id, res.filled, len(res.fills)) == (0, 0, 0)
    assert changed_arrays(ex, before) == []
    assert ex.submit(**good).status == Status.OK  # only the field was wrong


def test_numpy_ints_and_enum_members_are_accepted_as_their_values(busy):
    ex, _, b = busy
    res = ex.submit(np.int64(b), Side.BUY, OrderKind.LIMIT, np.int32(2), np.int64(980_000),
                    trigger=Trigger.LAST)
    assert res.status == Status.OK
    assert ex.book.queue(BUY, 980_000) == [(res.order_id, b, 2)]
    assert ex.cancel(np.int64(b), np.int64(res.order_id)) == Status.OK
    assert ex.book.queue(BUY, 980_000) == []


@pytest.mark.parametrize("account, order_id", [
    ("b", "live as float"), ("b", 1.5), ("b", "x"), ("b", None), ("b", 1 << 64),
    (1.0, "live"), ("1", "live"), (None, "live"), (True, "live"), (1 << 64, "live"),
])
def test_cancel_with_wrong_typed_arguments_is_unknown_order_and_changes_nothing(
        busy, account, order_id):
    ex, _, b = busy
    live = ex.open_orders(b)[0]
    account = b if account == "b" else account
    order_id = {"live": live, "live as float": float(live)}.get(order_id, order_id)
    before = snapshot(ex)
    assert ex.cancel(account, order_id) == Status.UNKNOWN_ORDER
    assert changed_arrays(ex, before) == []
    assert ex.cancel(b, live) == Status.OK


def test_position_limit_reject_changes_nothing():
    ex = make_exchange()
    a = open_account(ex, 10_000.0, 125.0)
    before = snapshot(ex)
    assert ex.submit(a, BUY, LIMIT, 501, P).status == Status.POSITION_LIMIT  # 50,100 USD
    assert changed_arrays(ex, before) == []


def test_rejects_do_not_count_as_messages(busy):
    ex, a, _ = busy
    n = ex.messages
    for _, order, _ in BAD_ORDERS:
        ex.submit(a, **order)
    ex.cancel(a, 12_345)
    assert ex.messages == n


# ---------------------------------------------------------------- ValueError at the Python edge

CONFIG_ERRORS = [
    ("tick_size", 0.0), ("tick_size", -0.1), ("tick_size", math.nan), ("lot_size", math.inf),
    ("funding_interval_s", 0), ("impact_notional", -1.0), ("mark_basis_window_s", 0.0),
    ("initial_price", math.nan),
    ("interest_rate", -0.0001), ("funding_clamp", -1.0), ("funding_cap", math.inf),
    ("clearance_fee_rate", -0.01), ("insurance_fund", -5.0), ("insurance_fund", math.nan),
    ("maker_fee", 0.5), ("taker_fee", -0.02), ("maker_fee", math.nan),
    ("liquidation_trigger", 2), ("max_trigger_passes", 0), ("max_trigger_passes", 1.5),
    ("price_levels", 0), ("price_levels", 2.0),
    ("price_band", 0.0), ("price_band", 1.0), ("price_band", -0.1), ("price_band", 1.5),
    ("price_band", math.nan), ("price_band", "0.1"), ("price_band", True),
]


@pytest.mark.parametrize("field, value", CONFIG_ERRORS)
def test_config_rejects_bad_field_naming_it(field, value):
    with pytest.raises(ValueError, match=field):
        ExchangeConfig(**{field: value})


def test_config_rejects_fees_that_pay_traders_net():
    with pytest.raises(ValueError, match="maker_fee"):
        ExchangeConfig(maker_fee=-0.0003, taker_fee=0.0002)
    ExchangeConfig(maker_fee=-0.0001, taker_fee=0.0002)  # a rebate below the taker fee is fine


def test_config_rejects_bad_tier_table_naming_tiers():
    with pytest.raises(ValueError, match="tiers"):
        ExchangeConfig(tiers=(MarginTier(10.0, 125.0, 0.004, 0.0),))
    with pytest.raises(ValueError, match="tiers"):
        ExchangeConfig(tiers=())


def test_exchange_rejects_bad_account_capacity():
    with pytest.raises(ValueError, match="account_capacity"):
        Exchange(account_capacity=0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=0, wallet=1.0, leverage=1.0), "n"),
    (dict(n=1.5, wallet=1.0, leverage=1.0), "n"),
    (dict(n=1, wallet=-1.0, leverage=1.0), "wallet"),
    (dict(n=1, wallet=math.nan, leverage=1.0), "wallet"),
    (dict(n=1, wallet=math.inf, leverage=1.0), "wallet"),
    (dict(n=1, wallet=1.0, leverage=0.5), "leverage"),
    (dict(n=1, wallet=1.0, leverage=126.0), "leverage"),
    (dict(n=1, wallet=1.0, leverage=math.nan), "leverage"),
    (dict(n=1, wallet=1.0, leverage=10.0, margin_mode=2), "margin_mode"),
])
def test_open_accounts_rejects_bad_argument_naming_it(kwargs, name):
    ex = make_exchange()
    before = snapshot(ex)
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        ex.open_accounts(**kwargs)
    assert changed_arrays(ex, before) == [] and ex.n_accounts == 0


def test_open_accounts_grows_past_the_initial_capacity():
    ex = make_exchange()  # capacity 8
    ids = ex.open_accounts(20, 1_000.0, 10.0, CROSS_MARGIN)
    assert ids.tolist() == list(range(20))
    assert ex.account(19).margin_mode == CROSS_MARGIN
    assert ex.submit(19, BUY, LIMIT, 1, P).status == Status.OK
    assert ex.invariants()["money_conserved"]


@pytest.mark.parametrize("index", [0.0, -100.0, math.nan, math.inf])
def test_begin_step_rejects_bad_index_price(index):
    ex = make_exchange()
    with pytest.raises(ValueError, match="index_price"):
        ex.begin_step(1.0, index)


@pytest.mark.parametrize("t", [4.0, math.nan, -1.0])
def test_begin_step_rejects_time_going_backwards(t):
    ex = make_exchange()
    ex.begin_step(5.0, 100_000.0)
    ex.begin_step(5.0, 100_000.0)  # the same time again is allowed
    before = snapshot(ex)
    with pytest.raises(ValueError, match="t_seconds"):
        ex.begin_step(t, 100_000.0)
    assert changed_arrays(ex, before) == []
    assert ex.time == 5.0


@pytest.mark.parametrize("dt", [0.0, -1.0, math.nan, math.inf])
def test_begin_step_rejects_bad_step_length(dt):
    ex = make_exchange()
    with pytest.raises(ValueError, match="dt_seconds"):
        ex.begin_step(1.0, 100_000.0, dt)


def test_set_leverage_rejects_bad_values_and_busy_accounts(busy):
    ex, a, b = busy
    for lev in (0.5, 125.5, math.nan):
        with pytest.raises(ValueError, match="leverage"):
            ex.set_leverage(a, lev)
    with pytest.raises(ValueError, match="flat"):
        ex.set_leverage(a, 5.0)  # holds a position
    c = open_account(ex, 1_000.0, 10.0)
    rest(ex, c, BUY, 1, 90_000.0)
    with pytest.raises(ValueError, match="flat"):
        ex.set_leverage(c, 5.0)  # has an open order
    with pytest.raises(ValueError, match="account"):
        ex.set_leverage(99, 5.0)
    assert ex.account(a).leverage == 10.0 and ex.account(c).leverage == 10.0


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_to_ticks_rejects_non_positive_or_non_finite_price(price):
    with pytest.raises(ValueError, match="price"):
        make_exchange().to_ticks(price)


def test_to_ticks_rounds_to_the_nearest_tick():
    ex = make_exchange()
    assert ex.to_ticks(100_000.04) == 1_000_000
    assert ex.to_ticks(100_000.06) == 1_000_001


# Two accounts are open (0 and 1) in arrays with room for 8: ids 2..7 exist in the arrays but
# are not open accounts, and -1 must not wrap around to the last row.
@pytest.mark.parametrize("account", [-1, 2, 7, 8, 10**6, np.int64(-1), 1.0, "0", None, True,
                                     1 << 64])
def test_account_queries_reject_unknown_accounts_naming_account(account):
    ex = make_exchange()
    ex.open_accounts(2, 100.0, 1.0)
    before = snapshot(ex)
    for query in (ex.account, ex.open_orders, lambda a: ex.set_leverage(a, 5.0)):
        with pytest.raises(ValueError, match=r"^account must"):
            query(account)
    assert changed_arrays(ex, before) == []


@pytest.mark.parametrize("call, name", [
    (lambda ex: ex.depth(0), "side"),
    (lambda ex: ex.depth(1.0), "side"),
    (lambda ex: ex.depth(BUY, -1), "n"),
    (lambda ex: ex.depth(BUY, "5"), "n"),
    (lambda ex: ex.depth_to_price("buy", 1_000_000), "taker_side"),
    (lambda ex: ex.depth_to_price(BUY, 1_000_000.5), "target"),
    (lambda ex: ex.recent_trades(-1), "n"),
    (lambda ex: ex.recent_trades(2.5), "n"),
    (lambda ex: ex.to_ticks("100"), "price"),
    (lambda ex: ex.to_ticks(None), "price"),
    (lambda ex: ex.set_leverage(0, "5"), "leverage"),
    (lambda ex: ex.open_accounts("1", 1.0, 1.0), "n"),
    (lambda ex: ex.open_accounts(1, "1", 1.0), "wallet"),
    (lambda ex: ex.open_accounts(1, 1.0, None), "leverage"),
    (lambda ex: ex.open_accounts(1, 1.0, 1.0, 0.0), "margin_mode"),
    (lambda ex: ex.begin_step("1", 100_000.0), "t_seconds"),
    (lambda ex: ex.begin_step(1.0, None), "index_price"),
    (lambda ex: ex.begin_step(1.0, 100_000.0, "1"), "dt_seconds"),
])
def test_public_helpers_raise_value_error_naming_the_argument(call, name):
    ex = make_exchange()
    ex.open_accounts(1, 100.0, 1.0)
    before = snapshot(ex)
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call(ex)
    assert changed_arrays(ex, before) == [] and ex.n_accounts == 1


def test_recent_trades_of_zero_is_empty(busy):
    ex, _, _ = busy
    assert len(ex.recent_trades(1)) == 1
    assert len(ex.recent_trades(0)) == 0  # a [-0:] slice used to return every trade


def test_recent_trades_span_drains_in_order_and_keep_the_last_thousand():
    """Fills drained over several steps come back oldest first; only the last 1,000 stay."""
    ex = make_exchange()
    a = open_account(ex, 1_000_000.0, 10.0)
    b = open_account(ex, 1_000_000.0, 10.0)
    prices = [100_000.0 + k for k in range(3)]
    for price in prices:  # one fill per drain, then an empty drain
        trade_at(ex, a, b, 1, price)
        assert len(ex.drain_fills()) == 1
        assert len(ex.drain_fills()) == 0
    assert (ex.recent_trades(3)["price"] == [ticks(p) for p in prices]).all()
    assert (ex.recent_trades(2)["price"] == [ticks(p) for p in prices[1:]]).all()
    for _ in range(1_100):  # 1,100 more one-lot trades at 99,000 (a buys, b sells)
        trade_at(ex, a, b, 1, 99_000.0)
    ex.drain_fills()
    kept = ex.recent_trades(5_000)
    assert len(kept) == 1_000
    assert (kept["price"] == ticks(99_000.0)).all()  # the first three are gone
