"""Tests of the retail crowd (``agents.retail``): stops, leverage mix, re-entry, cost, determinism.

The market is a test-only ladder maker (a symmetric ladder of LIMIT orders around the index)
over an exogenous index, so every price the crowd sees can be derived by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.params import DEFAULT_LEVERAGE_MIX, RetailParams
from agents.retail import (
    BREAKOUT,
    CONTRARIAN,
    IDLE,
    MOMENTUM,
    OPEN,
    OUT,
    PERCENT_STOP,
    ROUND_NUMBER,
    ROUND_STOP,
    STOP_RULES,
    STRUCTURE_STOP,
    PriceHistory,
    RetailCrowd,
    entry_side,
    stop_beyond_ticks,
    stop_level_ticks,
    take_profit_ticks,
)
from sim.exchange import BUY, SELL, TRIGGER_LAST, TRIGGER_MARK
from sim.exchange.book import order_slot
from sim.exchange.layouts import A_LEVERAGE, A_LIQ_PRICE, A_WALLET, O_PRICE, O_TRIGGER
from sim.model import MarketModel
from tests.market_builders import LadderMaker, quiet_model

TICK = 0.1


def build(seed: int = 1, price: float = 100_000.0, vol: float = 0.0, basis_window_s: float = 300.0,
          **params) -> tuple[MarketModel, RetailCrowd]:
    """Return a model with a ladder maker and a retail crowd built from ``params``."""
    model = quiet_model(seed=seed, price=price, volatility=vol,
                        mark_basis_window_s=basis_window_s)
    LadderMaker(model)
    crowd = RetailCrowd(model, RetailParams(**params))
    return model, crowd


def stop_order_price(model: MarketModel, order_id: int) -> int:
    """Return the stop price (ticks) of a live order, read from the book's arrays."""
    orders = model.perp.book.orders
    slot = order_slot(orders, order_id)
    assert slot >= 0, "the order must be live"
    return int(orders[slot, O_PRICE])


# ---------------------------------------------------------------------- pure rules


def test_a_percent_stop_level_is_the_distance_from_the_entry_rounded_away_from_it():
    # 1,000,000 ticks x (1 -/+ 0.015) = 985,000 / 1,015,000; 1,000,003 x 0.985 = 985,002.955
    # rounds down (a long) to 985,002.
    window = np.array([990_000, 1_000_000])
    assert stop_level_ticks(PERCENT_STOP, BUY, 1_000_000, 0.015, window, 10_000) == 985_000
    assert stop_level_ticks(PERCENT_STOP, SELL, 1_000_000, 0.015, window, 10_000) == 1_015_000
    assert stop_level_ticks(PERCENT_STOP, BUY, 1_000_003, 0.015, window, 10_000) == 985_002


def test_a_structure_stop_level_is_the_swing_of_its_timeframe():
    window = np.array([1_000_500, 999_700, 1_000_900, 1_000_000])
    assert stop_level_ticks(STRUCTURE_STOP, BUY, 1_000_000, 0.015, window, 10_000) == 999_700
    assert stop_level_ticks(STRUCTURE_STOP, SELL, 1_000_000, 0.015, window, 10_000) == 1_000_900


def test_a_round_number_stop_level_is_the_first_round_level_past_the_distance():
    # Long: 1,004,005 x 0.99 = 993,964.95 -> the round level (10,000 ticks) under it, 990,000.
    # Short: 1,003,995 x 1.01 = 1,014,034.95 -> the one over it, 1,020,000.
    window = np.array([1_000_000])
    assert stop_level_ticks(ROUND_STOP, BUY, 1_004_005, 0.01, window, 10_000) == 990_000
    assert stop_level_ticks(ROUND_STOP, SELL, 1_003_995, 0.01, window, 10_000) == 1_020_000


def test_a_stop_rests_its_offset_beyond_the_level_and_at_least_a_tick_from_the_entry():
    assert stop_beyond_ticks(BUY, 1_000_000, 990_000, 150, math.nan) == 989_850
    assert stop_beyond_ticks(SELL, 1_000_000, 1_010_000, 150, math.nan) == 1_010_150
    # A swing at the entry itself (a breakout): one tick under the entry.
    assert stop_beyond_ticks(BUY, 1_000_000, 1_000_000, 0, math.nan) == 999_999


def test_a_stop_beyond_the_liquidation_price_moves_just_inside_it():
    # Long: 990,000 - 20 = 989,980 is under the liquidation price 995,000.4 -> 995,000 + 20.
    assert stop_beyond_ticks(BUY, 1_000_000, 990_000, 20, 995_000.4) == 995_020
    # Short: 1,020,000 + 20 is over the liquidation price 1,012,000.4 -> 1,012,001 - 20.
    assert stop_beyond_ticks(SELL, 1_005_000, 1_020_000, 20, 1_012_000.4) == 1_011_981
    # No room between entry and liquidation: no stop.
    assert stop_beyond_ticks(BUY, 1_000_000, 990_000, 20, 999_999.5) == 0


def test_take_profit_rounds_away_from_the_entry():
    assert take_profit_ticks(BUY, 100_400.5, 0.02, TICK) == 1_024_086  # 102,408.51 -> .6
    assert take_profit_ticks(SELL, 100_399.5, 0.02, TICK) == 983_915  # 98,391.51 -> .5


@pytest.mark.parametrize(("rule", "window", "u_tie", "side"), [
    (MOMENTUM, [100, 90, 105], 0.9, BUY),
    (MOMENTUM, [100, 120, 95], 0.1, SELL),
    (MOMENTUM, [100, 120, 100], 0.3, BUY),  # tie, u < long_bias 0.5
    (MOMENTUM, [100, 120, 100], 0.7, SELL),
    (CONTRARIAN, [100, 90, 105], 0.1, SELL),
    (CONTRARIAN, [100, 120, 95], 0.9, BUY),
    (BREAKOUT, [100, 120, 121], 0.9, BUY),
    (BREAKOUT, [100, 90, 89], 0.1, SELL),
    (BREAKOUT, [100, 120, 120], 0.1, 0),  # equal to the high is no breakout
    (ROUND_NUMBER, [5, 1_000_150], 0.9, BUY),  # 150 ticks above 1,000,000, near is 2,000
    (ROUND_NUMBER, [5, 1_009_000], 0.1, SELL),  # 1,000 below 1,010,000
    (ROUND_NUMBER, [5, 1_005_000], 0.1, 0),  # mid-way: not near either
])
def test_entry_rules(rule, window, u_tie, side):
    assert entry_side(rule, np.array(window), 10_000, 2_000, u_tie, 0.5) == side


@pytest.mark.parametrize(("window", "u", "bias", "side"), [
    # long_bias 0.8: a short signal is kept with probability (1 - 0.8) / 0.8 = 0.25.
    ([100, 90], 0.2, 0.8, SELL),
    ([100, 90], 0.3, 0.8, 0),
    ([100, 110], 0.99, 0.8, BUY),  # a long signal is always kept
    # long_bias 0.2: a long signal is kept with probability 0.2 / 0.8 = 0.25.
    ([100, 110], 0.3, 0.2, 0),
    ([100, 110], 0.2, 0.2, BUY),
    ([100, 90], 0.99, 0.2, SELL),
])
def test_long_bias_thins_the_signals_against_the_crowds_lean(window, u, bias, side):
    assert entry_side(MOMENTUM, np.array(window), 10_000, 2_000, u, bias) == side


def test_price_history_keeps_the_lookback_window_oldest_first():
    history = PriceHistory(window_s=3.0, interval_s=1.0)  # 4 samples
    for t, p in enumerate([10, 11, 12, 13, 14, 15]):
        history.record(float(t), p)
        history.record(t + 0.5, 99)  # within the interval: ignored
    assert history.window().tolist() == [12, 13, 14, 15]
    # The last n samples, across the ring's wrap (the buffer holds 14, 15, 12, 13).
    assert history.window(3).tolist() == [13, 14, 15]
    assert history.window(1).tolist() == [15]
    assert history.window(10).tolist() == [12, 13, 14, 15]
    assert history.window(0).tolist() == []


# ---------------------------------------------------------------------- stops in a market


def given_history(crowd: RetailCrowd, prices_usd: list[float]) -> None:
    """Record ``prices_usd`` as the chart of the seconds before t = 1."""
    for k, p in enumerate(prices_usd):
        crowd.history.record(-len(prices_usd) + k + 0.0, int(round(p / TICK)))


CERTAIN_ENTRY = dict(count=1, wallet=10_000.0, wallet_sigma=0.0, size_sigma=0.0,
                     margin_fraction=0.5, arrival_rate_per_s=1_000.0,
                     rule_mix={"momentum": 1.0}, stop_loss_prob=1.0, hold_time_s=1e9,
                     stop_rule_mix={"structure": 1.0}, stop_offset_bps=0.0,
                     structure_max_lookback_s=300.0, stop_distance_sigma=0.0)


def test_a_long_entry_places_its_stop_below_the_swing_low_and_its_take_profit_above():
    model, crowd = build(price=100_400.0, leverage_mix={10: 1.0}, **CERTAIN_ENTRY)
    given_history(crowd, [100_300, 100_250, 100_350, 100_380])  # now 100,400: momentum buys
    model.step()
    account = crowd.first_account
    assert crowd.status[0] == OPEN and crowd.side[0] == BUY
    assert model.perp.entry_price_usd(account) == pytest.approx(100_400.5)  # first ask
    assert stop_order_price(model, int(crowd.stop_order[0])) == 1_002_500  # the swing low
    assert stop_order_price(model, int(crowd.tp_order[0])) == 1_024_086  # 100,400.5 x 1.02
    assert crowd.stats.stops_placed == 1 and crowd.stats.take_profits_placed == 1


@pytest.mark.parametrize(("stop_trigger", "trigger"), [("last", TRIGGER_LAST),
                                                       ("mark", TRIGGER_MARK)])
def test_stops_watch_the_price_the_params_name(stop_trigger, trigger):
    model, crowd = build(price=100_400.0, leverage_mix={10: 1.0}, stop_trigger=stop_trigger,
                         **CERTAIN_ENTRY)
    given_history(crowd, [100_300, 100_250, 100_350, 100_380])
    model.step()
    orders = model.perp.book.orders
    slot = order_slot(orders, int(crowd.stop_order[0]))
    assert slot >= 0 and orders[slot, O_TRIGGER] == trigger


def test_a_short_entry_places_its_stop_above_the_round_number():
    params = {**CERTAIN_ENTRY, "stop_rule_mix": {"round_number": 1.0}, "stop_distance_pct": 0.005}
    model, crowd = build(price=100_400.0, leverage_mix={10: 1.0}, **params)
    given_history(crowd, [100_600, 101_500, 100_700, 100_450])  # now 100,400: momentum sells
    model.step()
    assert crowd.side[0] == SELL
    assert model.perp.entry_price_usd(crowd.first_account) == pytest.approx(100_399.5)
    # 100,399.5 x 1.005 = 100,901.5 -> the round level over it, 101,000 (offset 0).
    assert stop_order_price(model, int(crowd.stop_order[0])) == 1_010_000


def test_a_high_leverage_stop_sits_just_inside_the_liquidation_price():
    # margin 300 -> 30k notional: first tier; a 5 % percent stop lies past the liquidation.
    params = {**CERTAIN_ENTRY, "wallet": 600.0, "stop_rule_mix": {"percent": 1.0},
              "stop_distance_pct": 0.05}
    model, crowd = build(price=100_900.0, leverage_mix={100: 1.0}, **params)
    given_history(crowd, [100_100, 100_500, 100_800])
    model.step()
    entry = 100_900.5
    # Isolated long, first tier (MMR 0.4 %, cum 0), margin = notional / 100:
    # LP = E (1 - 1/100) / (1 - 0.004).
    liq = entry * 0.99 / 0.996
    assert model.perp.position_lots(crowd.first_account) == 297  # floor(30,000 / 100.9005)
    assert model.perp.acct_f[crowd.first_account, A_LIQ_PRICE] == pytest.approx(liq)
    # A percent stop has no offset: one tick inside.
    assert stop_order_price(model, int(crowd.stop_order[0])) == math.floor(liq / TICK) + 1


def test_traders_who_read_the_same_chart_leave_a_band_of_stops_not_a_wall():
    # 400 longs enter in one step on the same chart (swing low 100,250); each structure stop
    # rests an exponential offset of mean 10 bp of its entry (about 100.4 USD) under it.
    n = 400
    params = {**CERTAIN_ENTRY, "count": n, "wallet": 1_000.0, "arrival_rate_per_s": 1_000.0,
              "stop_offset_bps": 10.0}
    model, crowd = build(price=100_400.0, leverage_mix={10: 1.0}, **params)
    given_history(crowd, [100_300, 100_250, 100_350, 100_380])
    model.step()
    assert crowd.stats.stops_placed == n
    stops = np.array([stop_order_price(model, int(oid)) for oid in crowd.stop_order]) * TICK
    offsets = 100_250.0 - stops
    # Mean of 400 exponentials: standard error 100.4 / 20 = 5 USD; 20 USD is 4 of them.
    assert abs(offsets.mean() - 100.4) < 20.0
    assert (offsets >= 0).all()
    # No single price holds more than 2 % of the stops (a wall would hold all of them).
    assert np.unique(stops, return_counts=True)[1].max() <= 0.02 * n


def test_stop_habits_follow_the_stop_rule_mix():
    n = 30_000
    mix = {"percent": 0.5, "structure": 0.3, "round_number": 0.2}
    _, crowd = build(count=n, arrival_rate_per_s=0.0, stop_rule_mix=mix)
    for k, name in enumerate(STOP_RULES):
        share = float(np.mean(crowd.stop_rule == k))
        w = mix[name]
        assert abs(share - w) < 4.5 * math.sqrt(w * (1 - w) / n)


# ---------------------------------------------------------------------- the crowd's draws


def test_leverage_mix_frequencies_match_the_mix_and_the_accounts():
    n = 40_000
    model, crowd = build(count=n, arrival_rate_per_s=0.0)
    for lev, weight in DEFAULT_LEVERAGE_MIX.items():
        share = float(np.mean(crowd.leverage == lev))
        assert abs(share - weight) < 4.5 * math.sqrt(weight * (1 - weight) / n)
    accounts = crowd.first_account + np.arange(n)
    assert np.array_equal(model.perp.acct_f[accounts, A_LEVERAGE], crowd.leverage)
    assert (model.account_owner[accounts] == crowd.unique_id).all()
    wallets = model.perp.acct_f[accounts, A_WALLET]
    assert abs(np.log(np.median(wallets) / 5_000.0)) < 0.05  # lognormal median
    assert abs(np.std(np.log(wallets)) - 1.0) < 0.02  # wallet_sigma


@pytest.mark.parametrize("budget", [0, 2])
def test_a_liquidated_trader_reenters_only_while_its_budget_lasts(budget):
    model, crowd = build(
        basis_window_s=1.0, count=1, wallet=10_000.0, wallet_sigma=0.0, size_sigma=0.0,
        arrival_rate_per_s=1_000.0, leverage_mix={50: 1.0}, rule_mix={"contrarian": 1.0},
        stop_loss_prob=0.0, take_profit_pct=0.5, hold_time_s=1e9, reentry_budget=budget,
        reentry_delay_s=0.0)
    for _ in range(40):
        if crowd.status[0] == OPEN:  # push the index 10 % against the position
            model.fundamental.price *= 1.0 - 0.1 * int(crowd.side[0])
        model.step()
    assert crowd.stats.liquidations == budget + 1
    assert crowd.stats.entries == budget + 1
    assert crowd.stats.reentries == budget
    assert crowd.status[0] == OUT and crowd.reentries_left[0] == 0
    assert model.perp.position_lots(crowd.first_account) == 0


# ---------------------------------------------------------------------- cost per step


class Tracked(np.ndarray):
    """An array that counts the elements read or written through indexing and refuses
    whole-array operations (ufuncs and numpy functions taking it as an argument)."""

    touched = 0

    @staticmethod
    def _size(n: int, key) -> int:
        if isinstance(key, slice):
            return len(range(*key.indices(n)))
        if isinstance(key, np.ndarray):
            return n if key.dtype == bool else key.size
        if isinstance(key, list | tuple):
            return len(key)
        return 1

    def __getitem__(self, key):
        Tracked.touched += self._size(len(self), key)
        out = super().__getitem__(key)
        return out.view(np.ndarray) if isinstance(out, np.ndarray) else out

    def __setitem__(self, key, value):
        Tracked.touched += self._size(len(self), key)
        super().__setitem__(key, value)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise AssertionError(f"whole-array {ufunc.__name__} on a per-trader array")

    def __array_function__(self, func, types, args, kwargs):
        raise AssertionError(f"whole-array {func.__name__} on a per-trader array")


PER_TRADER = ("status", "rule", "leverage", "side", "entry_t", "exit_t", "stop_order",
              "stop_ticks", "tp_order", "reentries_left", "next_eligible_t", "idle_pool")


def crowd_accounts_in(model: MarketModel, crowd: RetailCrowd) -> int:
    """Return how many distinct crowd accounts the published fills and liquidations name."""
    accounts = np.concatenate((model.fills["maker_account"], model.fills["taker_account"],
                               model.liquidations["account"]))
    return len(np.unique(accounts[model.account_owner[accounts] == crowd.unique_id]))


def test_act_examines_only_the_traders_who_act():
    n = 50_000
    model, crowd = build(seed=4, vol=8.0, count=n, arrival_rate_per_s=5.0, hold_time_s=120.0,
                         lookback_s=60.0, reentry_delay_s=30.0)
    for name in PER_TRADER:
        setattr(crowd, name, getattr(crowd, name).view(Tracked))
    busiest = 0
    for _ in range(600):
        expected_touched = crowd_accounts_in(model, crowd)
        before = Tracked.touched
        model.step()
        step = crowd.last_step
        assert step["touched"] == expected_touched
        assert step["examined"] == (step["arrivals"] + step["exits"] + step["returns"]
                                    + step["touched"])
        used = Tracked.touched - before
        assert used <= 40 * step["examined"]
        busiest = max(busiest, used)
    stats = crowd.stats
    assert stats.entries > 1_000 and stats.stops_fired > 0 and stats.hold_exits > 0
    assert busiest < n // 50


# ---------------------------------------------------------------------- a running market


def run_crowd(seed: int, steps: int = 600, **params) -> tuple[MarketModel, RetailCrowd, bytes]:
    model, crowd = build(seed=seed, vol=8.0, **params)
    log = []
    for _ in range(steps):
        model.step()
        log.append(model.fills.tobytes())
        log.append(model.liquidations.tobytes())
    return model, crowd, b"".join(log)


def test_the_same_seed_gives_identical_fills_and_stats():
    params = dict(count=2_000, arrival_rate_per_s=2.0, hold_time_s=200.0, lookback_s=60.0)
    _, crowd_a, log_a = run_crowd(7, steps=300, **params)
    _, crowd_b, log_b = run_crowd(7, steps=300, **params)
    _, crowd_c, log_c = run_crowd(8, steps=300, **params)
    assert log_a == log_b
    assert crowd_a.stats == crowd_b.stats
    assert log_a != log_c


def test_a_volatile_market_fires_stops_and_liquidations_and_keeps_the_books_straight():
    n = 2_000
    model, crowd, _ = run_crowd(3, count=n, arrival_rate_per_s=3.0, hold_time_s=300.0,
                                lookback_s=60.0, reentry_delay_s=60.0)
    stats = crowd.stats
    assert stats.entries > 500
    share = stats.stops_placed / stats.entries  # stop_loss_prob 0.5: binomial sd sqrt(.25 / n)
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / stats.entries)
    assert stats.take_profits_placed == stats.entries
    assert stats.stops_fired > 0 and stats.liquidations > 0 and stats.hold_exits > 0
    assert stats.rejects == 0
    ex = model.perp
    inv = ex.invariants()
    assert inv["money_conserved"] and inv["long_oi_equals_short_oi"]
    for i in range(n):
        account = crowd.first_account + i
        pos = ex.position_lots(account)
        if crowd.status[i] == OPEN:
            assert pos * int(crowd.side[i]) > 0
            stop = int(crowd.stop_ticks[i])
            liq = ex.acct_f[account, A_LIQ_PRICE]
            if stop:  # the stop fires before the liquidation
                assert (stop * TICK - liq) * int(crowd.side[i]) > 0
        else:
            assert pos == 0 and ex.open_orders(account) == []
            assert crowd.status[i] != IDLE or crowd.side[i] == 0
    counts = crowd.counts_by_status()
    assert counts["idle"] == crowd.n_idle
    assert sum(counts.values()) == n


def measure_act_time(counts=(10_000, 1_000_000), steps: int = 3_600) -> None:
    """Print the mean ``act()`` time of crowds of different sizes in the same market.

    Not a test (timings are machine-dependent): ``python -m tests.test_agents_retail``.
    """
    import time

    for n in counts:
        model, crowd = build(seed=5, vol=2.0, count=n, arrival_rate_per_s=0.5)
        times: list[float] = []
        act = crowd.act

        def timed(act=act, times=times) -> None:
            start = time.perf_counter()
            act()
            times.append(time.perf_counter() - start)

        crowd.act = timed
        for _ in range(steps):
            model.step()
        print(f"count={n:>9,}: mean act() {np.mean(times[200:]) * 1e6:7.1f} us over "
              f"{steps - 200} steps, {crowd.stats.entries} entries, "
              f"{crowd.stats.liquidations} liquidations")


if __name__ == "__main__":
    measure_act_time()


def test_take_profits_by_habit_percent_round_level_or_a_multiple_of_the_risk():
    from agents.retail import PERCENT_TP, RISK_MULTIPLE_TP, ROUND_TP, take_profit_level_ticks
    # Entry 100,000 USD, tick 0.1: 1,000,000 ticks; 2 % -> 1,020,000 (long), 980,000 (short).
    args = dict(entry_price=100_000.0, take_profit_pct=0.02, risk_multiple=2.0, tick_size=0.1,
                round_ticks=15_000)
    assert take_profit_level_ticks(PERCENT_TP, BUY, stop_ticks=0, **args) == 1_020_000
    assert take_profit_level_ticks(PERCENT_TP, SELL, stop_ticks=0, **args) == 980_000
    # Round levels every 15,000 ticks: 1,020,000 / 15,000 = 68 exactly -> 1,020,000 for a
    # long; a short's 980,000 / 15,000 = 65.33 -> 65 x 15,000 = 975,000, the level below.
    assert take_profit_level_ticks(ROUND_TP, BUY, stop_ticks=0, **args) == 1_020_000
    assert take_profit_level_ticks(ROUND_TP, SELL, stop_ticks=0, **args) == 975_000
    # 2R: a long stopped at 990,000 risks 10,000 ticks -> 1,000,000 + 20,000 = 1,020,000;
    # a short stopped at 1,003,000 risks 3,000 -> 1,000,000 - 6,000 = 994,000.
    assert take_profit_level_ticks(RISK_MULTIPLE_TP, BUY, stop_ticks=990_000, **args) == 1_020_000
    assert take_profit_level_ticks(RISK_MULTIPLE_TP, SELL, stop_ticks=1_003_000,
                                   **args) == 994_000
    # Without a stop a risk-multiple habit falls back to the percent target.
    assert take_profit_level_ticks(RISK_MULTIPLE_TP, SELL, stop_ticks=0, **args) == 980_000


def test_a_round_number_take_profit_rests_at_the_round_level_beyond_the_target():
    # Every trader takes profits at round levels (1,000 USD = 10,000 ticks): a long opened near
    # 100,000 USD targets 102,000 or a little above, so its LIMIT rests at 103,000 USD at most
    # and always on a multiple of 10,000 ticks.
    model, crowd = build(count=200, arrival_rate_per_s=20.0, stop_loss_prob=0.0,
                         take_profit_rule_mix={"round_number": 1.0})
    for _ in range(3):
        model.step()
    placed = crowd.tp_order[crowd.tp_order > 0]
    assert len(placed) > 20
    prices = np.array([stop_order_price(model, int(oid)) for oid in placed])
    assert (prices % 10_000 == 0).all()
