"""Random order streams over random prices keep the exchange's invariants after every settle.

Each example opens accounts with random wallets, leverages and margin modes, then runs batches:
``begin_step`` at a new time (funding times included) and a randomly moved index, a random
stream of limits, markets, IOCs, post-only orders, stops and cancels (valid or not), then
``settle`` (stops and liquidations cascade). After every settle:

* money is conserved: wallets + unrealized PnL + insurance fund + fees = deposits (1e-6 rel.);
* long open interest equals short open interest (and the tracked counters agree);
* no resting quantity is negative and the book is not crossed;
* the insurance fund moved by exactly the sum of the liquidation records' insurance deltas;
* every liquidated account is flat afterwards.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.exchange import Exchange, ExchangeConfig
from sim.exchange.codes import (
    BUY,
    CROSS_MARGIN,
    IOC,
    ISOLATED_MARGIN,
    LIMIT,
    MARKET,
    POST_ONLY,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
)

LEVERAGES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 125.0)
STEPS_S = (1.0, 60.0, 3_600.0, 4 * 3_600.0, 8 * 3_600.0)
KINDS = (LIMIT, MARKET, MARKET, MARKET, IOC, POST_ONLY, STOP_MARKET, "cancel", "reduce")

accounts_st = st.lists(
    st.tuples(st.floats(200.0, 50_000.0), st.sampled_from(LEVERAGES),
              st.sampled_from((ISOLATED_MARGIN, CROSS_MARGIN))),
    min_size=3, max_size=8)

op_st = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, 7),  # account (modulo the number open)
    st.sampled_from((BUY, SELL)),
    st.integers(1, 400),  # lots
    st.integers(-400, 400),  # price offset from the index, basis points
    st.sampled_from((TRIGGER_LAST, TRIGGER_MARK)),
    st.booleans(),  # reduce-only (stops)
)

batch_st = st.tuples(
    st.sampled_from(STEPS_S),
    st.floats(-0.08, 0.08),  # relative index move
    st.lists(op_st, max_size=14),
)


def price_ticks(index: float, bps: int) -> int:
    return max(1, int(round(index * (1 + bps / 10_000) / 0.1)))


def run_op(ex: Exchange, n: int, index: float, op) -> None:
    kind, acct, side, qty, bps, trigger, reduce_only = op
    acct %= n
    if kind == "cancel":
        mine = ex.open_orders(acct)
        other = ex.open_orders((acct + 1) % n)
        # a real cancel, or a foreign / unknown id that must be rejected harmlessly
        target = (mine or other or [12_345])[qty % max(1, len(mine or other))]
        ex.cancel(acct, target)
    elif kind == "reduce":
        ex.submit(acct, side, MARKET, qty, reduce_only=True)
    elif kind == MARKET:
        ex.submit(acct, side, MARKET, qty)
    elif kind == STOP_MARKET:
        ex.submit(acct, side, STOP_MARKET, qty, price_ticks(index, bps), trigger=trigger,
                  reduce_only=reduce_only)
    else:
        ex.submit(acct, side, kind, qty, price_ticks(index, bps))


def check(ex: Exchange, fund_before: float) -> float:
    inv = ex.invariants()
    assert inv["money_conserved"], inv
    assert inv["long_oi_equals_short_oi"], inv
    assert inv["oi_tracking_matches_accounts"], inv
    assert inv["no_negative_resting_qty"], inv
    assert inv["book_not_crossed"], inv
    recs = ex.drain_liquidations()
    fund = ex.insurance_fund
    assert math.isclose(fund - fund_before, float(recs["insurance_delta"].sum()),
                        rel_tol=1e-9, abs_tol=1e-6)
    for a in recs["account"]:
        assert ex.account(int(a)).position_lots == 0
    return fund


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    accounts=accounts_st,
    batches=st.lists(batch_st, min_size=1, max_size=10),
    fund=st.sampled_from((0.0, 2_000.0)),
    liq_trigger=st.sampled_from((TRIGGER_MARK, TRIGGER_LAST)),
    maker_wallet=st.floats(10_000.0, 1_000_000.0),
)
def test_random_streams_keep_the_invariants(accounts, batches, fund, liq_trigger, maker_wallet):
    ex = Exchange(ExchangeConfig(insurance_fund=fund, liquidation_trigger=liq_trigger,
                                 price_levels=1 << 12), account_capacity=4)
    # account 0 is a liquidity provider at 5x
    ex.open_accounts(1, maker_wallet, 5.0)
    for wallet, leverage, mode in accounts:
        ex.open_accounts(1, wallet, leverage, mode)
    n = ex.n_accounts
    t, index = 0.0, 100_000.0
    fund_before = ex.insurance_fund
    for dt, move, ops in batches:
        t += dt
        index *= 1 + move
        # the provider requotes around the new index, so the book (and the mark) follow it
        for oid in ex.open_orders(0):
            ex.cancel(0, oid)
        for bps in (-100, -40, -10, 10, 40, 100):
            side = BUY if bps < 0 else SELL
            ex.submit(0, side, POST_ONLY, 100, price_ticks(index, bps))
        ex.begin_step(t, index, dt_seconds=dt)
        for op in ops:
            run_op(ex, n, index, op)
            inv = ex.invariants()
            assert inv["long_oi_equals_short_oi"] and inv["book_not_crossed"], inv
        ex.settle()
        fund_before = check(ex, fund_before)
