"""Funding: premium samples, weighted average, clamp and cap, settlement, and its margin effect.

Binance: premium = (max(0, impact bid - index) - max(0, index - impact ask)) / index, sampled
every step; over an interval the samples are averaged with weights 1, 2, ..., n; the rate is
P + clamp(0.01% - P, -0.05%, +0.05%), capped at +-0.3%; at each funding time (every 8 h) a
position pays size x mark x rate, longs to shorts when positive. An isolated position pays out of
its margin, so its liquidation price moves.

The impact notional is 25,000 USD; at ~100,000 USD that is 250 lots, so the 300-lot quotes below
set the impact prices and a 100-lot bid is too thin (its side then counts as the index).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.exchange.codes import BUY, CROSS_MARGIN, SELL
from sim.exchange.layouts import FUNDING_DTYPE
from tests.exchange_builders import no_fee_exchange, open_account, rest, step, trade_at

INTERVAL = 8 * 3600.0


def positions(ex):
    """Long 100 lots isolated 10x (margin 1,000) and short 100 lots isolated 2x at 100,000."""
    long_ = open_account(ex, 2_000.0, 10.0)
    short = open_account(ex, 100_000.0, 2.0)
    trade_at(ex, long_, short, 100, 100_000.0)
    return long_, short


def quote(ex, bid, ask, lots=300):
    maker = open_account(ex, 1_000_000.0, 10.0)
    rest(ex, maker, BUY, lots, bid)
    rest(ex, maker, SELL, lots, ask)
    return maker


def test_premium_average_weights_later_samples_more_and_settles_on_mark_notional():
    ex = no_fee_exchange()
    long_, short = positions(ex)
    maker = quote(ex, 100_100.0, 100_200.0)
    ex.begin_step(1.0, 100_000.0)
    p1 = (100_100 - 100_000) / 100_000  # impact bid above the index; ask side adds nothing
    assert ex.premium == pytest.approx(p1)
    ex.settle()
    ex.begin_step(INTERVAL, 100_050.0)
    p2 = (100_100 - 100_050) / 100_050
    assert ex.premium == pytest.approx(p2)
    avg = (1 * p1 + 2 * p2) / 3  # 0.000666...
    rate = avg + max(-0.0005, min(0.0005, 0.0001 - avg))  # clamp binds: avg - 0.0005
    assert rate == pytest.approx(avg - 0.0005)
    unweighted = (p1 + p2) / 2 - 0.0005
    assert not math.isclose(rate, unweighted, rel_tol=1e-3)
    assert ex.predicted_funding_rate == pytest.approx(rate, rel=1e-12)
    report = ex.settle()
    assert report.funding_settled and report.liquidations == 0
    assert ex.funding_rate == pytest.approx(rate, rel=1e-12)
    # mark = median(100,050 x (1 + 0 x 0), 100,050 + MA(150, 100) = 100,175, last 100,000)
    mark = 100_050.0
    assert ex.mark_price == pytest.approx(mark)
    paid = 0.1 * mark * rate
    a, s = ex.account(long_), ex.account(short)
    assert a.funding == pytest.approx(paid, rel=1e-12)
    assert s.funding == pytest.approx(-paid, rel=1e-12)
    assert a.wallet == pytest.approx(2_000.0 - paid, rel=1e-12)
    assert s.wallet == pytest.approx(100_000.0 + paid, rel=1e-12)
    # isolated margins move by the payment, and so do the liquidation prices
    assert a.position_margin == pytest.approx(1_000.0 - paid, rel=1e-12)
    assert s.position_margin == pytest.approx(5_000.0 + paid, rel=1e-12)
    assert a.liquidation_price == pytest.approx((10_000 - (1_000 - paid)) / (0.1 * 0.996))
    assert s.liquidation_price == pytest.approx((10_000 + (5_000 + paid)) / (0.1 * 1.004))
    assert ex.account(maker).funding == 0.0
    hist = ex.funding_history()
    assert hist.dtype == FUNDING_DTYPE and len(hist) == 1
    assert hist["t"][0] == INTERVAL
    assert hist["premium_avg"][0] == pytest.approx(avg, rel=1e-12)
    assert hist["rate"][0] == pytest.approx(rate, rel=1e-12)
    assert hist["mark"][0] == pytest.approx(mark)
    assert hist["paid_by_longs"][0] == pytest.approx(paid, rel=1e-12)
    assert ex.invariants()["money_conserved"]


def test_small_premium_gives_the_interest_rate():
    ex = no_fee_exchange()
    long_, short = positions(ex)
    step(ex, 1.0, 100_000.0)  # empty book: both impact prices are the index, premium 0
    assert ex.premium == 0.0
    report = step(ex, INTERVAL, 100_000.0)
    assert report.funding_settled
    assert ex.funding_rate == 0.0001  # 0 + clamp(0.0001 - 0, +-0.0005), exactly
    assert ex.account(long_).funding == pytest.approx(0.1 * 100_000 * 0.0001)  # 1 USD
    assert ex.account(short).funding == pytest.approx(-1.0)


@pytest.mark.parametrize("bid, ask, sign", [
    (101_000.0, 101_100.0, 1),  # premium +1%: 0.01 - 0.0005 = 0.0095, capped at 0.003
    (98_900.0, 99_000.0, -1),  # premium -1%: -0.01 + 0.0005, capped at -0.003
])
def test_rate_is_capped_and_shorts_pay_longs_when_negative(bid, ask, sign):
    ex = no_fee_exchange()
    long_, short = positions(ex)
    quote(ex, bid, ask)
    step(ex, 1.0, 100_000.0)
    assert ex.premium == pytest.approx(sign * 0.01)
    # the mark stays 100,000: the index legs (100,000 and 100,000 + basis) bracket last 100,000
    step(ex, INTERVAL, 100_000.0)
    assert ex.funding_rate == pytest.approx(sign * 0.003)
    assert ex.account(long_).funding == pytest.approx(sign * 0.1 * 100_000 * 0.003)  # +-30
    assert ex.account(short).funding == pytest.approx(-sign * 30.0)
    assert ex.invariants()["money_conserved"]


def test_funding_is_settled_only_at_funding_times_and_the_average_restarts():
    ex = no_fee_exchange()
    long_, _ = positions(ex)
    quote(ex, 100_100.0, 100_200.0)  # premium 0.001 at index 100,000
    assert not step(ex, INTERVAL - 1.0, 100_000.0).funding_settled
    assert ex.account(long_).funding == 0.0
    assert step(ex, INTERVAL, 100_000.0).funding_settled
    assert ex.predicted_funding_rate == 0.0001  # no sample yet in the new interval
    assert not step(ex, 2 * INTERVAL - 1.0, 100_000.0).funding_settled
    assert step(ex, 2 * INTERVAL, 100_000.0).funding_settled
    assert len(ex.funding_history()) == 2
    # each interval: rate = 0.001 - 0.0005; mark = 100,000 (last) -> 0.1 x 100,000 x 0.0005 = 5
    assert ex.account(long_).funding == pytest.approx(2 * 5.0)


def test_cross_account_pays_from_the_wallet_and_keeps_its_position_margin():
    ex = no_fee_exchange()
    cross = open_account(ex, 2_000.0, 10.0, CROSS_MARGIN)
    short = open_account(ex, 100_000.0, 2.0)
    trade_at(ex, cross, short, 100, 100_000.0)
    step(ex, INTERVAL, 100_000.0)  # rate 0.0001: 1 USD
    a = ex.account(cross)
    assert a.wallet == pytest.approx(2_000.0 - 1.0)
    assert a.position_margin == pytest.approx(1_000.0)
    # the cross liquidation price uses the whole wallet: (10,000 - 1,999) / 0.0996
    assert a.liquidation_price == pytest.approx((10_000 - 1_999.0) / (0.1 * 0.996))


def test_funding_alone_liquidates_a_thin_isolated_long():
    # interest 0.3% inside a 0.3% dead zone: the rate is 0.3% whenever the premium is 0
    ex = no_fee_exchange(interest_rate=0.003, funding_clamp=0.003)
    long_ = open_account(ex, 1_000.0, 100.0)  # margin 100: LP 9,900 / 0.0996 = 99,397.59
    short = open_account(ex, 100_000.0, 2.0)
    trade_at(ex, long_, short, 100, 100_000.0)
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 100, 99_500.0)  # too thin to set an impact price: premium 0
    report = step(ex, INTERVAL - 1.0, 99_600.0)
    assert report.liquidations == 0 and ex.premium == 0.0
    assert ex.account(long_).liquidation_price == pytest.approx(9_900 / 0.0996)
    report = step(ex, INTERVAL, 99_600.0)
    assert report.funding_settled and report.liquidations == 1 and report.passes == 1
    paid = 0.1 * 99_600 * 0.003  # 29.88 -> margin 70.12
    margin = 100.0 - paid
    lp = (10_000 - margin) / (0.1 * 0.996)  # 99,697.59 >= mark 99,600
    bp = 100_000 - margin / 0.1  # 99,298.8
    rec = ex.drain_liquidations()[0]
    assert rec["account"] == long_
    assert rec["liq_price"] == pytest.approx(lp)
    assert rec["bankruptcy_price"] == pytest.approx(bp)
    # IOC sells 100 at 99,500: surplus 0.1 x (99,500 - 99,298.8) = 20.12 < fee 124.5
    assert rec["insurance_delta"] == pytest.approx(0.1 * (99_500 - bp))
    assert ex.account(long_).wallet == pytest.approx(1_000.0 - paid - margin)
    assert ex.account(short).funding == pytest.approx(-paid)
    assert ex.invariants()["money_conserved"]


def test_funding_that_drains_isolated_margin_below_zero_keeps_money_conserved():
    ex = no_fee_exchange(interest_rate=0.003, funding_clamp=0.003)
    long_ = open_account(ex, 10_000.0, 125.0)  # margin 10,000 / 125 = 80
    short = open_account(ex, 100_000.0, 2.0)
    trade_at(ex, long_, short, 100, 100_000.0)
    for k in (1, 2, 3):  # each settlement at mark 110,000 costs 0.1 x 110,000 x 0.3% = 33
        assert step(ex, k * INTERVAL, 110_000.0).liquidations == 0
    margin = 80.0 - 3 * 33.0  # -19
    a = ex.account(long_)
    assert a.position_margin == pytest.approx(margin)
    # the liquidation price uses the isolated margin as it is: (10,000 + 19) / 0.0996
    lp = (10_000 - margin) / (0.1 * 0.996)  # 100,592.37
    assert a.liquidation_price == pytest.approx(lp)
    assert step(ex, 3 * INTERVAL + 1.0, 100_000.0).liquidations == 1
    rec = ex.drain_liquidations()[0]
    bp = 100_000 - margin / 0.1  # 100,190: where the margin balance -19 + 0.1 x 190 is 0
    assert rec["bankruptcy_price"] == pytest.approx(bp)
    assert rec["adl_qty"] == 100  # empty book and fund
    assert ex.account(short).position_lots == 0
    assert ex.account(long_).realized_pnl == pytest.approx(0.1 * (bp - 100_000))
    inv = ex.invariants()
    assert inv["money_conserved"], inv["money_drift_usd"]
    assert np.isnan(ex.account(long_).liquidation_price)


def test_a_step_over_three_funding_times_settles_each_of_them():
    ex = no_fee_exchange()
    long_, short = positions(ex)
    quote(ex, 100_100.0, 100_200.0)  # premium 0.001 at index 100,000
    report = step(ex, 3 * INTERVAL, 100_000.0)  # one step from t=0 over 8 h, 16 h and 24 h
    assert report.funding_settled and report.liquidations == 0
    hist = ex.funding_history()
    assert hist["t"].tolist() == [INTERVAL, 2 * INTERVAL, 3 * INTERVAL]
    # The step's one premium sample (0.001) goes to the first settlement:
    #   0.001 + clamp(0.0001 - 0.001, +-0.0005) = 0.0005;
    # the next two intervals have no sample: premium 0, rate = the interest term 0.0001.
    assert hist["premium_avg"].tolist() == pytest.approx([0.001, 0.0, 0.0])
    assert hist["rate"].tolist() == pytest.approx([0.0005, 0.0001, 0.0001])
    # mark = median(100,000 x (1 + rate x 0 left to funding), 100,000 + basis 150, last 100,000)
    assert hist["mark"].tolist() == [100_000.0] * 3
    # each payment is 0.1 BTC x 100,000 x rate: 5, then 1, then 1
    assert hist["paid_by_longs"].tolist() == pytest.approx([5.0, 1.0, 1.0])
    assert ex.account(long_).funding == pytest.approx(7.0)
    assert ex.account(short).funding == pytest.approx(-7.0)
    assert ex.invariants()["money_conserved"]
    # the schedule goes on from 32 h, not from the step's time
    assert not step(ex, 3 * INTERVAL + 1.0, 100_000.0).funding_settled
    assert step(ex, 4 * INTERVAL, 100_000.0).funding_settled
    assert len(ex.funding_history()) == 4


def test_a_position_liquidated_by_one_funding_does_not_pay_the_next():
    # interest 0.3% inside a 0.3% dead zone: the rate is 0.3% whenever the premium is 0
    ex = no_fee_exchange(interest_rate=0.003, funding_clamp=0.003)
    long_ = open_account(ex, 1_000.0, 100.0)  # margin 100: LP 9,900 / 0.0996 = 99,397.59
    short = open_account(ex, 100_000.0, 2.0)
    trade_at(ex, long_, short, 100, 100_000.0)
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 100, 99_500.0)  # too thin to set an impact price: premium 0
    report = step(ex, 2 * INTERVAL, 99_600.0)  # one step over 8 h and 16 h
    assert report.funding_settled and report.liquidations == 1
    # mark 99,600 both times: median(index 99,600, index + basis 0, last 100,000 then 99,500)
    paid = 0.1 * 99_600 * 0.003  # 29.88 a settlement
    # 8 h: the long pays 29.88 -> margin 70.12 -> LP (10,000 - 70.12) / 0.0996 = 99,697.59
    # >= mark, so it is liquidated into the 99,500 bid before 16 h; the bidder, now long
    # 100, pays the 16 h settlement instead.
    assert ex.account(long_).funding == pytest.approx(paid)
    assert ex.account(long_).position_lots == 0
    assert ex.account(bidder).position_lots == 100
    assert ex.account(bidder).funding == pytest.approx(paid)
    assert ex.account(short).funding == pytest.approx(-2 * paid)
    hist = ex.funding_history()
    assert hist["t"].tolist() == [INTERVAL, 2 * INTERVAL]
    assert hist["paid_by_longs"].tolist() == pytest.approx([paid, paid])
    assert ex.invariants()["money_conserved"]
