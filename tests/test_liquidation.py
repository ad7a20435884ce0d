"""The liquidation engine: trigger, IOC at the bankruptcy price, insurance fund, ADL, records.

Formulas (BTCUSDT first tier while LP x Q < 50,000 USD: MMR 0.4%, maintenance amount 0), with
Q = lots x 0.001 BTC, EP the entry price and WB the isolated margin (the wallet in cross mode):

* long:  LP = (Q*EP - WB) / (Q*(1 - 0.004)),  BP = EP - WB/Q
* short: LP = (Q*EP + WB) / (Q*(1 + 0.004)),  BP = EP + WB/Q
* surplus of the book fills = side x (fill value - BP x filled); clearance fee = 1.25% x Q x mark;
  the fund takes min(surplus, fee), the trader gets the rest.

Unless a test says otherwise the book holds no asks when ``begin_step`` runs, so the basis leg
is 0 and, with no funding rate yet, mark = median(index, index, last) = index.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.exchange.codes import (
    BUY,
    CROSS_MARGIN,
    FLAG_ADL,
    FLAG_LIQUIDATION,
    MARKET,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Status,
)
from sim.exchange.layouts import FILL_DTYPE, LIQUIDATION_DTYPE
from tests.exchange_builders import (
    make_exchange,
    no_fee_exchange,
    open_account,
    rest,
    step,
    ticks,
    trade_at,
)

# A 10x isolated long of 100 lots (0.1 BTC) at 100,000: notional 10,000, margin 1,000.
LONG_LP = (0.1 * 100_000 - 1_000) / (0.1 * 0.996)  # 9,000 / 0.0996 = 90,361.4458
LONG_BP = 100_000 - 1_000 / 0.1  # 90,000


def long_10x(ex, wallet=2_000.0):
    """Open a 10x isolated long of 100 lots at 100,000 against a 2x short; return (long, short)."""
    long_ = open_account(ex, wallet, 10.0)
    short = open_account(ex, 100_000.0, 2.0)
    trade_at(ex, long_, short, 100, 100_000.0)
    return long_, short


def only_record(ex):
    recs = ex.drain_liquidations()
    assert recs.dtype == LIQUIDATION_DTYPE
    assert len(recs) == 1
    return recs[0]


def test_isolated_long_liquidation_price_follows_the_formula_and_triggers_on_the_mark():
    ex = no_fee_exchange()
    long_, _ = long_10x(ex)
    step(ex, 1.0, 100_000.0)
    assert ex.account(long_).liquidation_price == pytest.approx(LONG_LP, rel=1e-12)
    report = step(ex, 2.0, LONG_LP + 0.5)
    assert report.liquidations == 0 and ex.account(long_).position_lots == 100
    report = step(ex, 3.0, LONG_LP - 0.5)
    assert report.liquidations == 1
    assert ex.account(long_).position_lots == 0
    assert ex.account(long_).n_liquidations == 1


def test_book_fill_above_bankruptcy_pays_surplus_to_fund_up_to_clearance_fee():
    ex = no_fee_exchange()
    long_, _ = long_10x(ex)
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 100, 90_200.0)
    report = step(ex, 1.0, 90_300.0)  # mark 90,300 <= LP 90,361.45
    assert report.liquidations == 1 and report.passes == 1
    # the IOC sells 100 lots at >= BP 90,000 and gets the 90,200 bid:
    surplus = 0.1 * (90_200 - 90_000)  # 20
    fee = 0.0125 * 0.1 * 90_300  # 112.875 > 20: all of it to the fund
    assert ex.insurance_fund == pytest.approx(surplus)
    a = ex.account(long_)
    assert a.wallet == pytest.approx(2_000.0 - 1_000.0)  # loses exactly its margin
    assert a.realized_pnl == pytest.approx(-1_000.0)
    assert a.position_margin == 0.0 and np.isnan(a.liquidation_price)
    b = ex.account(bidder)
    assert b.position_lots == 100 and b.entry_price == pytest.approx(90_200.0)
    rec = only_record(ex)
    assert (rec["account"], rec["side"], rec["qty"]) == (long_, 1, 100)
    assert rec["entry_price"] == pytest.approx(100_000.0)
    assert rec["liq_price"] == pytest.approx(LONG_LP)
    assert rec["bankruptcy_price"] == pytest.approx(LONG_BP)
    assert rec["mark"] == pytest.approx(90_300.0)
    assert rec["trigger_price"] == pytest.approx(90_300.0)
    assert rec["fill_price"] == pytest.approx(90_200.0)
    assert rec["insurance_delta"] == pytest.approx(surplus)
    assert fee > surplus
    assert rec["adl_qty"] == 0 and not rec["adl"]
    assert rec["trigger_pass"] == 1 and rec["t"] == 1.0
    assert ex.invariants()["money_conserved"]


def test_surplus_beyond_clearance_fee_goes_back_to_the_trader_who_pays_no_taker_fee():
    ex = make_exchange()  # default fees
    long_, _ = long_10x(ex)  # long pays 10,000 x 0.05% = 5, the short 10,000 x 0.02% = 2
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 100, 92_000.0)
    step(ex, 1.0, 90_300.0)
    surplus = 0.1 * (92_000 - 90_000)  # 200
    fee = 0.0125 * 0.1 * 90_300  # 112.875
    refund = surplus - fee  # 87.125
    a = ex.account(long_)
    assert a.position_lots == 0
    assert a.fees == pytest.approx(5.0)  # no taker fee on the liquidation
    assert a.wallet == pytest.approx(2_000.0 - 5.0 - 1_000.0 + refund)
    assert ex.insurance_fund == pytest.approx(fee)
    # the bidder was a maker: 9,200 USD x 0.02%
    assert ex.account(bidder).fees == pytest.approx(9_200.0 * 0.0002)
    assert only_record(ex)["insurance_delta"] == pytest.approx(fee)
    assert ex.invariants()["money_conserved"]


def test_fund_closes_the_ioc_remainder_at_market_when_it_can_pay_the_deficit():
    ex = no_fee_exchange(insurance_fund=1_000.0)
    long_, _ = long_10x(ex)
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 60, 90_100.0)
    rest(ex, bidder, BUY, 100, 89_950.0)
    step(ex, 1.0, 90_300.0)
    # IOC: 60 lots at 90,100 (surplus 0.06 x 100 = 6); 40 left, which the fund sells at
    # 89,950: deficit 0.04 x (90,000 - 89,950) = 2 <= 1,000 + 6
    surplus = 6.0 - 2.0
    assert ex.insurance_fund == pytest.approx(1_000.0 + surplus)  # 4 < fee 112.875
    rec = only_record(ex)
    assert rec["insurance_delta"] == pytest.approx(surplus)
    assert rec["fill_price"] == pytest.approx((60 * 90_100 + 40 * 89_950) / 100)  # 90,040
    assert rec["adl_qty"] == 0
    assert ex.account(bidder).position_lots == 60 + 40
    assert ex.depth(BUY)[1].tolist() == [100 - 40]  # what the fund left of the 89,950 bid
    assert ex.account(long_).wallet == pytest.approx(1_000.0)
    assert ex.invariants()["money_conserved"]


def test_fund_pays_a_deficit_out_of_its_balance():
    ex = no_fee_exchange(insurance_fund=500.0)
    long_, _ = long_10x(ex)
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 100, 89_000.0)
    step(ex, 1.0, 90_300.0)
    deficit = 0.1 * (90_000 - 89_000)  # 100 <= 500
    assert ex.insurance_fund == pytest.approx(500.0 - deficit)
    assert only_record(ex)["insurance_delta"] == pytest.approx(-deficit)
    assert ex.account(bidder).position_lots == 100
    assert ex.account(long_).wallet == pytest.approx(1_000.0)
    assert ex.invariants()["money_conserved"]


@pytest.mark.parametrize("fund", [0.0, 99.0])
def test_remainder_is_auto_deleveraged_when_the_fund_cannot_pay(fund):
    ex = no_fee_exchange(insurance_fund=fund)
    long_, short = long_10x(ex)
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 100, 89_000.0)  # deficit 0.1 x (90,000 - 89,000) = 100 > fund
    step(ex, 1.0, 90_300.0)
    rec = only_record(ex)
    assert rec["adl"] and rec["adl_qty"] == 100
    assert rec["fill_price"] == pytest.approx(LONG_BP)
    assert rec["insurance_delta"] == 0.0
    assert ex.insurance_fund == fund
    # the only short buys back its 100 lots at BP: realized 0.1 x (100,000 - 90,000) = 1,000
    s = ex.account(short)
    assert s.position_lots == 0
    assert s.realized_pnl == pytest.approx(1_000.0)
    assert s.fees == 0.0  # ADL trades carry no fee
    assert ex.account(bidder).position_lots == 0 and ex.depth(BUY)[1].tolist() == [100]
    assert ex.invariants()["money_conserved"]


def test_adl_ranks_counterparties_by_pnl_percent_times_effective_leverage():
    ex = no_fee_exchange()
    long_ = open_account(ex, 2_000.0, 10.0)
    long2 = open_account(ex, 10_000.0, 2.0)
    big = open_account(ex, 10_000.0, 5.0)  # short 120 lots at 5x: margin 2,400
    thin = open_account(ex, 10_000.0, 50.0)  # short 30 lots at 50x: margin 60
    trade_at(ex, long_, big, 100, 100_000.0)
    trade_at(ex, long2, big, 20, 100_000.0)
    trade_at(ex, long2, thin, 30, 100_000.0)
    report = step(ex, 1.0, 90_000.0)  # empty book, empty fund: all 100 lots are ADL'd
    assert report.liquidations == 1
    # at mark 90,000 both shorts have PnL% = 10,000 / 100,000 = 0.1
    # big:  upnl 0.12 x 10,000 = 1,200; eff. lev. 0.12 x 90,000 / (2,400 + 1,200) = 3
    # thin: upnl 0.03 x 10,000 = 300;   eff. lev. 0.03 x 90,000 / (60 + 300) = 7.5
    # scores 0.3 and 0.75: thin goes first (30 lots), big gives the other 70
    assert ex.account(thin).position_lots == 0
    assert ex.account(big).position_lots == -120 + 70
    assert ex.account(thin).realized_pnl == pytest.approx(0.03 * 10_000)
    assert ex.account(big).realized_pnl == pytest.approx(0.07 * 10_000)
    assert ex.account(big).position_margin == pytest.approx(2_400.0 * 50 / 120)
    assert ex.account(long2).position_lots == 50
    fills = ex.drain_fills()
    adl = fills[(fills["flags"] & FLAG_ADL) != 0]
    assert adl.dtype == FILL_DTYPE
    assert adl["maker_account"].tolist() == [thin, big]
    assert adl["qty"].tolist() == [30, 70]
    assert adl["price"].tolist() == [ticks(LONG_BP)] * 2
    assert (adl["flags"] & FLAG_LIQUIDATION).all()
    assert adl["taker_account"].tolist() == [long_, long_]
    assert only_record(ex)["adl_qty"] == 100
    assert ex.invariants()["long_oi_equals_short_oi"]
    assert ex.invariants()["money_conserved"]


def test_adl_takes_profitable_counterparties_before_losing_ones_whatever_their_leverage():
    ex = no_fee_exchange()
    long_ = open_account(ex, 2_000.0, 10.0)  # LP 90,361.45, BP 90,000
    winner = open_account(ex, 100_000.0, 2.0)  # short 100 at 100,000, margin 5,000
    other_long = open_account(ex, 100_000.0, 1.0)
    loser = open_account(ex, 100_000.0, 5.0)  # short 100 at 85,000, margin 1,700
    trade_at(ex, long_, winner, 100, 100_000.0)
    trade_at(ex, other_long, loser, 100, 85_000.0)
    step(ex, 1.0, 90_000.0)  # mark = median(90,000, 90,000, last 85,000) = 90,000
    # winner: PnL% = 0.1 x 10,000 / 10,000 = 0.1, eff. lev. 9,000 / 6,000 = 1.5: score 0.15
    # loser:  PnL% = -0.1 x 5,000 / 8,500 = -0.0588, eff. lev. 9,000 / 1,200 = 7.5:
    #         score -0.0588 / 7.5 < 0 (a loss is divided, not multiplied, by the leverage)
    assert ex.account(long_).position_lots == 0
    assert ex.account(winner).position_lots == 0
    assert ex.account(loser).position_lots == -100
    assert only_record(ex)["adl_qty"] == 100


def test_liquidation_cancels_the_accounts_orders_and_stops():
    ex = no_fee_exchange()
    long_, _ = long_10x(ex)
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 100, 90_200.0)
    rest(ex, long_, BUY, 10, 85_000.0)  # (no resting ask: it would move the mark's basis leg)
    for trigger, price in ((TRIGGER_MARK, 80_000.0), (TRIGGER_LAST, 95_000.0)):
        res = ex.submit(long_, SELL, STOP_MARKET, 100, ticks(price), trigger=trigger,
                        reduce_only=True)
        assert res.status == Status.OK
    assert len(ex.open_orders(long_)) == 3
    step(ex, 1.0, 90_300.0)
    assert ex.account(long_).position_lots == 0
    assert ex.open_orders(long_) == []
    assert ex.depth(BUY)[0].tolist() == []  # the bidder's 90,200 was taken, 85,000 cancelled
    # the cancelled stops never fire: nothing traded after the liquidation's one fill
    fills = ex.drain_fills()
    assert fills["flags"].tolist()[-1] == FLAG_LIQUIDATION and fills["qty"].tolist()[-1] == 100
    assert ex.account(bidder).position_lots == 100


def test_short_liquidation_buys_at_or_below_bankruptcy_price():
    ex = no_fee_exchange()
    short = open_account(ex, 2_000.0, 20.0)  # margin 10,000 / 20 = 500
    long_ = open_account(ex, 100_000.0, 2.0)
    trade_at(ex, long_, short, 100, 100_000.0)
    lp = (0.1 * 100_000 + 500) / (0.1 * 1.004)  # 10,500 / 0.1004 = 104,581.67
    bp = 100_000 + 500 / 0.1  # 105,000
    step(ex, 1.0, 100_000.0)
    assert ex.account(short).liquidation_price == pytest.approx(lp, rel=1e-12)
    seller = open_account(ex, 100_000.0, 10.0)
    rest(ex, seller, SELL, 100, 104_800.0)
    assert step(ex, 2.0, lp - 0.5).liquidations == 0
    report = step(ex, 3.0, 104_700.0)  # book holds asks only: mark = index = 104,700 >= LP
    assert report.liquidations == 1
    surplus = -1 * (0.1 * 104_800 - 0.1 * bp)  # 20
    assert ex.insurance_fund == pytest.approx(surplus)  # fee 0.0125 x 0.1 x 104,700 = 130.9
    rec = only_record(ex)
    assert rec["side"] == -1 and rec["bankruptcy_price"] == pytest.approx(bp)
    assert rec["fill_price"] == pytest.approx(104_800.0)
    assert ex.account(seller).position_lots == -100
    assert ex.account(short).wallet == pytest.approx(2_000.0 - 500.0)
    assert ex.invariants()["money_conserved"]


def test_last_price_trigger_ignores_the_mark_and_fires_on_a_trade():
    ex = no_fee_exchange(liquidation_trigger=TRIGGER_LAST)
    long_, _ = long_10x(ex)
    bidder = open_account(ex, 100_000.0, 10.0)
    rest(ex, bidder, BUY, 100, 90_100.0)
    report = step(ex, 1.0, 90_000.0)
    assert ex.mark_price == pytest.approx(90_000.0)  # mark is below LP 90,361.45 ...
    assert report.liquidations == 0  # ... but the last price is still 100,000
    x = open_account(ex, 100_000.0, 10.0)
    y = open_account(ex, 100_000.0, 10.0)
    trade_at(ex, x, y, 1, 90_300.0)  # last = 90,300 <= LP
    report = ex.settle()
    assert report.liquidations == 1
    rec = only_record(ex)
    assert rec["trigger_price"] == pytest.approx(90_300.0)
    assert rec["mark"] == pytest.approx(90_000.0)
    # fee 0.0125 x 0.1 x 90,000 = 112.5 > surplus 0.1 x (90,100 - 90,000) = 10
    assert rec["insurance_delta"] == pytest.approx(10.0)


def test_cross_account_is_liquidated_exactly_when_equity_falls_below_maintenance():
    ex = no_fee_exchange()
    cross = open_account(ex, 1_500.0, 10.0, CROSS_MARGIN)
    short = open_account(ex, 100_000.0, 2.0)
    trade_at(ex, cross, short, 100, 100_000.0)
    # equity = 1,500 + 0.1 x (p - 100,000); maintenance = 0.004 x 0.1 x p
    # equal at p* = (10,000 - 1,500) / (0.1 x 0.996) = 85,341.37 (isolated it would be 90,361)
    p_star = (0.1 * 100_000 - 1_500) / (0.1 * 0.996)
    step(ex, 1.0, 100_000.0)
    assert ex.account(cross).liquidation_price == pytest.approx(p_star, rel=1e-12)

    def equity_minus_maintenance():
        a = ex.account(cross)
        return a.wallet + a.unrealized_pnl - 0.004 * 0.1 * ex.mark_price

    assert step(ex, 2.0, 90_000.0).liquidations == 0  # an isolated 10x long would be gone
    assert step(ex, 3.0, p_star + 0.5).liquidations == 0
    assert equity_minus_maintenance() > 0
    ex.begin_step(4.0, p_star - 0.5)
    assert equity_minus_maintenance() < 0
    assert ex.settle().liquidations == 1
    # cross: the whole wallet backs the position: BP = 100,000 - 1,500 / 0.1 = 85,000
    rec = only_record(ex)
    assert rec["bankruptcy_price"] == pytest.approx(85_000.0)
    assert ex.account(cross).wallet == pytest.approx(0.0, abs=1e-9)
    # empty book and fund: the short is deleveraged at 85,000: 0.1 x 15,000 = 1,500
    assert ex.account(short).realized_pnl == pytest.approx(1_500.0)
    assert ex.invariants()["money_conserved"]


def test_mark_trigger_ignores_the_last_price():
    ex = no_fee_exchange()
    long_, _ = long_10x(ex)
    bidder = open_account(ex, 100_000.0, 10.0)
    step(ex, 1.0, 100_000.0)
    rest(ex, bidder, BUY, 10, 90_100.0)
    seller = open_account(ex, 100_000.0, 1.0)  # 1x: its new short is far from liquidation
    ex.submit(seller, SELL, MARKET, 10)  # a market sell prints 90,100 < LP
    assert ex.last_price == pytest.approx(90_100.0)
    report = ex.settle()
    assert report.liquidations == 0  # mark = median(100,000, 100,000, 90,100) = 100,000
    assert ex.account(long_).position_lots == 100


def test_each_liquidation_appends_a_record_and_drain_clears_them():
    ex = no_fee_exchange()
    a, _ = long_10x(ex)
    b, _ = long_10x(ex)
    step(ex, 1.0, 90_000.0)
    recs = ex.drain_liquidations()
    assert sorted(recs["account"].tolist()) == [a, b]
    assert len(ex.drain_liquidations()) == 0
    assert ex.account(a).n_liquidations == 1 and ex.account(b).n_liquidations == 1
