"""The whale: a manipulator that hunts liquidation clusters (a stop hunt, or a short squeeze).

It reads a liquidation heatmap, picks the cluster with the best payoff per unit of push cost,
takes the side that profits from that cluster's cascade, walks the price into it and closes
into the forced flow. This is the trade the folklore of "stop hunts" describes (e.g. Binance
Academy, 'What Is a Stop Hunt?'): liquidations and stop-losses are market orders released at
known prices, so whoever pushes price through them gets a burst of one-sided flow to trade
against. Every decision is logged so that a class can follow it on the heatmap.

The state machine, one phase at a time:

- ``idle``: every ``scout_interval_s`` while active, it goes to ``scout``.
- ``scout`` (within one step): read the heatmap, score the clusters (``score_clusters``), pick
  one (``choose_target``); on to ``build``, or back to ``idle`` when none qualifies.
- ``build``: to hunt a LONG cluster below the price it builds a SHORT position (it will buy
  the forced selling back cheaper), quietly, with POST_ONLY orders at the touch of the far
  side (the best ask), one clip of ``build_clip_notional`` at a time, up to
  ``build_share x max_position_notional``, for at most ``build_s``. Leftovers are cancelled.
- ``push``: market orders of ``push_clip_notional`` every ``push_interval_s`` toward the
  cluster, until the liquidation trigger price (mark or last, as the venue is configured)
  crosses the cluster's centre; it aborts when ``push_budget_notional`` is spent, the position
  limit is reached, the book is empty or an order is rejected.
- ``harvest``: close the position into the cascade: a ladder of passive bids from the touch
  down (``harvest_levels`` levels ``harvest_spacing_bps`` apart), and a market buy as large as
  the liquidated size it saw in the previous step; whatever is left at ``harvest_s`` is closed
  at market (reduce-only) in clips of ``push_clip_notional``, one per ``push_interval_s``.
- ``cooldown``: wait ``cooldown_s``, then ``idle``.

Short clusters above the price are the mirror image (build long, push up, sell into the
squeeze). Leaving the active window (or ``set_active(False)``) during ``build`` or ``push``
aborts the hunt into ``harvest``, so the whale never walks away from an open position.

Events (``model.log_event``; agent ``"whale"``):

- ``phase``: ``"<old> -> <new>: <reason>"``, on every phase change;
- ``target``: the chosen cluster and its numbers (``Cluster.describe``);
- ``active``: ``"on"`` or ``"off"`` from ``set_active``.

Each finished hunt is a typed ``HuntRecord`` in ``hunts`` (the run's ``hunts.parquet``).

The position limit holds on entry notional (lots x lot size x entry price): resting build
orders are counted at their limit price and full size, push clips are sized so that the
book walk they would take stays inside the limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from agents import stages
from agents.base import Trader
from agents.params import WhaleParams
from sim.exchange import BUY, FLAG_STOP, LIMIT, MARKET, POST_ONLY, SELL, TRIGGER_LAST, Status
from sim.heatmap import price_edges, true_heatmap
from sim.model import MarketModel
from sim.result import HuntRecord

IDLE = "idle"
SCOUT = "scout"
BUILD = "build"
PUSH = "push"
HARVEST = "harvest"
COOLDOWN = "cooldown"

_DEFAULTS = WhaleParams()  # the pure functions below default to the whale's defaults

HeatmapReader = Callable[[MarketModel], tuple[np.ndarray, np.ndarray, np.ndarray]]
DepthCost = Callable[[int, float], float]


@dataclass(frozen=True)
class Cluster:
    """A run of dense heatmap bins on one side of the price, scored as a hunting target.

    Attributes:
        side: ``"long"`` (long positions liquidated below the price) or ``"short"`` (above).
        low, high: price range of the cluster's bins (USD).
        centre: notional-weighted centre of the bins (USD); the push ends when the trigger
            price crosses it.
        near_edge: the cluster's edge nearest the price (USD); the push cost is measured to it.
        liquidation_notional: open notional liquidated in the cluster (USD).
        stop_notional: resting stop orders that would fire in the cluster (USD).
        payoff: ``liquidation_notional + stop_notional``.
        depth_cost: USD of resting orders a taker walks to move the price to ``near_edge``.
        distance_pct: ``|price - near_edge| / price``.
        cost: ``depth_cost + 100 x distance_pct x distance_cost_per_pct``.
        ratio: ``payoff / cost``.
    """

    side: str
    low: float
    high: float
    centre: float
    near_edge: float
    liquidation_notional: float
    stop_notional: float
    payoff: float
    depth_cost: float
    distance_pct: float
    cost: float
    ratio: float

    @property
    def push_side(self) -> int:
        """Return the side of the push: SELL toward longs below, BUY toward shorts above."""
        return SELL if self.side == "long" else BUY

    def describe(self) -> str:
        """Return the cluster's numbers as ``key=value`` pairs, for the event log."""
        return (f"side={self.side} centre={self.centre:.1f} range={self.low:.1f}-{self.high:.1f} "
                f"notional={self.payoff:.0f} liquidations={self.liquidation_notional:.0f} "
                f"stops={self.stop_notional:.0f} cost={self.cost:.0f} "
                f"depth={self.depth_cost:.0f} distance={100 * self.distance_pct:.2f}% "
                f"ratio={self.ratio:.2f}")


# ---------------------------------------------------------------- scoring (pure functions)


def dense_runs(notional: np.ndarray, eligible: np.ndarray,
               dense_bin_ratio: float = _DEFAULTS.dense_bin_ratio) -> list[tuple[int, int]]:
    """Return (first, last) bin indices of each run of contiguous dense eligible bins.

    A bin is dense when it is eligible, holds notional > 0 and at least ``dense_bin_ratio``
    times the mean over the eligible bins: clusters are runs of above-average bins.
    """
    if not eligible.any():
        return []
    level = dense_bin_ratio * float(notional[eligible].mean())
    dense = eligible & (notional > 0) & (notional >= level)
    padded = np.concatenate(([False], dense, [False])).astype(np.int8)
    change = np.diff(padded)
    starts = np.flatnonzero(change == 1)
    ends = np.flatnonzero(change == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def score_clusters(edges: np.ndarray, long_usd: np.ndarray, short_usd: np.ndarray,
                   price: float, depth_cost: DepthCost, *,
                   long_stops_usd: np.ndarray | None = None,
                   short_stops_usd: np.ndarray | None = None,
                   distance_cost_per_pct: float = _DEFAULTS.distance_cost_per_pct,
                   dense_bin_ratio: float = _DEFAULTS.dense_bin_ratio) -> list[Cluster]:
    """Return every cluster of the heatmap on its reachable side of ``price``, scored.

    Long liquidations count only in bins wholly below ``price`` and short ones only in bins
    wholly above it. Sell stops (``long_stops_usd``) add to the long side's payoff, buy stops
    to the short side's. ``depth_cost(taker_side, price_usd)`` returns the USD a taker must
    take to move the best price to ``price_usd``. ``distance_cost_per_pct`` and
    ``dense_bin_ratio`` are ``WhaleParams``'.
    """
    edges = np.asarray(edges, dtype=np.float64)
    n = len(edges) - 1
    zeros = np.zeros(n)
    out: list[Cluster] = []
    for side, liq, stops in (("long", long_usd, long_stops_usd),
                             ("short", short_usd, short_stops_usd)):
        liq = np.asarray(liq, dtype=np.float64)
        stops = zeros if stops is None else np.asarray(stops, dtype=np.float64)
        total = liq + stops
        eligible = edges[1:] <= price if side == "long" else edges[:-1] >= price
        for first, last in dense_runs(total, eligible, dense_bin_ratio):
            low, high = float(edges[first]), float(edges[last + 1])
            mids = 0.5 * (edges[first:last + 1] + edges[first + 1:last + 2])
            weights = total[first:last + 1]
            payoff = float(weights.sum())
            centre = float((mids * weights).sum() / payoff)
            near_edge = high if side == "long" else low
            distance = abs(price - near_edge) / price
            depth = float(depth_cost(SELL if side == "long" else BUY, near_edge))
            cost = depth + 100.0 * distance * distance_cost_per_pct
            ratio = payoff / cost if cost > 0 else math.inf
            out.append(Cluster(side, low, high, centre, near_edge,
                               float(liq[first:last + 1].sum()),
                               float(stops[first:last + 1].sum()), payoff, depth, distance,
                               cost, ratio))
    return out


def choose_target(clusters: list[Cluster], *, min_cluster_notional: float,
                  min_payoff_ratio: float, max_distance_pct: float) -> Cluster | None:
    """Return the qualifying cluster with the best payoff/cost ratio, or None.

    A cluster qualifies with payoff >= ``min_cluster_notional``, ratio >= ``min_payoff_ratio``
    and 0 < distance <= ``max_distance_pct``. Ties go to the nearer cluster, then the lower.
    """
    ok = [c for c in clusters
          if c.payoff >= min_cluster_notional and c.ratio >= min_payoff_ratio
          and 0 < c.distance_pct <= max_distance_pct]
    if not ok:
        return None
    return min(ok, key=lambda c: (-c.ratio, c.distance_pct, c.low))


# ---------------------------------------------------------------- reading the market


def bin_width_usd(price: float, tick_size: float,
                  bin_fraction: float = _DEFAULTS.bin_fraction) -> float:
    """Return a bin width of about ``bin_fraction`` of ``price``, a whole number of ticks."""
    return max(1, round(price * bin_fraction / tick_size)) * tick_size


def mark_grid_reader(range_pct: float,
                     binned: Callable[[MarketModel, np.ndarray], tuple[np.ndarray, np.ndarray]],
                     bin_fraction: float = _DEFAULTS.bin_fraction) -> HeatmapReader:
    """Return a reader of a map on a grid of +/- ``range_pct`` around the mark.

    ``binned(model, edges)`` returns the map's (long_usd, short_usd) on ``edges``; the bins
    are ``bin_width_usd(mark, tick, bin_fraction)`` wide.
    """

    def read(model: MarketModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mark = model.perp.mark_price
        width = bin_width_usd(mark, model.perp.config.tick_size, bin_fraction)
        edges = price_edges(mark, range_pct, width)
        long_usd, short_usd = binned(model, edges)
        return edges, long_usd, short_usd

    return read


def true_heatmap_reader(range_pct: float,
                        bin_fraction: float = _DEFAULTS.bin_fraction) -> HeatmapReader:
    """Return a reader of the true heatmap on a grid of +/- ``range_pct`` around the mark."""
    return mark_grid_reader(range_pct, lambda model, edges: true_heatmap(model.perp, edges),
                            bin_fraction)


# ---------------------------------------------------------------- the agent


class Whale(Trader):
    """A manipulator: idle -> scout -> build -> push -> harvest -> cooldown (module docstring).

    One whale owns one perpetual account (``params.wallet`` at ``params.leverage``);
    ``params.count`` is for the caller, who creates that many whales.

    Args:
        model: the market.
        params: ``WhaleParams``.
        venue: must be ``"perp"``: liquidations exist only on the perpetual.
        heatmap_reader: ``(model) -> (edges, long_usd, short_usd)``; defaults to the true
            heatmap for ``params.heatmap == "true"`` and is required for ``"estimated"``.

    Attributes:
        phase: the current phase name.
        target: the cluster of the hunt in progress, or None.
        hunts: one ``sim.result.HuntRecord`` per finished hunt (``hunts.parquet``).
    """

    kind = "whale"
    stage = stages.WHALE

    def __init__(self, model: MarketModel, params: WhaleParams, venue: str = "perp",
                 heatmap_reader: HeatmapReader | None = None) -> None:
        if venue != "perp":
            raise ValueError(f"venue must be 'perp' (liquidations exist only on the "
                             f"perpetual), got {venue!r}")
        if params.heatmap == "estimated" and heatmap_reader is None:
            raise ValueError("WhaleParams.heatmap='estimated' needs a heatmap_reader of the "
                             "public estimate (sim.heatmap_estimate), a callable (model) -> "
                             "(edges, long_usd, short_usd); or use heatmap='true'")
        super().__init__(model)
        self.params = params
        self.exchange = model.perp
        self.account = int(self.open_accounts(1, params.wallet, params.leverage)[0])
        self.read_heatmap = heatmap_reader or true_heatmap_reader(params.max_distance_pct,
                                                                  params.bin_fraction)
        self.count_stops = params.heatmap == "true"
        self.phase = IDLE
        self.phase_since = model.t
        self.target: Cluster | None = None
        self.hunts: list[HuntRecord] = []
        self._override: bool | None = None
        self._next_scout_t = -math.inf
        self._next_push_t = -math.inf
        self._hunt: dict = {}
        self._resting: dict[int, tuple[int, int]] = {}  # order id -> (price ticks, lots)
        self._ladder_key: tuple[int, int] | None = None

    # ------------------------------------------------------------ public controls

    @property
    def active(self) -> bool:
        """Return whether the whale may start or carry on a hunt now.

        ``set_active`` overrides the ``[active_from_s, active_to_s)`` window from then on.
        """
        if self._override is not None:
            return self._override
        return self.params.active_from_s <= self.model.t < self.params.active_to_s

    def set_active(self, active: bool) -> None:
        """Switch the whale on or off (a scheduled ``whale_active`` event)."""
        self._override = bool(active)
        self.model.log_event(self.kind, "active", "on" if active else "off")

    def act(self) -> None:
        """Advance the state machine by one step."""
        phase = self.phase
        if phase in (PUSH, HARVEST):
            self._observe_forced_flow()
        if phase == IDLE:
            if self.active and self.model.t >= self._next_scout_t:
                self._scout()
        elif phase == BUILD:
            self._build()
        elif phase == PUSH:
            self._push()
        elif phase == HARVEST:
            self._harvest()
        elif phase == COOLDOWN and self.model.t >= self.phase_since + self.params.cooldown_s:
            self._set_phase(IDLE, "cooldown over")
            self._next_scout_t = self.model.t

    # ------------------------------------------------------------ phases

    def _scout(self) -> None:
        self._set_phase(SCOUT, "reading the heatmap")
        p = self.params
        self._next_scout_t = self.model.t + p.scout_interval_s
        edges, long_usd, short_usd = self._read_map()
        long_stops = short_stops = None
        if self.count_stops:
            long_stops, short_stops = self.exchange.resting_stop_notional_usd(edges)
        price = self._trigger_price()
        clusters = score_clusters(edges, long_usd, short_usd, price, self._depth_cost_usd,
                                  long_stops_usd=long_stops, short_stops_usd=short_stops,
                                  distance_cost_per_pct=p.distance_cost_per_pct,
                                  dense_bin_ratio=p.dense_bin_ratio)
        target = choose_target(clusters, min_cluster_notional=p.min_cluster_notional,
                               min_payoff_ratio=p.min_payoff_ratio,
                               max_distance_pct=p.max_distance_pct)
        if target is None:
            best = max(clusters, key=lambda c: c.ratio, default=None)
            why = f"no target among {len(clusters)} clusters at price {price:.1f}"
            if best is not None:
                why += f" (best: {best.describe()})"
            self._set_phase(IDLE, why)
            return
        self.target = target
        self.model.log_event(self.kind, "target", f"price={price:.1f} {target.describe()}")
        ex, account = self.exchange, self.account
        self._hunt = {
            "start_t": self.model.t, "start_price": price,
            "build_end_t": math.nan, "push_end_t": math.nan,
            "built_lots": 0, "built_notional": 0.0, "pushed_notional": 0.0,
            "push_outcome": "", "liquidated_notional": 0.0, "stops_triggered_notional": 0.0,
            "peak_notional": 0.0,
            "_wallet": ex.wallet_usd(account), "_realized": ex.realized_pnl_usd(account),
            "_fees": ex.fees_paid_usd(account),
        }
        build = "short" if target.side == "long" else "long"
        self._set_phase(BUILD, f"building a {build} position to hunt the {target.side} "
                               f"cluster at {target.centre:.1f}")

    def _build(self) -> None:
        p = self.params
        side = self.target.push_side
        if not self.active:
            self._end_build()
            self._to_harvest("deactivated while building")
            return
        held = self._entry_notional()
        self._track_peak(held)
        timed_out = self.model.t >= self.phase_since + p.build_s
        touch = self._touch(side)
        if touch is None and self._touch(-side) is not None:
            touch = self._touch(-side) - side  # one tick inside an empty side
        if touch is None or timed_out:
            self._end_build()
            self._set_phase(PUSH, "build time up" if timed_out else "no touch to join")
            return
        live = set(self.exchange.open_orders(self.account))
        self._resting = {oid: v for oid, v in self._resting.items() if oid in live}
        for oid, (price, _) in list(self._resting.items()):
            if price != touch:  # the touch moved away: follow it
                self.exchange.cancel(self.account, oid)
                del self._resting[oid]
        lot = self.exchange.config.lot_size
        tick = self.exchange.config.tick_size
        resting = sum(lots * price * tick * lot for price, lots in self._resting.values())
        room = p.build_share * p.max_position_notional - held - resting
        if room < lot * touch * tick and not self._resting:
            self._end_build()
            self._set_phase(PUSH, f"position built: {held:.0f} USD")
            return
        if self._resting:
            return
        lots = int(min(p.build_clip_notional, room) / (lot * touch * tick))
        if lots <= 0:
            return
        res = self.exchange.submit(self.account, side, POST_ONLY, lots, touch)
        if res.status == Status.OK:
            self._resting[res.order_id] = (touch, lots)
        elif res.status != Status.POST_ONLY_WOULD_CROSS:
            self._end_build()
            self._set_phase(PUSH, f"build order rejected: {res.status.name}")

    def _end_build(self) -> None:
        self._cancel_all()
        pos = self._position()
        self._hunt["build_end_t"] = self.model.t
        self._hunt["built_lots"] = abs(pos)
        self._hunt["built_notional"] = self._entry_notional()

    def _push(self) -> None:
        p = self.params
        target = self.target
        side = target.push_side
        h = self._hunt
        if not self.active:
            self._to_harvest("deactivated while pushing", "deactivated")
            return
        price = self._trigger_price()
        if (price - target.centre) * side >= 0:  # SELL: price <= centre; BUY: price >= centre
            self._to_harvest(f"trigger price {price:.1f} crossed the centre "
                             f"{target.centre:.1f}", "target reached")
            return
        if h["pushed_notional"] >= p.push_budget_notional:
            self._to_harvest(f"push budget spent: {h['pushed_notional']:.0f} USD",
                             "budget spent")
            return
        if self.model.t < self._next_push_t:
            return
        self._next_push_t = self.model.t + p.push_interval_s
        held = self._entry_notional()
        room = p.max_position_notional - held
        clip = min(p.push_clip_notional, p.push_budget_notional - h["pushed_notional"], room)
        lots = self._push_lots(side, clip)
        if lots <= 0:
            why = ("position limit reached" if room < p.push_clip_notional
                   else "no liquidity to push into")
            self._to_harvest(why, why)
            return
        res = self.exchange.submit(self.account, side, MARKET, lots)
        if res.status != Status.OK or res.filled == 0:
            why = (f"push order rejected: {res.status.name}" if res.status != Status.OK
                   else "push order found no liquidity")
            self._to_harvest(why, why)
            return
        cfg = self.exchange.config
        h["pushed_notional"] += float((res.fills["price"] * res.fills["qty"]).sum()
                                      * cfg.tick_size * cfg.lot_size)
        self._track_peak(self._entry_notional())

    def _push_lots(self, side: int, clip_usd: float) -> int:
        """Return the lots of a market order whose fills would cost at most ``clip_usd``."""
        cfg = self.exchange.config
        best = self._touch(-side)
        if best is None or clip_usd <= 0:
            return 0
        lots = int(clip_usd / (best * cfg.tick_size * cfg.lot_size))
        if side == BUY and lots > 0:
            # Buys walk up the book: shrink the clip so its average price fits the budget.
            got, value = self.exchange.market_order_cost(BUY, lots)
            cost = value * cfg.tick_size * cfg.lot_size
            if got > 0 and cost > clip_usd:
                lots = int(got * clip_usd / cost)
        return lots

    def _to_harvest(self, reason: str, outcome: str = "") -> None:
        self._hunt["push_end_t"] = self.model.t
        self._hunt["push_outcome"] = outcome or reason
        self._set_phase(HARVEST, reason)
        self._harvest()

    def _harvest(self) -> None:
        pos = self._position()
        if pos == 0:
            self._finish_hunt("position closed")
            return
        close = -1 if pos > 0 else 1
        seen = self._hunt.get("_liq_lots_last", 0)
        if self.model.t >= self.phase_since + self.params.harvest_s:
            self._unwind(close, abs(pos))
            return
        if seen > 0:
            # Forced flow arrived last step: take the other side of it at the new prices.
            self._cancel_all()
            self.exchange.submit(self.account, close, MARKET, min(seen, abs(pos)),
                                 reduce_only=True)
            pos = self._position()
            if pos == 0:
                self._finish_hunt("position closed into the forced flow")
                return
        self._refresh_ladder(close, abs(pos))

    def _unwind(self, side: int, lots: int) -> None:
        """Harvest time is up: close at market, one push clip per push interval.

        One market order for the whole position would walk the book by itself and print a
        wick against the whale; clips let the makers refill in between.
        """
        if self.model.t < self._next_push_t:
            return
        self._next_push_t = self.model.t + self.params.push_interval_s
        self._cancel_all()
        clip = min(lots, self._push_lots(side, self.params.push_clip_notional))
        if clip > 0:
            self.exchange.submit(self.account, side, MARKET, clip, reduce_only=True)
        if self._position() == 0:
            self._finish_hunt("harvest time up, unwound at market in clips")

    def _refresh_ladder(self, side: int, lots: int) -> None:
        """Keep ``harvest_levels`` passive closing orders for ``lots`` from the touch away."""
        anchor = self._touch(side)
        if anchor is None:
            anchor = self._touch(-side)
            if anchor is None:
                return
            anchor -= side  # one tick inside an empty side
        live = set(self.exchange.open_orders(self.account))
        if self._ladder_key == (anchor, lots) and all(o in live for o in self._resting):
            return
        self._cancel_all()
        self._ladder_key = (anchor, lots)
        p = self.params
        spacing = max(1, round(anchor * p.harvest_spacing_bps / 1e4))
        n = min(p.harvest_levels, lots)
        for k in range(n):
            qty = lots // n + (1 if k < lots % n else 0)
            price = anchor - side * k * spacing
            if price <= 0:
                break
            res = self.exchange.submit(self.account, side, LIMIT, qty, price)
            if res.status == Status.OK and res.filled < qty:
                self._resting[res.order_id] = (price, qty - res.filled)

    def _finish_hunt(self, reason: str) -> None:
        self._cancel_all()
        h, target = self._hunt, self.target
        ex, account = self.exchange, self.account
        record = HuntRecord(
            whale=self.account, map=self.params.heatmap, side=target.side,
            start_t=h["start_t"], build_end_t=h["build_end_t"], push_end_t=h["push_end_t"],
            end_t=self.model.t, start_price=h["start_price"], target_price=target.centre,
            target_low=target.low, target_high=target.high, target_notional=target.payoff,
            distance_pct=100.0 * target.distance_pct, built_notional=h["built_notional"],
            pushed_notional=h["pushed_notional"], peak_notional=h["peak_notional"],
            stops_triggered_notional=h["stops_triggered_notional"],
            liquidated_notional=h["liquidated_notional"], outcome=h["push_outcome"],
            end_reason=reason, pnl=ex.wallet_usd(account) - h["_wallet"],
            realized_pnl=ex.realized_pnl_usd(account) - h["_realized"],
            fees=ex.fees_paid_usd(account) - h["_fees"])
        self.hunts.append(record)
        self._hunt = {}
        self.target = None
        self._set_phase(COOLDOWN, f"{reason}; pnl {record.pnl:.0f} USD")

    # ------------------------------------------------------------ helpers

    def _set_phase(self, new: str, reason: str) -> None:
        self.model.log_event(self.kind, "phase", f"{self.phase} -> {new}: {reason}")
        self.phase = new
        self.phase_since = self.model.t

    def _observe_forced_flow(self) -> None:
        """Add last step's stops and liquidations of the hunted side to the hunt's tally.

        The hunted side's stops are orders on the push's side (a long cluster's stops sell),
        flagged ``FLAG_STOP`` on their fills; its liquidations are positions of that side.
        """
        cfg = self.exchange.config
        fills = self.model.fills
        stops = fills[((fills["flags"] & FLAG_STOP) != 0)
                      & (fills["taker_side"] == self.target.push_side)]
        self._hunt["stops_triggered_notional"] += float(
            (stops["price"] * stops["qty"]).sum() * cfg.tick_size * cfg.lot_size)
        liqs = self.model.liquidations
        hunted = 1 if self.target.side == "long" else -1
        mine = liqs[liqs["side"] == hunted]
        price = np.where(np.isfinite(mine["fill_price"]), mine["fill_price"],
                         mine["bankruptcy_price"])
        lot = self.exchange.config.lot_size
        self._hunt["liquidated_notional"] += float((mine["qty"] * lot * price).sum())
        self._hunt["_liq_lots_last"] = int(mine["qty"].sum())

    def _read_map(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the reader's (edges, long_usd, short_usd), checked for shape and order."""
        edges, long_usd, short_usd = (np.asarray(x, dtype=np.float64)
                                      for x in self.read_heatmap(self.model))
        n = len(edges) - 1
        if (edges.ndim != 1 or n < 1 or long_usd.shape != (n,) or short_usd.shape != (n,)
                or not (np.diff(edges) > 0).all()):
            raise ValueError("heatmap_reader must return (edges, long_usd, short_usd) with "
                             "increasing edges of length n + 1 and two arrays of length n; got "
                             f"shapes {edges.shape}, {long_usd.shape}, {short_usd.shape}")
        return edges, long_usd, short_usd

    def _trigger_price(self) -> float:
        """Return the price the venue's liquidations watch (mark, or last if so configured)."""
        ex = self.exchange
        if ex.config.liquidation_trigger == TRIGGER_LAST and ex.last_price is not None:
            return ex.last_price
        return ex.mark_price

    def _depth_cost_usd(self, taker_side: int, price_usd: float) -> float:
        cfg = self.exchange.config
        _, value = self.exchange.depth_to_price(taker_side, self.exchange.to_ticks(price_usd))
        return value * cfg.tick_size * cfg.lot_size

    def _touch(self, side: int) -> int | None:
        """Return the best price (ticks) of ``side``'s resting orders (BUY: bid), or None."""
        ex = self.exchange
        return ex.best_bid_ticks() if side == BUY else ex.best_ask_ticks()

    def _position(self) -> int:
        return self.exchange.position_lots(self.account)

    def _entry_notional(self) -> float:
        """Return the position's notional at its entry price (USD)."""
        ex = self.exchange
        return abs(self._position()) * ex.config.lot_size * ex.entry_price_usd(self.account)

    def _track_peak(self, notional: float) -> None:
        self._hunt["peak_notional"] = max(self._hunt["peak_notional"], notional)

    def _cancel_all(self) -> None:
        for oid in self._resting:
            self.exchange.cancel(self.account, oid)
        self._resting = {}
        self._ladder_key = None


__all__ = ["Cluster", "Whale", "choose_target", "dense_runs", "mark_grid_reader",
           "score_clusters", "true_heatmap_reader"]
