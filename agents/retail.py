"""The leveraged retail crowd: many small isolated-margin traders kept as arrays.

One ``RetailCrowd`` (a single mesa agent) owns ``count`` traders, each with its own perpetual
account in isolated margin. The crowd is what builds the liquidation and stop clusters the
project studies, so each trader follows the habits that retail trading guides and exchange
post-mortems describe:

* **Arrivals** are Poisson at a self-exciting rate (``agents.excitation``: mean
  ``arrival_rate_per_s`` in a quiet market, raised for minutes by bursts of arrivals, large
  moves and liquidation prints): idle traders look at the chart each step, drawn from an idle
  pool without scanning the crowd (swap-remove). With ``vol_elasticity`` the baseline of the rate
  (not its self-excited part, so the branching ratio stays below 1) follows the chart's
  volatility (recent over slow realized volatility, to that power), and
  with ``funding_aversion`` fewer would-be longs enter while longs pay more than the 0.01 %
  baseline (fewer shorts while shorts pay).
* **Entry rules**, one per trader from ``rule_mix``, read a price history sampled every
  ``history_sample_s`` (at least once a step): momentum (side of the return over
  ``lookback_s``), breakout (buy a new lookback high, sell a new low, else stay out),
  contrarian (against the return), round number (buy just above a round level, sell just below
  one, "support and resistance"; near means within ``round_near_fraction`` of the grid).
  ``long_bias`` breaks ties.
* **Leverage** from ``leverage_mix`` (a trader's habit: set once on its account); **wallets**
  lognormal around ``wallet`` and rounded to ``wallet_significant_digits`` significant figures
  (deposits are round sums); **size**: margin = wallet * margin_fraction * lognormal(0,
  size_sigma), capped so the opening and closing fees still fit (as the venues' "max" button
  does); one MARKET order.
* **Stop-loss** (with probability ``stop_loss_prob``): a reduce-only STOP_MARKET on the
  ``stop_trigger`` price (the *last* price by default, as on the venues), placed by the
  trader's habit from ``stop_rule_mix`` (the rules trading guides teach): *percent*, a
  distance ``d`` from the entry, lognormal with median ``stop_distance_pct``; *structure*,
  beyond the swing low (a long) or high (a short) of a timeframe drawn log-uniformly from
  ``lookback_s`` to ``structure_max_lookback_s``; *round number*, beyond the first round level
  at least ``d`` from the entry. Structure and round-number stops rest an exponential offset
  (mean ``stop_offset_bps``) beyond their level, so traders who read the same chart leave a
  band of stops, not one price. A stop at or past the liquidation price goes just inside it.
  **Take-profit**: a LIMIT placed by the trader's habit from ``take_profit_rule_mix``:
  entry * (1 +/- take_profit_pct), the first round level beyond that, or
  ``take_profit_risk_multiple`` times the stop's distance beyond the entry (a 2R target).
* **Exits**: stop, take-profit, liquidation, or a reduce-only MARKET order after an exponential
  holding time of mean ``hold_time_s``, or earlier while the chart is wild
  (``vol_exit_elasticity``). Leftover orders are cancelled and the trader is idle
  again; after a liquidation it waits an exponential ``reentry_delay_s`` and re-enters only while
  ``reentry_budget`` lasts, otherwise it is out for good.

Cost per step is proportional to the traders who act: arrivals, due exits (a heap), traders
whose wait ended (a heap) and the crowd's accounts found in the step's fills and liquidations
(vectorized over the fills, not over the crowd). No per-trader array is read in full in ``act``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from agents import stages
from agents.base import Trader
from agents.excitation import Excitation
from agents.params import RetailParams
from sim.exchange import (
    BUY,
    FLAG_STOP,
    LIMIT,
    MARKET,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Status,
    liquidation_price,
)
from sim.model import MarketModel

# Trader status.
IDLE = 0  # flat, in the idle pool, may arrive
OPEN = 1  # holds (or is closing) a position
WAITING = 2  # liquidated; re-enters after its wait
OUT = 3  # liquidated with no re-entry left

# Entry rules, in the order of ``RULES``.
RULES = ("momentum", "breakout", "contrarian", "round_number")
MOMENTUM, BREAKOUT, CONTRARIAN, ROUND_NUMBER = range(4)

# Stop placement habits, in the order of ``STOP_RULES``.
STOP_RULES = ("percent", "structure", "round_number")
PERCENT_STOP, STRUCTURE_STOP, ROUND_STOP = range(3)

# Take-profit habits, in the order of ``TAKE_PROFIT_RULES``.
TAKE_PROFIT_RULES = ("percent", "round_number", "risk_multiple")
PERCENT_TP, ROUND_TP, RISK_MULTIPLE_TP = range(3)

# The chart a percent or round-number stop reads: none.
_NO_SWING = np.zeros(0, dtype=np.int64)

# The funding rate of a balanced market: the interest-rate dead zone, 0.01 % per interval.
FUNDING_BASELINE = 1e-4
_VOL_REFRESH_S = 60.0  # how often the arrival rate rereads the chart's volatility

# The exchange's trigger source for each value of ``RetailParams.stop_trigger``.
STOP_TRIGGERS = {"last": TRIGGER_LAST, "mark": TRIGGER_MARK}


# ---------------------------------------------------------------------- pure rules


def entry_side(rule: int, window_ticks: np.ndarray, round_ticks: int, near_ticks: int,
               u_tie: float, long_bias: float) -> int:
    """Return the side a rule takes on a price window (BUY, SELL, or 0 to stay out).

    ``window_ticks`` holds the chart's samples over the lookback, oldest first; its last entry
    is the price now. Momentum follows the sign of ``now - oldest``, contrarian fades it (ties
    go long with probability ``long_bias``: ``u_tie < long_bias``). Breakout buys a price above
    every earlier sample and sells one below every earlier sample. Round number buys within
    ``near_ticks`` above a multiple of ``round_ticks`` (support) and sells within ``near_ticks``
    below one (resistance), the closer level winning.

    ``long_bias`` is also the crowd's lean: a signal against it is followed only with
    probability ``(1 - b) / b`` (shorts when ``b > 0.5``) or ``b / (1 - b)`` (longs when
    ``b < 0.5``), so symmetric signals give longs and shorts in the ratio ``b : 1 - b``.
    """
    now = int(window_ticks[-1])
    if rule == MOMENTUM or rule == CONTRARIAN:
        move = now - int(window_ticks[0])
        if move == 0:
            return BUY if u_tie < long_bias else SELL
        follow = BUY if move > 0 else SELL
        side = follow if rule == MOMENTUM else -follow
    elif rule == BREAKOUT:
        if len(window_ticks) < 2:
            return 0
        earlier = window_ticks[:-1]
        side = BUY if now > int(earlier.max()) else SELL if now < int(earlier.min()) else 0
    else:
        below = (now // round_ticks) * round_ticks
        above_gap = below + round_ticks - now
        below_gap = now - below
        if below_gap <= near_ticks and below_gap <= above_gap:
            side = BUY
        elif above_gap <= near_ticks:
            side = SELL
        else:
            side = 0
    if side == SELL and long_bias > 0.5 and u_tie >= (1.0 - long_bias) / long_bias:
        return 0
    if side == BUY and long_bias < 0.5 and u_tie >= long_bias / (1.0 - long_bias):
        return 0
    return side


def stop_level_ticks(stop_rule: int, side: int, entry_ticks: int, distance: float,
                     swing_window_ticks: np.ndarray, round_ticks: int) -> int:
    """Return the level (ticks) a stop is placed beyond, by the trader's habit.

    ``percent``: ``entry * (1 - side * distance)``, rounded away from the entry. ``structure``:
    the lowest (a long) or highest (a short) price of ``swing_window_ticks``, the chart over the
    trader's timeframe. ``round_number``: the first multiple of ``round_ticks`` at or beyond
    ``entry * (1 - side * distance)``.
    """
    if stop_rule == STRUCTURE_STOP:
        if len(swing_window_ticks) == 0:
            return entry_ticks
        return int(swing_window_ticks.min()) if side == BUY else int(swing_window_ticks.max())
    target = entry_ticks * (1.0 - side * distance)
    if stop_rule == PERCENT_STOP:
        return int(math.floor(target + 1e-9)) if side == BUY else int(math.ceil(target - 1e-9))
    if side == BUY:
        return int(math.floor(target / round_ticks + 1e-9)) * round_ticks
    return int(math.ceil(target / round_ticks - 1e-9)) * round_ticks


def stop_beyond_ticks(side: int, entry_ticks: int, level_ticks: int, offset_ticks: int,
                      liq_price_ticks: float) -> int:
    """Return the stop price (ticks) ``offset_ticks`` beyond ``level_ticks``, or 0 for none.

    A long's stop is ``level - offset`` and at least one tick under the entry; a short's
    mirrors it. A stop at or beyond the liquidation price (``liq_price_ticks``, fractional
    ticks; NaN or <= 0 when there is none) moves ``max(offset_ticks, 1)`` ticks inside it; with
    no room left between entry and liquidation there is no stop (0).
    """
    inside = max(offset_ticks, 1)
    has_liq = liq_price_ticks > 0  # False for NaN
    if side == BUY:
        stop = min(level_ticks - offset_ticks, entry_ticks - 1)
        if has_liq and stop <= liq_price_ticks:
            stop = min(math.floor(liq_price_ticks) + inside, entry_ticks - 1)
            if stop <= liq_price_ticks:
                return 0
        return stop if stop > 0 else 0
    stop = max(level_ticks + offset_ticks, entry_ticks + 1)
    if has_liq and stop >= liq_price_ticks:
        stop = max(math.ceil(liq_price_ticks) - inside, entry_ticks + 1)
        if stop >= liq_price_ticks:
            return 0
    return stop


def take_profit_ticks(side: int, entry_price: float, take_profit_pct: float,
                      tick_size: float) -> int:
    """Return the take-profit limit price (ticks): entry * (1 + side * pct), rounded outwards.

    0 when a short's target is not a positive price (no take-profit).
    """
    target = entry_price * (1.0 + side * take_profit_pct) / tick_size
    return int(math.ceil(target - 1e-9)) if side == BUY else max(0, int(math.floor(target + 1e-9)))


def take_profit_level_ticks(tp_rule: int, side: int, entry_price: float, take_profit_pct: float,
                           stop_ticks: int, risk_multiple: float, tick_size: float,
                           round_ticks: int) -> int:
    """Return a take-profit limit price (ticks; 0 for none) by the trader's habit.

    ``percent``: ``take_profit_ticks``. ``round_number``: the first multiple of ``round_ticks``
    at or beyond the percent target (a long sells at a round level above, a short buys at one
    below). ``risk_multiple``: ``risk_multiple`` times the stop's distance from the entry
    beyond the entry (a 2R target), rounded outwards; the percent target without a stop.
    """
    if tp_rule == RISK_MULTIPLE_TP and stop_ticks > 0:
        entry = entry_price / tick_size
        target = entry + side * risk_multiple * abs(entry - stop_ticks)
        return (int(math.ceil(target - 1e-9)) if side == BUY
                else max(0, int(math.floor(target + 1e-9))))
    tp = take_profit_ticks(side, entry_price, take_profit_pct, tick_size)
    if tp_rule != ROUND_TP or tp <= 0:
        return tp
    if side == BUY:
        return int(math.ceil(tp / round_ticks - 1e-9)) * round_ticks
    return int(math.floor(tp / round_ticks + 1e-9)) * round_ticks


def round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Return positive ``values`` rounded to ``digits`` significant figures."""
    scale = 10.0 ** (np.floor(np.log10(values)) - (digits - 1))
    return np.round(values / scale) * scale


# ---------------------------------------------------------------------- the chart


def _member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Return whether each of ``values`` is in ``pool`` (``np.isin``, without its set-up cost
    on the few values a step brings)."""
    if len(pool) == 0:
        return np.zeros(len(values), dtype=bool)
    if len(values) * len(pool) <= 4096:
        return (values[:, None] == pool[None, :]).any(axis=1)
    return np.isin(values, pool)


def samples_in(window_s: float, interval_s: float) -> int:
    """Return how many samples one per ``interval_s`` a window of ``window_s`` holds, both ends
    included: ``ceil(window_s / interval_s) + 1``."""
    return int(math.ceil(window_s / interval_s - 1e-9)) + 1


class PriceHistory:
    """The chart the crowd reads: the last ``window_s`` of prices, one sample per interval.

    A ring buffer of ``ceil(window_s / interval_s) + 1`` samples (ticks); ``window()`` returns
    them oldest first.
    """

    def __init__(self, window_s: float, interval_s: float) -> None:
        self.interval_s = float(interval_s)
        self.size = samples_in(window_s, self.interval_s)
        self.buffer = np.zeros(self.size, dtype=np.int64)
        self.count = 0
        self._next_t = -math.inf

    def record(self, t_seconds: float, price_ticks: int) -> None:
        """Append a sample if an interval has passed since the previous one."""
        if t_seconds + 1e-9 < self._next_t:
            return
        self.buffer[self.count % self.size] = price_ticks
        self.count += 1
        self._next_t = t_seconds + self.interval_s

    def seed(self, prices_ticks: np.ndarray) -> None:
        """Fill the chart with a past (samples one interval apart, oldest first, the last one
        now); the next ``record`` appends one interval later."""
        kept = np.asarray(prices_ticks, dtype=np.int64)[-self.size:]
        self.buffer[: len(kept)] = kept
        self.count = len(kept)

    def window(self, n: int | None = None) -> np.ndarray:
        """Return the last ``n`` samples (all by default), oldest first (empty before the
        first)."""
        held = min(self.count, self.size)
        n = held if n is None else min(n, held)
        end = self.count % self.size if self.count > self.size else self.count
        if n <= end:
            return self.buffer[end - n: end]
        return np.concatenate((self.buffer[self.size - (n - end):], self.buffer[:end]))


# ---------------------------------------------------------------------- the crowd


class StopDraw(NamedTuple):
    """The draws that place one stop: ``z_distance`` (standard normal) sets the percent and
    round-number distance, ``u_timeframe`` (uniform) the structure timeframe, ``offset``
    (exponential, mean 1) the offset beyond the level in units of ``stop_offset_bps``."""

    z_distance: float
    u_timeframe: float
    offset: float


@dataclass
class RetailStats:
    """Counts of what the crowd did since it was created."""

    arrivals: int = 0  # idle traders drawn to look at the chart
    entries: int = 0  # positions opened
    skipped: int = 0  # arrivals whose rule gave no signal
    too_small: int = 0  # arrivals whose size rounded to zero lots
    unfilled: int = 0  # market entries that found no liquidity
    rejects: int = 0  # orders the exchange rejected (see ``reject_reasons``)
    stops_placed: int = 0
    take_profits_placed: int = 0
    stops_fired: int = 0
    take_profits_filled: int = 0  # positions closed by their take-profit order
    hold_exits: int = 0  # positions closed at the end of their holding time
    nervous_exits: int = 0  # positions closed early while the chart was wild
    liquidations: int = 0
    other_closes: int = 0  # closed by something else (auto-deleveraging)
    stray_closes: int = 0  # unwanted positions (a stale order filled) closed at market
    reentries: int = 0  # liquidated traders back in the idle pool
    out: int = 0  # liquidated traders with no re-entry left, or too poor to trade
    entry_notional_usd: float = 0.0  # notional of every position opened
    entry_leverage_usd: float = 0.0  # the same, each times its account's leverage
    reject_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        """Return the counts as a plain dict."""
        return asdict(self)


class RetailCrowd(Trader):
    """``count`` leveraged retail traders on the perpetual, one isolated account each.

    Args:
        model: the market.
        params: the crowd's parameters (``agents.params.RetailParams``).
        venue: must be "perp" (the crowd trades the perpetual with leverage).

    Per-trader state lives in arrays indexed by trader (``status``, ``rule``, ``leverage``,
    ``side``, ``entry_t``, ``exit_t``, ``stop_order``, ``stop_ticks``, ``tp_order``,
    ``reentries_left``, ``next_eligible_t``); trader ``i`` owns account ``first_account + i``.
    """

    kind = "retail"
    stage = stages.RETAIL

    def __init__(self, model: MarketModel, params: RetailParams, venue: str = "perp",
                 kind: str = "retail") -> None:
        if venue != "perp":
            raise ValueError(f"venue must be 'perp' (retail trades the perpetual), got {venue!r}")
        super().__init__(model)
        self.kind = kind  # the cohort named in outputs: "retail", "holder", "scalper"
        self.params = params
        self.exchange = model.perp
        self.stats = RetailStats()
        self.last_step = {"arrivals": 0, "exits": 0, "returns": 0, "touched": 0, "examined": 0}
        cfg = self.exchange.config
        self.round_ticks = max(1, int(round(params.round_number_usd / cfg.tick_size)))
        self.near_ticks = int(params.round_near_fraction * self.round_ticks)
        sample_s = max(params.history_sample_s, model.step_s)
        chart_s = max(params.lookback_s, params.structure_max_lookback_s,
                      params.vol_slow_s
                      if params.vol_elasticity > 0 or params.vol_exit_elasticity > 0 else 0.0)
        self.history = PriceHistory(chart_s, sample_s)
        self.lookback_samples = samples_in(params.lookback_s, sample_s)
        self._vol_samples = (samples_in(params.vol_recent_s, sample_s),
                             samples_in(params.vol_slow_s, sample_s))
        self._vol_ratio, self._vol_next_t = 1.0, -math.inf
        self.stop_trigger = STOP_TRIGGERS[params.stop_trigger]
        self.count = n = int(params.count)
        rng = self.rng_stream = model.random_stream(f"perp/{kind}")
        # Re-entry delays are drawn per liquidation, so their count depends on the market: a
        # stream of their own keeps the arrivals' draws common to runs that differ elsewhere.
        self._reentry_rng = model.random_stream(f"perp/{kind}/reentry")
        self._exit_rng = model.random_stream(f"perp/{kind}/exits")  # early exits, likewise
        self.excitation = Excitation(params.arrival_rate_per_s, params.excitation, model.step_s)
        levs = np.array(sorted(params.leverage_mix), dtype=np.float64)
        lev_p = np.array([params.leverage_mix[v] for v in levs])
        lev_idx = rng.choice(len(levs), size=n, p=lev_p / lev_p.sum())
        wallets = round_significant(
            params.wallet * np.exp(params.wallet_sigma * rng.standard_normal(n)),
            params.wallet_significant_digits)
        # Traders are exchangeable: order them by (leverage, wallet) so that each group opens
        # its accounts in one call and trader i owns account first_account + i.
        order = np.lexsort((wallets, lev_idx))
        self.leverage = levs[lev_idx[order]]
        self.first_account = self._open_grouped(self.leverage, wallets[order])
        rule_p = np.array([params.rule_mix.get(r, 0.0) for r in RULES])
        self.rule = rng.choice(len(RULES), size=n, p=rule_p / rule_p.sum()).astype(np.int8)
        stop_p = np.array([params.stop_rule_mix.get(r, 0.0) for r in STOP_RULES])
        self.stop_rule = rng.choice(len(STOP_RULES), size=n,
                                    p=stop_p / stop_p.sum()).astype(np.int8)
        # Drawn from a stream of its own, so the crowd's other draws stay as they were.
        tp_p = np.array([params.take_profit_rule_mix.get(r, 0.0) for r in TAKE_PROFIT_RULES])
        self.tp_rule = model.random_stream(f"perp/{kind}/take_profit").choice(
            len(TAKE_PROFIT_RULES), size=n, p=tp_p / tp_p.sum()).astype(np.int8)
        self.status = np.full(n, IDLE, dtype=np.int8)
        self.side = np.zeros(n, dtype=np.int8)
        self.entry_t = np.full(n, np.nan)
        self.exit_t = np.full(n, np.inf)
        self.stop_order = np.zeros(n, dtype=np.int64)
        self.stop_ticks = np.zeros(n, dtype=np.int64)
        self.tp_order = np.zeros(n, dtype=np.int64)
        self.reentries_left = np.full(n, params.reentry_budget, dtype=np.int64)
        self.next_eligible_t = np.zeros(n)
        self.idle_pool = np.arange(n, dtype=np.int64)  # idle traders in idle_pool[:n_idle]
        self.n_idle = n
        self._exits: list[tuple[float, int]] = []  # (exit time, trader), stale entries skipped
        self._returns: list[tuple[float, int]] = []  # (eligible time, trader)
        self.holding_s: list[float] = []  # how long each closed or liquidated position was held

    def _open_grouped(self, leverage: np.ndarray, wallets: np.ndarray) -> int:
        """Open one account per trader, one call per (leverage, wallet); return the first id."""
        n = len(leverage)
        if n == 0:
            return 0
        change = np.flatnonzero((np.diff(leverage) != 0) | (np.diff(wallets) != 0)) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [n]))
        first = -1
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            ids = self.open_accounts(e - s, float(wallets[s]), float(leverage[s]))
            if first < 0:
                first = int(ids[0])
            if int(ids[0]) != first + s:
                raise RuntimeError("retail accounts must be opened as one contiguous block")
        return first

    # ------------------------------------------------------------------ the step

    def act(self) -> None:
        """Settle what happened to the crowd's accounts, then exits, returns and arrivals."""
        if self.count == 0:
            return
        t = self.model.t
        self.history.record(t, self._chart_price_ticks())
        touched = self._reconcile(t)
        returns = self._release_waiting(t)
        exits = self._exit_due(t) + self._nervous_exits(t)
        arrivals = self._arrive(t)
        self.last_step = {"arrivals": arrivals, "exits": exits, "returns": returns,
                          "touched": touched, "examined": arrivals + exits + returns + touched}

    def _chart_price_ticks(self) -> int:
        ex = self.exchange
        last = ex.last_price_ticks()
        if last is not None:
            return last
        bid, ask = ex.best_bid_ticks(), ex.best_ask_ticks()
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        return ex.to_ticks(self.model.index)

    def _reconcile(self, t: float) -> int:
        """Update traders whose accounts traded or were liquidated last step; return how many.

        The crowd's accounts are one contiguous block, so membership is a range test on the
        fills' accounts (the same set as ``model.account_owner == unique_id``): O(fills).
        """
        fills, liqs = self.model.fills, self.model.liquidations
        if len(fills) == 0 and len(liqs) == 0:
            return 0
        lo, hi = self.first_account, self.first_account + self.count
        accounts = np.concatenate((fills["maker_account"], fills["taker_account"],
                                   liqs["account"]))
        accounts = accounts[(accounts >= lo) & (accounts < hi)]
        if accounts.size == 0:
            return 0
        traders = np.unique(accounts - lo)
        liq_accounts = liqs["account"]
        liq_accounts = liq_accounts[(liq_accounts >= lo) & (liq_accounts < hi)] - lo
        stop_fills = fills["taker_order"][(fills["flags"] & FLAG_STOP) != 0]
        stop_ids = self.stop_order[traders]
        tp_ids = self.tp_order[traders]
        liquidated = _member(traders, liq_accounts)
        fired = (stop_ids > 0) & _member(stop_ids, stop_fills)
        tp_hit = (tp_ids > 0) & _member(tp_ids, fills["maker_order"])
        positions = self.exchange.positions_lots(traders + lo)
        stats = self.stats
        stats.stops_fired += int(fired.sum())
        for k, i in enumerate(traders.tolist()):
            pos = int(positions[k])
            if liquidated[k]:
                self._after_liquidation(i, pos, t)
                continue
            status = self.status[i]
            if status != OPEN:
                if pos != 0:  # cannot happen while orders are cancelled on close; be safe
                    stats.stray_closes += 1
                    self._market_close(i, pos)
                continue
            if pos == 0:
                if fired[k]:
                    pass  # counted above
                elif tp_hit[k]:
                    stats.take_profits_filled += 1
                else:
                    stats.other_closes += 1
                self._close(i, t)
            elif pos * int(self.side[i]) < 0:  # a stale take-profit flipped the position
                stats.stray_closes += 1
                self._close(i, t)
        return len(traders)

    def _after_liquidation(self, i: int, pos: int, t: float) -> None:
        """Book a liquidation; the trader waits to re-enter, or is out when its budget is spent."""
        self.stats.liquidations += 1
        # The liquidation engine cancelled the account's orders.
        self.stop_order[i] = 0
        self.tp_order[i] = 0
        self.stop_ticks[i] = 0
        self.side[i] = 0
        self.exit_t[i] = np.inf
        if pos != 0:
            self.stats.stray_closes += 1
            self._market_close(i, pos)
        self.holding_s.append(t - float(self.entry_t[i]))
        left = int(self.reentries_left[i])
        if left > 0:
            self.reentries_left[i] = left - 1
            delay = self._reentry_rng.exponential(self.params.reentry_delay_s)
            self.next_eligible_t[i] = t + delay
            self.status[i] = WAITING
            heapq.heappush(self._returns, (t + delay, i))
        else:
            self.status[i] = OUT
            self.stats.out += 1

    def _release_waiting(self, t: float) -> int:
        """Return liquidated traders whose wait is over to the idle pool; return how many."""
        n = 0
        while self._returns and self._returns[0][0] <= t + 1e-9:
            _, i = heapq.heappop(self._returns)
            n += 1
            if self.status[i] == WAITING:
                self.stats.reentries += 1
                self._to_idle(i)
        return n

    def _exit_due(self, t: float) -> int:
        """Close the positions whose holding time is over; return the schedule entries seen."""
        n = 0
        while self._exits and self._exits[0][0] <= t + 1e-9:
            exit_t, i = heapq.heappop(self._exits)
            n += 1
            if self.status[i] != OPEN or self.exit_t[i] != exit_t:
                continue  # closed earlier, or rescheduled
            if self._close(i, t):
                self.stats.hold_exits += 1
        return n

    # ------------------------------------------------------------------ closing

    def _close(self, i: int, t: float) -> bool:
        """Cancel the trader's orders and close what is left at market; True once flat.

        A close that the book cannot fill is retried next step.
        """
        ex = self.exchange
        account = self.first_account + i
        for orders in (self.stop_order, self.tp_order):
            oid = int(orders[i])
            if oid > 0:
                ex.cancel(account, oid)  # UNKNOWN_ORDER when it already filled or fired
                orders[i] = 0
        self.stop_ticks[i] = 0
        pos = ex.position_lots(account)
        if pos != 0:
            pos = self._market_close(i, pos)
        if pos != 0:
            retry = t + self.model.step_s
            self.exit_t[i] = retry
            heapq.heappush(self._exits, (retry, i))
            return False
        self.holding_s.append(t - float(self.entry_t[i]))
        self._to_idle(i)
        return True

    def _market_close(self, i: int, pos: int) -> int:
        """Send a reduce-only MARKET order against ``pos``; return the position left."""
        account = self.first_account + i
        res = self.exchange.submit(account, -1 if pos > 0 else 1, MARKET, abs(pos),
                                   reduce_only=True)
        if res.status != Status.OK:
            self._reject(res.status)
        return self.exchange.position_lots(account)

    def _to_idle(self, i: int) -> None:
        self.status[i] = IDLE
        self.side[i] = 0
        self.exit_t[i] = np.inf
        self.idle_pool[self.n_idle] = i
        self.n_idle += 1

    def _reject(self, status: Status) -> None:
        self.stats.rejects += 1
        name = Status(status).name
        self.stats.reject_reasons[name] = self.stats.reject_reasons.get(name, 0) + 1

    # ------------------------------------------------------------------ arrivals

    def _arrive(self, t: float) -> int:
        """Draw this step's arrivals from the idle pool and let each one trade; return how many."""
        p = self.params
        rng = self.rng_stream
        m = self.model
        rate = self.excitation.rate_with_baseline(self._volatility_multiple(t))
        k = min(int(rng.poisson(rate * m.step_s)), self.n_idle)
        self.excitation.update(k, m.move_bps, m.liquidated_usd)
        if k == 0:
            return 0
        u_pick = rng.random(k)
        u_tie = rng.random(k)
        z_size = rng.standard_normal(k)
        u_stop = rng.random(k)
        hold = rng.exponential(p.hold_time_s, k)
        z_distance = rng.standard_normal(k)
        u_timeframe = rng.random(k)
        e_offset = rng.exponential(1.0, k)
        u_funding = rng.random(k) if p.funding_aversion > 0 else None
        window = self.history.window(self.lookback_samples)
        chosen = []
        for j in range(k):  # swap-remove k distinct traders from the pool
            slot = int(u_pick[j] * self.n_idle)
            chosen.append(int(self.idle_pool[slot]))
            self.n_idle -= 1
            self.idle_pool[slot] = self.idle_pool[self.n_idle]
        self.stats.arrivals += k
        for j, i in enumerate(chosen):
            side = entry_side(int(self.rule[i]), window, self.round_ticks, self.near_ticks,
                              float(u_tie[j]), p.long_bias)
            if side == 0 or (u_funding is not None
                             and u_funding[j] < self._funding_deterrence(side)):
                self.stats.skipped += 1
                self._to_idle(i)
                continue
            stop = (StopDraw(float(z_distance[j]), float(u_timeframe[j]), float(e_offset[j]))
                    if u_stop[j] < p.stop_loss_prob else None)
            self.open_position(i, side, t, float(z_size[j]), stop, float(hold[j]))
        return k

    def _volatility_multiple(self, t: float) -> float:
        """Return the arrival rate's multiple for the chart's volatility: (recent over slow
        realized volatility) ** ``vol_elasticity`` within [1/5, 5] (1 without elasticity)."""
        if self.params.vol_elasticity == 0.0:
            return 1.0
        ratio = self._volatility_ratio(t)
        return min(max(ratio ** self.params.vol_elasticity, 0.2), 5.0)

    def _volatility_ratio(self, t: float) -> float:
        """Return the chart's recent over slow realized volatility, refreshed once a minute;
        1 until the chart holds the recent window."""
        if t + 1e-9 < self._vol_next_t:
            return self._vol_ratio
        self._vol_next_t = t + _VOL_REFRESH_S
        n_recent, n_slow = self._vol_samples
        prices = self.history.window(n_slow)
        if len(prices) <= n_recent:
            return self._vol_ratio
        moves = np.diff(np.log(prices.astype(np.float64)))
        slow, recent = float(moves.std()), float(moves[1 - n_recent:].std())
        self._vol_ratio = recent / slow if slow > 0 else 1.0
        return self._vol_ratio

    def _nervous_exits(self, t: float) -> int:
        """Close positions early while the chart is wild: beyond the holding-time exits, each
        open position closes at the rate ``(ratio ** vol_exit_elasticity - 1) / hold_time_s``
        (``ratio``: recent over slow volatility; the multiple at most 5). Candidates are drawn
        from the whole crowd and only open ones close, which gives that rate per open position
        without a scan. Return how many closed."""
        p = self.params
        if p.vol_exit_elasticity == 0.0:
            return 0
        extra = min(self._volatility_ratio(t) ** p.vol_exit_elasticity, 5.0) - 1.0
        if extra <= 0.0:
            return 0
        rng = self._exit_rng
        k = int(rng.poisson(self.count * extra * self.model.step_s / p.hold_time_s))
        closed = 0
        for i in rng.integers(0, self.count, size=k).tolist():
            if self.status[i] == OPEN and self._close(i, t):
                self.stats.nervous_exits += 1
                closed += 1
        return closed

    def _funding_deterrence(self, side: int) -> float:
        """Return the probability that a would-be entrant on ``side`` stays out for funding:
        ``funding_aversion`` per 0.01 % that longs pay above the 0.01 % baseline (longs), or
        that shorts pay (a negative rate: shorts), at most 1. The rate is the venue's
        predicted funding, the figure its screen shows."""
        rate = self.exchange.predicted_funding_rate
        excess = (rate - FUNDING_BASELINE) if side == BUY else -rate
        return min(1.0, self.params.funding_aversion * max(excess, 0.0) / FUNDING_BASELINE)

    def open_position(self, i: int, side: int, t: float, size_z: float, stop: StopDraw | None,
                      hold_s: float) -> bool:
        """Open trader ``i``'s position at market with its stop and take-profit; True if filled.

        ``size_z`` is the standard normal draw of the size; ``stop`` the draws of its stop
        (None: no stop). The trader must be out of the idle pool; if nothing is opened it goes
        back to it (or out, when its wallet cannot buy one lot).
        """
        ex = self.exchange
        cfg = ex.config
        account = self.first_account + i
        best = ex.best_ask_ticks() if side == BUY else ex.best_bid_ticks()
        if best is None:
            self.stats.unfilled += 1
            self._to_idle(i)
            return False
        notional, most = self.entry_notional(i, size_z)
        lot_value = best * cfg.tick_size * cfg.lot_size
        lots = int(notional / lot_value)
        if lots < 1:
            self.stats.too_small += 1
            if most < lot_value:
                self.status[i] = OUT
                self.stats.out += 1
            else:
                self._to_idle(i)
            return False
        res = ex.submit(account, side, MARKET, lots)
        if res.status != Status.OK:
            self._reject(res.status)
        pos = ex.position_lots(account)
        if pos == 0:
            if res.status == Status.OK:
                self.stats.unfilled += 1
            self._to_idle(i)
            return False
        self.stats.entries += 1
        entry = ex.entry_price_usd(account)
        qty = abs(pos)
        self.stats.entry_notional_usd += qty * cfg.lot_size * entry
        self.stats.entry_leverage_usd += qty * cfg.lot_size * entry * float(self.leverage[i])
        self.status[i] = OPEN
        self.side[i] = side
        self.entry_t[i] = t
        self.exit_t[i] = t + hold_s
        heapq.heappush(self._exits, (t + hold_s, i))
        if stop is not None:
            self._place_stop(i, side, qty, entry, stop)
        tp = self.take_profit_for(i, side, entry, int(self.stop_ticks[i]))
        if tp > 0:
            self.rest_take_profit(i, side, qty, tp)
        return True

    def entry_notional(self, i: int, size_z: float) -> tuple[float, float]:
        """Return (the notional trader ``i`` wants for a size draw ``size_z``, the most its
        wallet allows), both USD: margin = wallet x margin_fraction x lognormal, capped so the
        opening and closing taker fees still fit (the venues' "max" size), times leverage,
        within the leverage tier's position limit."""
        p = self.params
        ex = self.exchange
        account = self.first_account + i
        leverage = float(self.leverage[i])
        wallet = ex.wallet_usd(account)
        max_margin = wallet / (1.0 + 2.0 * leverage * ex.config.taker_fee)
        margin = min(wallet * p.margin_fraction * math.exp(p.size_sigma * size_z), max_margin)
        notional = min(margin * leverage, 0.999 * ex.max_position_notional_usd(account))
        return notional, max_margin * leverage

    def take_profit_for(self, i: int, side: int, entry: float, stop_ticks: int) -> int:
        """Return trader ``i``'s take-profit price (ticks; 0 for none) for a ``side`` position
        entered at ``entry`` (USD) with its stop at ``stop_ticks`` (0: none)."""
        p = self.params
        return take_profit_level_ticks(int(self.tp_rule[i]), side, entry, p.take_profit_pct,
                                       stop_ticks, p.take_profit_risk_multiple,
                                       self.exchange.config.tick_size, self.round_ticks)

    def _place_stop(self, i: int, side: int, qty: int, entry: float, draw: StopDraw) -> None:
        margin = max(self.exchange.position_margin_usd(self.first_account + i), 0.0)
        stop = self.stop_ticks_for(i, side, qty, entry, margin, draw, self.history.window)
        if stop > 0:
            self.rest_stop(i, side, qty, stop)

    def stop_ticks_for(self, i: int, side: int, qty: int, entry: float, margin: float,
                       draw: StopDraw, chart: Callable[[int], np.ndarray]) -> int:
        """Return the stop price (ticks; 0 for none) trader ``i``'s habit gives a ``side``
        position of ``qty`` lots entered at ``entry`` (USD) on ``margin`` (USD); ``chart(n)``
        returns the last ``n`` samples of the chart it reads, oldest first."""
        p = self.params
        cfg = self.exchange.config
        entry_ticks = int(round(entry / cfg.tick_size))
        rule = int(self.stop_rule[i])
        distance = p.stop_distance_pct * math.exp(p.stop_distance_sigma * draw.z_distance)
        swing = _NO_SWING
        if rule == STRUCTURE_STOP:
            timeframe_s = p.lookback_s * (p.structure_max_lookback_s
                                          / p.lookback_s) ** draw.u_timeframe
            swing = chart(samples_in(timeframe_s, self.history.interval_s))
        level = stop_level_ticks(rule, side, entry_ticks, distance, swing, self.round_ticks)
        offset = 0 if rule == PERCENT_STOP else int(
            round(entry_ticks * p.stop_offset_bps * 1e-4 * draw.offset))
        liq = liquidation_price(side, qty * cfg.lot_size, entry, margin, cfg.tiers)
        return stop_beyond_ticks(side, entry_ticks, level, offset, liq / cfg.tick_size)

    def rest_stop(self, i: int, side: int, qty: int, stop_ticks: int) -> None:
        """Rest trader ``i``'s reduce-only stop against its ``side`` position of ``qty`` lots."""
        res = self.exchange.submit(self.first_account + i, -side, STOP_MARKET, qty, stop_ticks,
                                   trigger=self.stop_trigger, reduce_only=True)
        if res.status == Status.OK:
            self.stats.stops_placed += 1
            self.stop_order[i] = res.order_id
            self.stop_ticks[i] = stop_ticks
        else:
            self._reject(res.status)

    def rest_take_profit(self, i: int, side: int, qty: int, tp_ticks: int) -> None:
        """Rest trader ``i``'s take-profit LIMIT against its ``side`` position of ``qty`` lots."""
        res = self.exchange.submit(self.first_account + i, -side, LIMIT, qty, tp_ticks)
        if res.status == Status.OK:
            self.stats.take_profits_placed += 1
            self.tp_order[i] = res.order_id
        else:
            self._reject(res.status)

    def adopt_position(self, i: int, side: int, entry_t: float, exit_t: float) -> None:
        """Book trader ``i`` as holding its account's ``side`` position since ``entry_t``,
        closing at ``exit_t`` (a warm start's positions, ``agents.warm_start``). The caller
        rebuilds the idle pool once it has adopted every position (``rebuild_idle_pool``)."""
        self.status[i] = OPEN
        self.side[i] = side
        self.entry_t[i] = entry_t
        self.exit_t[i] = exit_t
        heapq.heappush(self._exits, (exit_t, i))

    def rebuild_idle_pool(self) -> None:
        """Put every idle trader, and only those, in the idle pool (O(count): at set-up)."""
        idle = np.flatnonzero(self.status == IDLE)
        self.idle_pool[: len(idle)] = idle
        self.n_idle = len(idle)

    # ------------------------------------------------------------------ reporting

    def summary(self) -> dict[str, float | int | None]:
        """Return the crowd's figures for a run's manifest: positions opened and how they
        ended, the median holding time of the positions that ended (s) and the
        notional-weighted leverage of the positions opened."""
        st = self.stats
        return {"entries": st.entries, "liquidations": st.liquidations,
                "stops_fired": st.stops_fired, "take_profits_filled": st.take_profits_filled,
                "hold_exits": st.hold_exits,
                "median_holding_s": (round(float(np.median(self.holding_s)), 1)
                                     if self.holding_s else None),
                "notional_weighted_leverage": (round(st.entry_leverage_usd
                                                     / st.entry_notional_usd, 2)
                                               if st.entry_notional_usd > 0 else None)}

    def counts_by_status(self) -> dict[str, int]:
        """Return how many traders are idle, open, waiting and out (O(count): not per step)."""
        counts = np.bincount(self.status, minlength=4)
        return {"idle": int(counts[IDLE]), "open": int(counts[OPEN]),
                "waiting": int(counts[WAITING]), "out": int(counts[OUT])}
