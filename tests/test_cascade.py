"""Liquidation cascades: a ladder of leveraged longs over a thin bid book.

Four isolated longs of 100 lots (0.1 BTC) bought at 100,000 at 100x, 50x, 25x and 10x hold
margins of 100, 200, 400 and 1,000 USD, so (first tier, MMR 0.4%):

    LP = (10,000 - m) / (0.1 x 0.996):  99,397.59  98,393.57  96,385.54  90,361.45
    BP = 100,000 - m / 0.1:             99,000     98,000     96,000     90,000

With ``liquidation_trigger=TRIGGER_LAST`` each liquidation's fills move the last price, and the
trigger loop's next pass sees it: one liquidation's fills push the price through the next
liquidation price, pass after pass.
"""

from __future__ import annotations

import pytest

from sim.exchange.codes import (
    BUY,
    FLAG_ADL,
    FLAG_LIQUIDATION,
    FLAG_STOP,
    MARKET,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    Status,
)
from tests.exchange_builders import (
    make_exchange,
    no_fee_exchange,
    open_account,
    rest,
    step,
    ticks,
    trade_at,
)

LEVERAGES = (100.0, 50.0, 25.0, 10.0)
MARGINS = tuple(10_000.0 / lev for lev in LEVERAGES)  # 100, 200, 400, 1,000
LPS = tuple((10_000.0 - m) / (0.1 * 0.996) for m in MARGINS)
BPS = tuple(100_000.0 - m / 0.1 for m in MARGINS)

# Bids (price, lots) that a liquidation of each rung meets, highest first:
#   99,300 x 10: the push (a 10-lot market sell prints 99,300 <= LP 99,397.59)
#   rung 1: IOC at >= 99,000 gets 99,100 x 30; the fund sells 70 more at 98,300 (<= LP 98,393)
#   rung 2: IOC at >= 98,000 gets 98,100 x 40; the fund sells 60 more at 96,300 (<= LP 96,385)
#   rung 3: IOC at >= 96,000 gets 96,200 x 50; the fund sells 50 more at 90,300 (<= LP 90,361)
#   rung 4: IOC at >= 90,000 gets 90,100 x 100
BIDS = ((99_300, 10), (99_100, 30), (98_300, 70), (98_100, 40), (96_300, 60), (96_200, 50),
        (90_300, 50), (90_100, 100))
# surplus = IOC value - BP x filled, minus the fund's deficit on its market sale:
SURPLUS = (
    0.03 * (99_100 - 99_000) - 0.07 * (99_000 - 98_300),  # 3 - 49 = -46
    0.04 * (98_100 - 98_000) - 0.06 * (98_000 - 96_300),  # 4 - 102 = -98
    0.05 * (96_200 - 96_000) - 0.05 * (96_000 - 90_300),  # 10 - 285 = -275
    0.10 * (90_100 - 90_000),  # 10, below the clearance fee 0.0125 x 0.1 x 100,000 = 125
)
LAST_AFTER_PUSH = (99_300.0, 98_300.0, 96_300.0, 90_300.0)  # trigger price of each rung


def build_ladder(**config):
    """Return (exchange, rung accounts, bid maker, pusher) with the ladder and the bid book."""
    ex = make_exchange(liquidation_trigger=TRIGGER_LAST, insurance_fund=5_000.0, **config)
    seller = open_account(ex, 1_000_000.0, 2.0)
    rungs = [open_account(ex, 2_000.0, lev) for lev in LEVERAGES]
    for r in rungs:
        trade_at(ex, r, seller, 100, 100_000.0)
    maker = open_account(ex, 1_000_000.0, 10.0)
    for price, lots in BIDS:
        rest(ex, maker, BUY, lots, price)
    pusher = open_account(ex, 100_000.0, 2.0)
    return ex, rungs, maker, pusher


def test_ladder_liquidation_prices_are_the_hand_derived_ones():
    ex, rungs, _, _ = build_ladder()
    ex.settle()  # refreshes the liquidation index; nothing triggers at last = 100,000
    for r, lp in zip(rungs, LPS, strict=True):
        assert ex.account(r).liquidation_price == pytest.approx(lp, rel=1e-12)
    assert tuple(sorted(LPS, reverse=True)) == LPS
    for k in range(3):
        assert BPS[k] > LPS[k + 1]  # an IOC alone cannot reach the next rung ...
        assert BIDS[2 * k + 2][0] <= LPS[k + 1]  # ... the fund's market sale does


def test_price_push_cascades_through_every_rung_one_pass_each_highest_lp_first():
    ex, rungs, maker, pusher = build_ladder()
    money_before = ex.total_money()
    fund_before = ex.insurance_fund
    res = ex.submit(pusher, SELL, MARKET, 10)
    assert res.filled == 10 and ex.last_price == pytest.approx(99_300.0)
    report = ex.settle()
    assert report.liquidations == 4
    assert report.passes == 4  # each rung needs the previous rung's fills
    recs = ex.drain_liquidations()
    assert recs["account"].tolist() == rungs
    assert recs["liq_price"].tolist() == pytest.approx(list(LPS))
    assert recs["bankruptcy_price"].tolist() == pytest.approx(list(BPS))
    assert recs["trigger_pass"].tolist() == [1, 2, 3, 4]
    assert recs["trigger_price"].tolist() == pytest.approx(list(LAST_AFTER_PUSH))
    assert recs["insurance_delta"].tolist() == pytest.approx(list(SURPLUS))
    assert recs["adl_qty"].tolist() == [0, 0, 0, 0]
    # fund_end - fund_start = sum of the records' insurance deltas = -46 - 98 - 275 + 10
    assert ex.insurance_fund - fund_before == pytest.approx(recs["insurance_delta"].sum())
    assert ex.insurance_fund == pytest.approx(5_000.0 - 409.0)
    for r, m in zip(rungs, MARGINS, strict=True):
        a = ex.account(r)
        assert a.position_lots == 0 and a.n_liquidations == 1
        # each loses exactly its margin (no refund: no surplus exceeded the fee)
        assert a.wallet == pytest.approx(2_000.0 - 10_000.0 * 0.0005 - m)
    # the maker bought everything below the push: 30+70 + 40+60 + 50+50 + 100 lots
    assert ex.account(maker).position_lots == 10 + 400
    assert ex.account(pusher).position_lots == -10
    assert ex.last_price == pytest.approx(90_100.0)
    assert ex.depth(BUY)[1].tolist() == []  # the book is gone
    inv = ex.invariants()
    assert inv["money_conserved"] and inv["long_oi_equals_short_oi"]
    assert ex.total_money() == pytest.approx(money_before, rel=1e-12)


def test_pass_bound_stops_the_cascade_and_the_next_settle_resumes_it():
    ex, rungs, _, pusher = build_ladder(max_trigger_passes=2)
    ex.submit(pusher, SELL, MARKET, 10)
    first = ex.settle()
    assert (first.passes, first.liquidations) == (2, 2)
    assert ex.invariants()["trigger_passes_exhausted"] == 1  # rung 3 was still crossed
    second = ex.settle()
    assert (second.passes, second.liquidations) == (2, 2)
    assert ex.invariants()["trigger_passes_exhausted"] == 1  # nothing left the second time
    assert ex.drain_liquidations()["account"].tolist() == rungs


def test_one_deep_move_liquidates_the_whole_ladder_in_one_pass_highest_lp_first():
    ex = no_fee_exchange()  # mark trigger, empty fund
    seller = open_account(ex, 1_000_000.0, 2.0)
    rungs = [open_account(ex, 2_000.0, lev) for lev in LEVERAGES]
    for r in reversed(rungs):  # open in the reverse order: the order must come from the LPs
        trade_at(ex, r, seller, 100, 100_000.0)
    report = step(ex, 1.0, 89_000.0)  # mark 89,000 is below every LP
    assert (report.passes, report.liquidations) == (1, 4)
    recs = ex.drain_liquidations()
    assert recs["account"].tolist() == rungs  # deepest-crossed (highest LP) first
    assert recs["trigger_pass"].tolist() == [1, 1, 1, 1]
    # empty book and fund: every rung is deleveraged against the only short at its BP
    assert recs["adl_qty"].tolist() == [100] * 4
    assert recs["fill_price"].tolist() == pytest.approx(list(BPS))
    s = ex.account(seller)
    assert s.position_lots == 0
    # 0.1 x (100,000 - BP) summed: 100 + 200 + 400 + 1,000
    assert s.realized_pnl == pytest.approx(1_700.0)
    assert ex.insurance_fund == 0.0
    assert ex.invariants()["money_conserved"]


def test_empty_book_and_fund_adl_shrinks_the_counterparty_by_exactly_the_qty_at_bp():
    ex = no_fee_exchange()
    victim = open_account(ex, 2_000.0, 10.0)  # LP 90,361.45, BP 90,000
    other_long = open_account(ex, 100_000.0, 1.0)
    short = open_account(ex, 100_000.0, 4.0)  # short 300 lots at 4x: margin 7,500
    trade_at(ex, victim, short, 100, 100_000.0)
    trade_at(ex, other_long, short, 200, 100_000.0)
    report = step(ex, 1.0, 90_200.0)
    assert report.liquidations == 1
    rec = ex.drain_liquidations()[0]
    assert rec["adl"] and rec["adl_qty"] == 100
    assert rec["insurance_delta"] == 0.0 and ex.insurance_fund == 0.0
    s = ex.account(short)
    assert s.position_lots == -300 + 100
    assert s.entry_price == pytest.approx(100_000.0)  # a reduce keeps the entry
    assert s.realized_pnl == pytest.approx(0.1 * (100_000.0 - 90_000.0))  # bought back at BP
    assert s.position_margin == pytest.approx(7_500.0 * 200 / 300)
    assert s.fees == 0.0
    fills = ex.drain_fills()
    adl = fills[(fills["flags"] & FLAG_ADL) != 0]
    assert adl[["price", "qty", "maker_account", "taker_account", "taker_side"]].tolist() == [
        (ticks(90_000.0), 100, short, victim, SELL)]
    assert ex.account(other_long).position_lots == 200
    inv = ex.invariants()
    assert inv["money_conserved"] and inv["long_oi_equals_short_oi"]


def test_stop_and_liquidation_cascade_in_the_same_settle():
    ex = no_fee_exchange(liquidation_trigger=TRIGGER_LAST)
    victim = open_account(ex, 2_000.0, 10.0)  # LP 90,361.45, BP 90,000
    hedger = open_account(ex, 100_000.0, 2.0)
    seller = open_account(ex, 1_000_000.0, 2.0)
    trade_at(ex, victim, seller, 100, 100_000.0)
    trade_at(ex, hedger, seller, 50, 100_000.0)
    res = ex.submit(hedger, SELL, STOP_MARKET, 50, ticks(91_000.0), trigger=TRIGGER_LAST,
                    reduce_only=True)
    assert res.status == Status.OK
    maker = open_account(ex, 1_000_000.0, 10.0)
    for price, lots in ((91_000, 1), (90_300, 50), (90_100, 100)):
        rest(ex, maker, BUY, lots, price)
    pusher = open_account(ex, 100_000.0, 2.0)
    ex.submit(pusher, SELL, MARKET, 1)  # last 91,000 reaches the stop
    report = ex.settle()
    # pass 1: the stop sells 50 at 90,300 (<= LP); pass 2: the liquidation sells 100 at 90,100
    assert (report.passes, report.liquidations) == (2, 1)
    fills = ex.drain_fills()
    flags = [int(f) for f in fills["flags"][-2:]]
    assert flags == [FLAG_STOP, FLAG_LIQUIDATION]
    assert fills["price"][-2:].tolist() == [ticks(90_300.0), ticks(90_100.0)]
    assert ex.account(hedger).position_lots == 0
    rec = ex.drain_liquidations()[0]
    assert rec["trigger_pass"] == 2 and rec["trigger_price"] == pytest.approx(90_300.0)
    assert rec["insurance_delta"] == pytest.approx(0.1 * (90_100 - 90_000))
    assert ex.invariants()["money_conserved"]


def test_one_trigger_pass_at_a_time_leaves_room_for_a_requote_that_ends_the_cascade():
    # Pass by pass the ladder falls as in one settle: the push leaves last = 99,300 <= LP 1,
    # pass 1 liquidates rung 1 and leaves last = 98,300 <= LP 2 (pending).
    ex, rungs, maker, pusher = build_ladder()
    ex.submit(pusher, SELL, MARKET, 10)
    assert ex.run_trigger_pass() == (1, True)
    # Between passes a maker rests 200 lots at 99,000. Pass 2 still fires rung 2 (the trigger
    # is the last price, 98,300, which a resting bid does not move), but its IOC (no lower than
    # BP 98,000) now sells its 100 lots at 99,000: last = 99,000, above LP 3 (96,385.54) and
    # LP 4 (90,361.45). Nothing is pending: the cascade ends at two of four rungs.
    rest(ex, maker, BUY, 200, 99_000)
    assert ex.run_trigger_pass() == (1, False)
    assert ex.last_price == pytest.approx(99_000.0)
    assert ex.run_trigger_pass() == (0, False)
    report = ex.settle()
    assert report.liquidations == 0
    assert ex.drain_liquidations()["account"].tolist() == rungs[:2]
    # Stopping after one pass is what a pass does, not an exhausted settle.
    assert ex.invariants()["trigger_passes_exhausted"] == 0
