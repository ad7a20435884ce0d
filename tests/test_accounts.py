"""Fill settlement on margin accounts: entry price, realized PnL, fees, position margin, OI.

Every expected number is worked out from the rules (Binance USDⓈ-M one-way mode):
entry = size-weighted average on increase, unchanged on reduce, the fill price after a flip;
realized = closed lots x 0.001 x (price - entry) x sign; fee = notional x rate (maker 0.02%,
taker 0.05%); isolated margin += notional / leverage on increase, released pro rata on reduce.
"""

from __future__ import annotations

import pytest

from sim.exchange.codes import BUY, CROSS_MARGIN, LIMIT, MARKET, SELL, Status
from sim.exchange.layouts import X_FEES_COLLECTED
from tests.exchange_builders import make_exchange, open_account, rest, ticks, trade_at

MAKER = 0.0002
TAKER = 0.0005


@pytest.fixture
def ex():
    return make_exchange()


def test_entry_price_is_size_weighted_average_on_increase(ex):
    maker = open_account(ex, 100_000.0, 10.0)
    trader = open_account(ex, 10_000.0, 10.0)
    rest(ex, maker, SELL, 30, 100_000.0)
    rest(ex, maker, SELL, 10, 100_400.0)
    res = ex.submit(trader, BUY, MARKET, 40)
    assert res.status == Status.OK and res.filled == 40
    a = ex.account(trader)
    # (30 x 100,000 + 10 x 100,400) / 40 = 100,100
    assert a.position_lots == 40
    assert a.entry_price == pytest.approx(100_100.0, rel=1e-12)
    # margin: 0.030 BTC x 100,000 / 10 + 0.010 BTC x 100,400 / 10 = 300 + 100.4
    assert a.position_margin == pytest.approx(400.4, rel=1e-12)
    # taker fee on 3,000 + 1,004 USD of notional
    assert a.fees == pytest.approx(4_004.0 * TAKER, rel=1e-12)
    assert a.wallet == pytest.approx(10_000.0 - 4_004.0 * TAKER, rel=1e-12)
    assert a.realized_pnl == 0.0


def test_reduce_keeps_entry_realizes_pnl_and_releases_margin_pro_rata(ex):
    maker = open_account(ex, 100_000.0, 10.0)
    trader = open_account(ex, 10_000.0, 10.0)
    rest(ex, maker, SELL, 30, 100_000.0)
    rest(ex, maker, SELL, 10, 100_400.0)
    ex.submit(trader, BUY, MARKET, 40)  # long 40 at 100,100, margin 400.4
    rest(ex, maker, BUY, 20, 100_600.0)
    res = ex.submit(trader, SELL, MARKET, 20)
    assert res.filled == 20
    a = ex.account(trader)
    assert a.position_lots == 20
    assert a.entry_price == pytest.approx(100_100.0, rel=1e-12)
    # realized = 20 x 0.001 x (100,600 - 100,100) = 10
    assert a.realized_pnl == pytest.approx(10.0, rel=1e-12)
    # half the position closed: 400.4 x 20 / 40
    assert a.position_margin == pytest.approx(200.2, rel=1e-12)
    fees = (4_004.0 + 0.020 * 100_600.0) * TAKER
    assert a.fees == pytest.approx(fees, rel=1e-12)
    assert a.wallet == pytest.approx(10_000.0 - fees + 10.0, rel=1e-12)


def test_flip_realizes_the_closed_part_and_resets_entry_to_fill_price(ex):
    maker = open_account(ex, 100_000.0, 10.0)
    trader = open_account(ex, 10_000.0, 10.0)
    trade_at(ex, trader, maker, 20, 100_100.0)  # trader long 20 at 100,100
    rest(ex, maker, BUY, 50, 100_200.0)
    res = ex.submit(trader, SELL, MARKET, 50)
    assert res.filled == 50
    a = ex.account(trader)
    assert a.position_lots == -30
    # closes 20: 20 x 0.001 x (100,200 - 100,100) = 2; opens 30 short at the fill price
    assert a.realized_pnl == pytest.approx(2.0, rel=1e-12)
    assert a.entry_price == pytest.approx(100_200.0, rel=1e-12)
    # new margin covers the opened part only: 0.030 x 100,200 / 10 = 300.6
    assert a.position_margin == pytest.approx(300.6, rel=1e-12)


def test_short_realizes_positive_pnl_when_price_falls(ex):
    maker = open_account(ex, 100_000.0, 10.0)
    trader = open_account(ex, 10_000.0, 5.0)
    trade_at(ex, maker, trader, 10, 100_000.0, maker_side=BUY)  # trader sells 10 as taker
    a = ex.account(trader)
    assert a.position_lots == -10 and a.entry_price == pytest.approx(100_000.0)
    # margin at 5x: 0.010 x 100,000 / 5 = 200
    assert a.position_margin == pytest.approx(200.0, rel=1e-12)
    trade_at(ex, trader, maker, 10, 99_000.0)  # buys back as taker
    a = ex.account(trader)
    # closed 10 x 0.001 x (99,000 - 100,000) x (-1) = +10
    assert a.position_lots == 0
    assert a.realized_pnl == pytest.approx(10.0, rel=1e-12)
    assert a.entry_price == 0.0 and a.position_margin == 0.0
    fees = (1_000.0 + 990.0) * TAKER
    assert a.wallet == pytest.approx(10_000.0 + 10.0 - fees, rel=1e-12)


def test_maker_pays_maker_rate_taker_pays_taker_rate_and_exchange_collects_both(ex):
    maker = open_account(ex, 100_000.0, 10.0)
    taker = open_account(ex, 10_000.0, 10.0)
    trade_at(ex, taker, maker, 100, 100_000.0)
    notional = 100 * 0.001 * 100_000.0  # 10,000 USD
    assert ex.account(maker).fees == pytest.approx(notional * MAKER)  # 2
    assert ex.account(taker).fees == pytest.approx(notional * TAKER)  # 5
    assert ex.account(maker).wallet == pytest.approx(100_000.0 - 2.0)
    assert ex.account(taker).wallet == pytest.approx(10_000.0 - 5.0)
    assert ex.ex_f[X_FEES_COLLECTED] == pytest.approx(7.0)


def test_isolated_margin_is_notional_over_leverage_for_each_side(ex):
    long_ = open_account(ex, 10_000.0, 20.0)
    short = open_account(ex, 10_000.0, 4.0)
    trade_at(ex, long_, short, 50, 100_000.0)
    # 0.05 BTC x 100,000 = 5,000 USD: 5,000 / 20 = 250 and 5,000 / 4 = 1,250
    assert ex.account(long_).position_margin == pytest.approx(250.0)
    assert ex.account(short).position_margin == pytest.approx(1_250.0)
    assert ex.account(long_).available == pytest.approx(10_000.0 - 5_000.0 * TAKER - 250.0)


def test_open_interest_counts_long_lots_and_equals_short_lots(ex):
    accts = [open_account(ex, 50_000.0, 10.0) for _ in range(4)]
    a, b, c, d = accts
    trade_at(ex, a, b, 30, 100_000.0)  # a +30, b -30
    trade_at(ex, c, d, 20, 100_000.0)  # c +20, d -20
    trade_at(ex, b, a, 10, 100_000.0)  # a +20, b -20
    assert ex.open_interest == 40  # longs 20 + 20
    inv = ex.invariants()
    assert inv["long_oi_equals_short_oi"] and inv["oi_tracking_matches_accounts"]
    trade_at(ex, d, a, 20, 100_000.0)  # d flat, a flat -> longs: c 20
    assert ex.open_interest == 20
    assert [ex.account(x).position_lots for x in accts] == [0, -20, 20, 0]


def test_resting_maker_is_settled_when_a_later_taker_hits_it(ex):
    maker = open_account(ex, 100_000.0, 10.0)
    taker = open_account(ex, 10_000.0, 10.0)
    rest(ex, maker, BUY, 30, 99_500.0)
    assert ex.account(maker).position_lots == 0
    res = ex.submit(taker, SELL, LIMIT, 50, ticks(99_500.0))
    assert res.filled == 30  # 20 rest on the ask
    assert ex.account(maker).position_lots == 30
    assert ex.account(maker).entry_price == pytest.approx(99_500.0)
    assert ex.account(taker).position_lots == -30
    # the taker pays taker fee on 2,985 USD; its resting remainder pays nothing yet
    assert ex.account(taker).fees == pytest.approx(0.03 * 99_500.0 * TAKER)


def test_cross_account_tracks_position_margin_like_isolated(ex):
    maker = open_account(ex, 100_000.0, 10.0)
    trader = open_account(ex, 10_000.0, 25.0, CROSS_MARGIN)
    trade_at(ex, trader, maker, 100, 100_000.0)
    a = ex.account(trader)
    assert a.margin_mode == CROSS_MARGIN
    assert a.position_margin == pytest.approx(10_000.0 / 25.0)  # 400
    assert a.wallet == pytest.approx(10_000.0 - 10_000.0 * TAKER)


def test_money_is_conserved_by_trading(ex):
    accts = [open_account(ex, 20_000.0, 10.0) for _ in range(3)]
    trade_at(ex, accts[0], accts[1], 40, 100_000.0)
    trade_at(ex, accts[2], accts[0], 25, 100_300.0)
    trade_at(ex, accts[1], accts[2], 60, 99_800.0)
    wallets = sum(ex.account(a).wallet for a in accts)
    upnl = sum(ex.account(a).unrealized_pnl for a in accts)
    fees = sum(ex.account(a).fees for a in accts)
    assert wallets + upnl + fees == pytest.approx(60_000.0, rel=1e-12)
    assert ex.invariants()["money_conserved"]
