"""The whale: a manipulator that hunts liquidation clusters (a stop hunt, or a short squeeze).

It reads a liquidation heatmap, scores every cluster by the forced flow it expects to set
off against what the push would cost, takes the side that profits from the cascade, builds
that position passively, walks the price into the cluster and closes into the forced flow.
This is the trade the folklore of "stop hunts" describes (e.g. Binance Academy, 'What Is a
Stop Hunt?'): liquidations and stop-losses are market orders released at known prices, so
whoever pushes the price through them gets a burst of one-sided flow to trade against.
Every decision is logged so that a class can follow it on the heatmap.

What it sees. By default only public information: the public heatmap estimate
(``sim.heatmap_estimate``), the books of every venue, the tape (prices and net taker flow) and the
open interest. With ``heatmap: true`` it reads the true map and every resting stop, which no
exchange shows: an omniscient upper bound on what a manipulator could do.

How it sizes itself. By ratios to the market at the moment it picks a target: its largest
perp position is ``position_oi_share`` of the open interest (within its tier's limit), its
push budget ``push_depth_multiple`` times the depth within 1 % of the price on the push's
side of the books it pushes, one push order ``push_clip_depth_share`` of that depth, and a
cluster must hold ``min_cluster_oi_share`` of the open interest.

How it scores (``score_clusters``). Forced flow: a cluster's liquidations (watching the
venue's liquidation trigger, mark or last) plus, on the true map, its resting stops (watching
the last price). The push must move the watched price to the cluster's near edge; its cost
(``Whale.push_cost``) sums, over the books that must move, the larger of the visible depth to
that price and the net flow the tape says moves the price that far (Kyle's lambda,
``agents.whale_tape``). Moving the last price moves the perp; moving the mark moves the index
too, so pushing on the perp toward a mark-watched cluster also pays for every index venue
(the arbitrageurs carry the push there), while pushing on the thinnest index venue moves the
index by that venue's weight share only, and never further than the basket's clip band lets
it. The target is the qualifying cluster with the best ratio of forced flow to cost.

The state machine, one phase at a time:

- ``idle``: every ``scout_interval_s`` while active, it goes to ``scout``.
- ``scout`` (within one step): read the map, size itself, score the clusters, pick one; on to
  ``build``, or back to ``idle`` when none qualifies.
- ``build``: to hunt a LONG cluster below the price it builds a SHORT perp position (it will
  buy the forced selling back cheaper) with POST_ONLY orders at the touch of the far side,
  up to ``build_share`` of its largest position, filling at most ``build_volume_share`` of the
  perp's volume since the build began, for at most ``build_s``.
- ``push``: first the hunt is re-priced: the clusters of the hunted side are scored again
  with the position room the build left, and the best one it can still afford becomes the
  target; with none, the whale closes the build (``harvest``, outcome ``no longer
  affordable``). Then market orders of one clip every ``push_interval_s`` toward the cluster on the
  perp, the thinnest index venue, or half on each (``push_venue``), until the watched price
  crosses the cluster's centre; it aborts when the budget is spent, the perp position limit
  is reached, a book is empty or an order is rejected.
- ``harvest``: close the perp position into the cascade: passive orders from the touch away
  (``harvest_levels``, ``harvest_spacing_bps`` apart) and a market order as large as the
  stops and liquidations it saw in the previous step; what is left at ``harvest_s`` is closed
  at market in clips. Then any inventory its spot pushes left is unwound in clips.
- ``cooldown``: wait ``cooldown_s``, then ``idle``.

Short clusters above the price are the mirror image (build long, push up, sell into the
squeeze). Leaving the active window (or ``set_active(False)``) during ``build`` or ``push``
aborts the hunt into ``harvest``, so the whale never walks away from an open position.

Events (``model.log_event``; agent ``"whale"``): ``phase`` (``"<old> -> <new>: <reason>"``),
``target`` (the chosen cluster, ``Cluster.describe``), ``active`` (``"on"`` / ``"off"``).
Each finished hunt is a ``HuntRecord`` in ``hunts`` (the run's ``hunts.parquet``), with the
forced flow it set off, its cascade multiplier (forced / pushed) and whether it succeeded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from agents import stages
from agents.base import Trader
from agents.params import WhaleParams
from agents.whale_tape import Tape, flow_to_move
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

MARK = "mark"
LAST = "last"
DEPTH_BAND = 0.01  # the push budget and clips are sized on the depth within 1 % of the price

_DEFAULTS = WhaleParams()  # the pure functions below default to the whale's defaults

HeatmapReader = Callable[[MarketModel], tuple[np.ndarray, np.ndarray, np.ndarray]]
PushCost = Callable[[int, float, str], float]


@dataclass(frozen=True)
class Cluster:
    """A run of dense heatmap bins on one side of the price, scored as a hunting target.

    Attributes:
        side: ``"long"`` (long positions liquidated below the price) or ``"short"`` (above).
        low, high: price range of the cluster's bins (USD).
        centre: notional-weighted centre of the bins (USD); the push ends when the watched
            price crosses it.
        near_edge: the cluster's edge nearest the price (USD); the push is costed to it.
        liquidation_notional: open notional liquidated in the cluster (USD).
        stop_notional: resting stop orders that would fire in the cluster (USD).
        payoff: ``liquidation_notional + stop_notional``, the forced flow expected.
        watch: the price the push must move: the liquidation trigger when the cluster holds
            liquidations, else ``"last"`` (stops fire on the last price).
        distance_pct: ``|watched price - near_edge| / watched price``.
        cost: the push notional expected to reach ``near_edge`` (``push_cost``).
        ratio: ``payoff / cost``: the cascade multiplier expected.
    """

    side: str
    low: float
    high: float
    centre: float
    near_edge: float
    liquidation_notional: float
    stop_notional: float
    payoff: float
    watch: str
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
                f"stops={self.stop_notional:.0f} watch={self.watch} cost={self.cost:.0f} "
                f"distance={100 * self.distance_pct:.2f}% ratio={self.ratio:.2f}")


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
                   prices: dict[str, float], push_cost: PushCost, *,
                   liquidation_trigger: str = MARK,
                   long_stops_usd: np.ndarray | None = None,
                   short_stops_usd: np.ndarray | None = None,
                   dense_bin_ratio: float = _DEFAULTS.dense_bin_ratio) -> list[Cluster]:
    """Return every cluster of the heatmap on its reachable side of the price, scored.

    ``prices`` maps ``"mark"`` and ``"last"`` to those prices. Long liquidations count only in
    bins wholly below the liquidation trigger's price and short ones only in bins wholly above
    it. Sell stops (``long_stops_usd``) add to the long side's forced flow, buy stops to the
    short side's. A cluster holding liquidations watches ``liquidation_trigger``; one of
    stops only watches the last price. ``push_cost(push_side, distance, watch)`` returns the
    USD a push must trade to move the watched price by ``distance`` (a fraction).
    """
    edges = np.asarray(edges, dtype=np.float64)
    n = len(edges) - 1
    zeros = np.zeros(n)
    price = prices[liquidation_trigger]
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
            liquidations = float(liq[first:last + 1].sum())
            watch = liquidation_trigger if liquidations > 0 else LAST
            near_edge = high if side == "long" else low
            distance = (prices[watch] - near_edge) / prices[watch]
            distance = distance if side == "long" else -distance
            push_side = SELL if side == "long" else BUY
            cost = float(push_cost(push_side, distance, watch)) if distance > 0 else 0.0
            ratio = payoff / cost if cost > 0 else math.inf
            out.append(Cluster(side, low, high, centre, near_edge, liquidations,
                               float(stops[first:last + 1].sum()), payoff, watch, distance,
                               cost, ratio))
    return out


def choose_target(clusters: list[Cluster], *, min_payoff_usd: float,
                  min_payoff_ratio: float, max_distance_pct: float,
                  capacity_usd: Mapping[int, float] | None = None) -> Cluster | None:
    """Return the qualifying cluster with the best payoff/cost ratio, or None.

    A cluster qualifies with payoff >= ``min_payoff_usd``, ratio >= ``min_payoff_ratio``,
    0 < distance <= ``max_distance_pct`` and, with ``capacity_usd`` (the most the whale can
    push, by push side), a cost within it. Ties go to the nearer cluster, then the lower.
    """
    ok = [c for c in clusters
          if c.payoff >= min_payoff_usd and c.ratio >= min_payoff_ratio
          and 0 < c.distance_pct <= max_distance_pct
          and (capacity_usd is None or c.cost <= capacity_usd[c.push_side])]
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


def visible_depth_usd(exchange, taker_side: int, distance: float) -> float:
    """Return the USD resting on ``exchange``'s book that a taker on ``taker_side`` must take
    to move the best price to ``distance`` (a fraction) beyond the venue's price (its last
    trade, else its mid); 0 without a price."""
    ref = exchange.last_price or exchange.mid_price
    if ref is None:
        return 0.0
    target = ref * (1.0 + distance) if taker_side == BUY else ref * (1.0 - distance)
    cfg = exchange.config
    _, value = exchange.depth_to_price(taker_side, exchange.to_ticks(target))
    return value * cfg.tick_size * cfg.lot_size


# ---------------------------------------------------------------- the agent


class Whale(Trader):
    """A manipulator: idle -> scout -> build -> push -> harvest -> cooldown (module docstring).

    One whale owns one perpetual account and, when it pushes on the index, one account on
    every spot venue (each ``params.wallet`` at ``params.leverage``); ``params.count`` is for
    the caller, who creates that many whales.

    Args:
        model: the market.
        params: ``WhaleParams``.
        heatmap_reader: ``(model) -> (edges, long_usd, short_usd)``; defaults to the true
            heatmap for ``params.heatmap == "true"`` and is required for ``"estimated"``.

    Attributes:
        phase: the current phase name.
        target: the cluster of the hunt in progress, or None.
        hunts: one ``sim.result.HuntRecord`` per finished hunt (``hunts.parquet``).
        tape: the venues' recent prices and net flows it prices pushes with.
    """

    kind = "whale"
    stage = stages.WHALE

    def __init__(self, model: MarketModel, params: WhaleParams,
                 heatmap_reader: HeatmapReader | None = None) -> None:
        if params.heatmap == "estimated" and heatmap_reader is None:
            raise ValueError("WhaleParams.heatmap='estimated' needs a heatmap_reader of the "
                             "public estimate (sim.heatmap_estimate), a callable (model) -> "
                             "(edges, long_usd, short_usd); or use heatmap='true'")
        if params.push_venue != "perp" and not model.spots:
            raise ValueError(f"WhaleParams.push_venue={params.push_venue!r} needs an index "
                             "made of spot venues; this market's index is exogenous")
        super().__init__(model)
        self.params = params
        self.exchange = model.perp
        self.account = int(self.open_accounts(1, params.wallet, params.leverage)[0])
        self.spot_accounts: dict[str, int] = {}
        if params.push_venue != "perp":
            self.spot_accounts = {
                name: int(self.open_accounts(1, params.wallet, params.leverage, name)[0])
                for name in model.spot_names}
        self.read_heatmap = heatmap_reader or true_heatmap_reader(params.max_distance_pct,
                                                                  params.bin_fraction)
        self.count_stops = params.heatmap == "true"
        self.tape = Tape(list(model.exchanges), params.impact_window_s)
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
        """Read the tape (when it prices pushes by it), then advance the state machine."""
        if self.params.read_tape:
            self._read_tape()
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

    # ------------------------------------------------------------ pricing a push

    def push_cost(self, push_side: int, distance: float, watch: str) -> float:
        """Return the USD a push must trade to move the ``watch`` price by ``distance``.

        The sum, over the books that must move, of ``book_cost`` (module docstring): the
        perp when it pushes there or the last price is watched; the thinnest index venue,
        ``distance / weight share`` of its price (infinite beyond the basket's clip band),
        when it pushes on the index; every index venue when it pushes on the perp toward a
        mark-watched cluster.
        """
        venue = self.params.push_venue
        cost = 0.0
        if venue != "index" or watch == LAST:
            cost += self.book_cost("perp", push_side, distance)
        if venue != "perp":
            name, share = self._thinnest_index_venue()
            moved = distance / share
            if len(self.model.spots) > 1 and moved > self.model.clip_bps * 1e-4:
                return math.inf
            cost += self.book_cost(name, push_side, moved)
        elif watch == MARK:
            cost += sum(self.book_cost(name, push_side, distance)
                        for name in self.model.spot_names)
        return cost

    def book_cost(self, venue: str, push_side: int, distance: float) -> float:
        """Return the USD a push must trade to move ``venue``'s price by ``distance``: the
        larger of the visible depth and the tape's ``distance / lambda``
        (``agents.whale_tape``); the depth alone when ``read_tape`` is off."""
        depth = visible_depth_usd(self.model.exchange(venue), push_side, distance)
        if not self.params.read_tape:
            return depth
        return max(depth, flow_to_move(distance, self.tape.kyle_lambda(venue)))

    def _thinnest_index_venue(self) -> tuple[str, float]:
        """Return the spot venue with the least depth within 1 % per index weight share,
        and its weight share."""
        model = self.model
        total = sum(model.spot_weights)
        best = None
        for name, weight in zip(model.spot_names, model.spot_weights, strict=True):
            share = weight / total
            ex = model.exchange(name)
            depth = (visible_depth_usd(ex, BUY, DEPTH_BAND)
                     + visible_depth_usd(ex, SELL, DEPTH_BAND)) / share
            if best is None or depth < best[0]:
                best = (depth, name, share)
        return best[1], best[2]

    def _push_sizes(self, side: int, books: list[str],
                    room_usd: float) -> tuple[float, float, float]:
        """Return (budget, clip, capacity) of a push on ``side`` into ``books`` (USD).

        Budget and clip are multiples of the depth within 1 % on the push's side of those
        books; the capacity is the budget, or less when the perp's share of the push would
        outgrow ``room_usd``, the perp position the push may still add (one share per
        book pushed).
        """
        p = self.params
        depth = sum(visible_depth_usd(self.model.exchange(name), side, DEPTH_BAND)
                    for name in books)
        budget = p.push_depth_multiple * depth
        capacity = budget
        if "perp" in books:
            capacity = min(budget, room_usd * len(books))
        return budget, p.push_clip_depth_share * depth, capacity

    def _push_books(self) -> list[str]:
        """Return the venues the push's orders go to."""
        venue = self.params.push_venue
        if venue == "perp":
            return ["perp"]
        thin = self._thinnest_index_venue()[0]
        return [thin] if venue == "index" else ["perp", thin]

    # ------------------------------------------------------------ phases

    def _scout(self) -> None:
        self._set_phase(SCOUT, "reading the heatmap")
        p = self.params
        model, ex = self.model, self.exchange
        self._next_scout_t = model.t + p.scout_interval_s
        oi_usd = ex.open_interest * ex.config.lot_size * ex.mark_price
        max_position = min(p.position_oi_share * oi_usd,
                           0.95 * ex.max_position_notional_usd(self.account))
        books = self._push_books()
        target, clusters, sizes = self._pick(oi_usd, books, {
            side: (1.0 - p.build_share) * max_position for side in (BUY, SELL)})
        prices = self._prices()
        if target is None:
            self._set_phase(IDLE, self._why_none(clusters, sizes))
            return
        self.target = target
        model.log_event(self.kind, "target", f"price={prices[target.watch]:.1f} "
                                             f"{target.describe()}")
        budget, clip, _ = sizes[target.push_side]
        self._hunt = {
            "start_t": model.t, "start_price": prices[target.watch], "oi_usd": oi_usd,
            "max_position": max_position, "budget": budget, "clip": clip, "books": books,
            "build_end_t": math.nan, "push_end_t": math.nan, "build_volume": 0.0,
            "built_notional": 0.0, "pushed_notional": 0.0,
            "push_outcome": "", "liquidated_notional": 0.0, "stops_triggered_notional": 0.0,
            "peak_notional": 0.0, "_forced_lots_last": 0, "_start": self._books_state(),
        }
        build = "short" if target.side == "long" else "long"
        self._set_phase(BUILD, f"building a {build} position to hunt the {target.side} "
                               f"cluster at {target.centre:.1f}")

    def _pick(self, oi_usd: float, books: list[str], room_usd: Mapping[int, float],
              side: str | None = None
              ) -> tuple[Cluster | None, list[Cluster], dict[int, tuple[float, float, float]]]:
        """Read the map, score its clusters (on ``side`` only, when given) and choose one.

        ``room_usd`` is the perp position the push may still add, by push side. Return the
        target (or None), the clusters scored, and (budget, clip, capacity) by push side.
        """
        p = self.params
        ex = self.exchange
        edges, long_usd, short_usd = self._read_map()
        long_stops = short_stops = None
        if self.count_stops:
            long_stops, short_stops = ex.resting_stop_notional_usd(edges)
        clusters = score_clusters(edges, long_usd, short_usd, self._prices(), self.push_cost,
                                  liquidation_trigger=self._liquidation_trigger(),
                                  long_stops_usd=long_stops, short_stops_usd=short_stops,
                                  dense_bin_ratio=p.dense_bin_ratio)
        if side is not None:
            clusters = [c for c in clusters if c.side == side]
        sizes = {s: self._push_sizes(s, books, room_usd[s]) for s in (BUY, SELL)}
        target = choose_target(clusters, min_payoff_usd=p.min_cluster_oi_share * oi_usd,
                               min_payoff_ratio=p.min_payoff_ratio,
                               max_distance_pct=p.max_distance_pct,
                               capacity_usd={s: v[2] for s, v in sizes.items()})
        return target, clusters, sizes

    def _why_none(self, clusters: list[Cluster],
                  sizes: dict[int, tuple[float, float, float]]) -> str:
        """Return why no cluster qualified, naming the best one and what could be pushed."""
        price = self._prices()[self._liquidation_trigger()]
        why = f"no target among {len(clusters)} clusters at price {price:.1f}"
        best = max(clusters, key=lambda c: c.ratio, default=None)
        if best is not None:
            why += f" (best: {best.describe()}; can push {sizes[best.push_side][2]:.0f})"
        return why

    def _start_push(self, reason: str) -> None:
        """End the build and re-price the hunt before pushing.

        The map, the books and the tape have moved since the scout: the whale scores the
        clusters of the hunted side again, with the position room the build left, and
        pushes to the best one it can still afford; with none, it closes the build (harvest)
        instead of pushing to a stale target. A target the price has already crossed is
        kept: the push phase harvests it at once.
        """
        self._end_build()
        target, h = self.target, self._hunt
        if (self._prices()[target.watch] - target.centre) * target.push_side >= 0:
            self._set_phase(PUSH, reason)
            return
        room = max(0.0, h["max_position"] - self._entry_notional())
        new, clusters, sizes = self._pick(h["oi_usd"], h["books"], {BUY: room, SELL: room},
                                          side=target.side)
        if new is None:
            self._to_harvest(f"re-priced: {self._why_none(clusters, sizes)}",
                             "no longer affordable")
            return
        if (new.low, new.high) != (target.low, target.high):
            self.model.log_event(self.kind, "target", f"re-priced: {new.describe()}")
        self.target = new
        h["budget"], h["clip"], _ = sizes[new.push_side]
        self._set_phase(PUSH, reason)

    def _build(self) -> None:
        p = self.params
        h = self._hunt
        side = self.target.push_side
        if not self.active:
            self._end_build()
            self._to_harvest("deactivated while building")
            return
        h["build_volume"] += self.model.volume_usd["perp"]
        held = self._entry_notional()
        self._track_peak(held)
        timed_out = self.model.t >= self.phase_since + p.build_s
        touch = self._touch(side)
        if touch is None and self._touch(-side) is not None:
            touch = self._touch(-side) - side  # one tick inside an empty side
        if touch is None or timed_out:
            self._start_push("build time up" if timed_out else "no touch to join")
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
        room = p.build_share * h["max_position"] - held - resting
        if room < lot * touch * tick and not self._resting:
            self._start_push(f"position built: {held:.0f} USD")
            return
        if self._resting:
            return
        allowed = p.build_volume_share * h["build_volume"] - held
        lots = int(min(allowed, room) / (lot * touch * tick))
        if lots <= 0:
            return
        res = self.exchange.submit(self.account, side, POST_ONLY, lots, touch)
        if res.status == Status.OK:
            self._resting[res.order_id] = (touch, lots)
        elif res.status != Status.POST_ONLY_WOULD_CROSS:
            self._start_push(f"build order rejected: {res.status.name}")

    def _end_build(self) -> None:
        self._cancel_all()
        self._hunt["build_end_t"] = self.model.t
        self._hunt["built_notional"] = self._entry_notional()

    def _push(self) -> None:
        p = self.params
        target = self.target
        side = target.push_side
        h = self._hunt
        if not self.active:
            self._to_harvest("deactivated while pushing", "deactivated")
            return
        price = self._prices()[target.watch]
        if (price - target.centre) * side >= 0:  # SELL: price <= centre; BUY: price >= centre
            self._to_harvest(f"{target.watch} price {price:.1f} crossed the centre "
                             f"{target.centre:.1f}", "target reached")
            return
        if h["pushed_notional"] >= h["budget"]:
            self._to_harvest(f"push budget spent: {h['pushed_notional']:.0f} USD",
                             "budget spent")
            return
        if self.model.t < self._next_push_t:
            return
        self._next_push_t = self.model.t + p.push_interval_s
        clip = min(h["clip"], h["budget"] - h["pushed_notional"]) / len(h["books"])
        for name in h["books"]:
            usd = clip
            if name == "perp":
                room = h["max_position"] - self._entry_notional()
                usd = min(clip, room)
            ex = self.model.exchange(name)
            lots = self._market_lots(ex, side, usd)
            if lots <= 0:
                why = ("position limit reached" if usd < clip
                       else f"no liquidity to push into on {name}")
                self._to_harvest(why, why)
                return
            res = ex.submit(self._account_on(name), side, MARKET, lots)
            if res.status != Status.OK or res.filled == 0:
                why = (f"push order rejected on {name}: {res.status.name}"
                       if res.status != Status.OK else f"push order found no liquidity on {name}")
                self._to_harvest(why, why)
                return
            cfg = ex.config
            h["pushed_notional"] += float((res.fills["price"] * res.fills["qty"]).sum()
                                          * cfg.tick_size * cfg.lot_size)
        self._track_peak(self._entry_notional())

    def _to_harvest(self, reason: str, outcome: str = "") -> None:
        self._hunt["push_end_t"] = self.model.t
        self._hunt["push_outcome"] = outcome or reason
        self._set_phase(HARVEST, reason)
        self._harvest()

    def _harvest(self) -> None:
        pos = self._position()
        if pos == 0:
            self._unwind_spot()
            return
        close = -1 if pos > 0 else 1
        seen = self._hunt["_forced_lots_last"]
        if self.model.t >= self.phase_since + self.params.harvest_s:
            self._hunt["close_reason"] = "harvest time up, unwound at market in clips"
            self._unwind(self.exchange, self.account, close, abs(pos))
            if self._position() == 0:
                self._unwind_spot()
            return
        if seen > 0:
            # Forced flow arrived last step: take the other side of it at the new prices.
            self._cancel_all()
            self.exchange.submit(self.account, close, MARKET, min(seen, abs(pos)),
                                 reduce_only=True)
            pos = self._position()
            if pos == 0:
                self._hunt["close_reason"] = "position closed into the forced flow"
                self._unwind_spot()
                return
        self._refresh_ladder(close, abs(pos))

    def _unwind_spot(self) -> None:
        """The perp position is closed: unwind what the spot pushes left, in clips; finish
        the hunt when every venue is flat."""
        self._cancel_all()
        for name, account in self.spot_accounts.items():
            ex = self.model.exchange(name)
            pos = ex.position_lots(account)
            if pos != 0:
                self._unwind(ex, account, -1 if pos > 0 else 1, abs(pos))
                return
        self._finish_hunt(self._hunt.get("close_reason", "position closed"))

    def _unwind(self, ex, account: int, side: int, lots: int) -> None:
        """Close ``lots`` on ``ex`` at market, one clip per push interval.

        One market order for the whole position would walk the book by itself and print a
        wick against the whale; clips let the makers refill in between.
        """
        if self.model.t < self._next_push_t:
            return
        self._next_push_t = self.model.t + self.params.push_interval_s
        self._cancel_all()
        clip = min(lots, self._market_lots(ex, side, self._hunt["clip"]))
        if clip > 0:
            ex.submit(account, side, MARKET, clip, reduce_only=True)

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
        wallet, realized, fees = np.subtract(self._books_state(), h["_start"])
        forced = h["stops_triggered_notional"] + h["liquidated_notional"]
        pushed = h["pushed_notional"]
        outcome = h["push_outcome"]
        record = HuntRecord(
            whale=self.account, map=self.params.heatmap, venue=self.params.push_venue,
            trigger=target.watch, side=target.side, start_t=h["start_t"],
            build_end_t=h["build_end_t"], push_end_t=h["push_end_t"], end_t=self.model.t,
            start_price=h["start_price"], target_price=target.centre,
            target_low=target.low, target_high=target.high, target_notional=target.payoff,
            expected_cost=target.cost, distance_pct=100.0 * target.distance_pct,
            oi_notional=h["oi_usd"], max_position_notional=h["max_position"],
            push_budget_notional=h["budget"], built_notional=h["built_notional"],
            pushed_notional=pushed, peak_notional=h["peak_notional"],
            stops_triggered_notional=h["stops_triggered_notional"],
            liquidated_notional=h["liquidated_notional"], forced_notional=forced,
            cascade_multiplier=forced / pushed if pushed > 0 else math.nan,
            outcome=outcome, success=bool(outcome == "target reached" and wallet > 0),
            end_reason=reason, pnl=float(wallet), realized_pnl=float(realized),
            fees=float(fees))
        self.hunts.append(record)
        self._hunt = {}
        self.target = None
        self._set_phase(COOLDOWN, f"{reason}; pnl {record.pnl:.0f} USD")

    # ------------------------------------------------------------ helpers

    def _set_phase(self, new: str, reason: str) -> None:
        self.model.log_event(self.kind, "phase", f"{self.phase} -> {new}: {reason}")
        self.phase = new
        self.phase_since = self.model.t

    def _read_tape(self) -> None:
        """Add the last step's prices and net taker flow of every venue to the tape."""
        model = self.model
        prices = {name: ex.mid_price or ex.last_price for name, ex in model.exchanges.items()}
        self.tape.record(model.t, prices, model.taker_flow_usd)

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
        self._hunt["liquidated_notional"] += float((mine["qty"] * cfg.lot_size * price).sum())
        self._hunt["_forced_lots_last"] = int(mine["qty"].sum()) + int(stops["qty"].sum())

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

    def _liquidation_trigger(self) -> str:
        """Return the price the perp's liquidations watch: ``"last"`` or ``"mark"``."""
        return LAST if self.exchange.config.liquidation_trigger == TRIGGER_LAST else MARK

    def _prices(self) -> dict[str, float]:
        """Return the perp's mark and last price (the mark before the first trade)."""
        ex = self.exchange
        last = ex.last_price
        return {MARK: ex.mark_price, LAST: ex.mark_price if last is None else last}

    def _account_on(self, venue: str) -> int:
        return self.account if venue == "perp" else self.spot_accounts[venue]

    def _books_state(self) -> np.ndarray:
        """Return (wallet, realized PnL, fees paid) summed over every account (USD)."""
        state = np.zeros(3)
        for venue, account in (("perp", self.account), *self.spot_accounts.items()):
            ex = self.model.exchange(venue)
            state += (ex.wallet_usd(account), ex.realized_pnl_usd(account),
                      ex.fees_paid_usd(account))
        return state

    def _market_lots(self, ex, side: int, clip_usd: float) -> int:
        """Return the lots of a market order on ``ex`` whose fills cost at most ``clip_usd``."""
        cfg = ex.config
        best = ex.best_ask_ticks() if side == BUY else ex.best_bid_ticks()
        if best is None or clip_usd <= 0:
            return 0
        lots = int(clip_usd / (best * cfg.tick_size * cfg.lot_size))
        if side == BUY and lots > 0:
            # Buys walk up the book: shrink the clip so its average price fits the budget.
            got, value = ex.market_order_cost(BUY, lots)
            cost = value * cfg.tick_size * cfg.lot_size
            if got > 0 and cost > clip_usd:
                lots = int(got * clip_usd / cost)
        return lots

    def _touch(self, side: int) -> int | None:
        """Return the best price (ticks) of ``side``'s resting perp orders (BUY: bid)."""
        ex = self.exchange
        return ex.best_bid_ticks() if side == BUY else ex.best_ask_ticks()

    def _position(self) -> int:
        return self.exchange.position_lots(self.account)

    def _entry_notional(self) -> float:
        """Return the perp position's notional at its entry price (USD)."""
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
           "score_clusters", "true_heatmap_reader", "visible_depth_usd"]
