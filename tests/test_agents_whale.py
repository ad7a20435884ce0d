"""The whale: cluster scoring by hand, and whole hunts in a small scripted market.

The scripted market (test-only agents below) is built so that each whale phase is forced:

- ``Ladder`` quotes 30 levels of 300 lots (0.3 BTC) per side, 50 USD apart, around the last
  trade price, every step: a push moves the price and the price stays where it was pushed.
- ``Flow`` alternates a market buy and a market sell of 250 lots, less than one level, so the
  price only ticks between two levels and the whale's passive orders at the touch get hit.
  It acts before the whale (arbitrage stage), so the whale's push is each step's last trade.
- 40 accounts at 50x hold 2 BTC each (8 M USD) opened at 100,000 against one 1x account: the
  cluster. A long's liquidation price is (WB + cum - Q EP) / (Q MMR - Q) with WB = 4,000,
  cum = 50, Q = 2, EP = 100,000, MMR = 0.005: 98,467.3, in the 50 USD bin [98,450, 98,500)
  whose centre is 98,475. Shorts mirror it: (4,000 + 50 + 200,000) / 2.01 = 101,517.4, in
  [101,500, 101,550), centre 101,525.
- Liquidations trigger on the last price (the ``last_price_trigger`` rule), so a push acts at
  once, and the insurance fund starts with 10 M USD so that no ADL touches the whale.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents import stages
from agents.base import Trader
from agents.params import WhaleParams
from agents.whale import Whale, choose_target, dense_runs, score_clusters, true_heatmap_reader
from sim.exchange import BUY, LIMIT, MARKET, SELL, TRIGGER_LAST, ExchangeConfig, Status
from sim.fundamental import FundamentalProcess
from sim.model import MarketModel
from tests.market_builders import LadderMaker, quiet_model

LOT = 0.001
CLUSTER_LOTS = 2_000
CLUSTER_ACCOUNTS = 40


# ---------------------------------------------------------------- the scripted market


class Flow(Trader):
    """Test flow: a market buy, then a market sell, of ``lots`` each, alternately."""

    kind = "flow"
    stage = stages.ARBITRAGE

    def __init__(self, model: MarketModel, lots: int = 250) -> None:
        super().__init__(model)
        self.account = int(self.open_accounts(1, 100e6, 10)[0])
        self.lots = lots
        self.n = 0

    def act(self) -> None:
        self.n += 1
        self.model.perp.submit(self.account, BUY if self.n % 2 else SELL, MARKET, self.lots)


def open_cluster(model: MarketModel, side: int, price: float = 100_000.0) -> np.ndarray:
    """Open the 50x crowd on ``side`` directly on the exchange; return its accounts."""
    ex = model.perp
    counterparty = int(ex.open_accounts(1, 1e9, 1)[0])
    crowd = ex.open_accounts(CLUSTER_ACCOUNTS, CLUSTER_LOTS * LOT * price / 50, 50)
    res = ex.submit(counterparty, -side, LIMIT, CLUSTER_ACCOUNTS * CLUSTER_LOTS,
                    ex.to_ticks(price))
    assert res.status == Status.OK
    for account in crowd:
        res = ex.submit(int(account), side, MARKET, CLUSTER_LOTS)
        assert res.filled == CLUSTER_LOTS, res
    return crowd


def whale_params(**overrides) -> WhaleParams:
    """The scripted market's open interest is 80 BTC (8 M USD at 100,000) and its depth
    within 1 % of the price 20 levels of 0.3 BTC, about 0.6 M USD a side: a largest position of
    0.3 x 8 M = 2.4 M, a push budget of 10 x 0.6 M = 6 M in clips of 0.15 x 0.6 M = 90 k.
    Visible depth alone prices a push (no tape to read in the first minutes)."""
    values = dict(count=1, heatmap="true", active_from_s=5.0, scout_interval_s=10.0,
                  position_oi_share=0.3, build_volume_share=1.0, build_s=150.0,
                  push_depth_multiple=10.0, push_clip_depth_share=0.15, push_interval_s=2.0,
                  read_tape=False, harvest_s=120.0, cooldown_s=60.0)
    values.update(overrides)
    return WhaleParams(**values)


def scripted_market(crowd_side: int, seed: int = 1, heatmap_reader=None,
                    **overrides) -> tuple[MarketModel, Whale, np.ndarray]:
    """Return (model, whale, crowd accounts) for a crowd of longs (BUY) or shorts (SELL)."""
    config = ExchangeConfig(liquidation_trigger=TRIGGER_LAST, insurance_fund=10e6,
                            price_levels=1 << 14)
    model = MarketModel(config, FundamentalProcess(100_000.0, volatility_per_year=0.5),
                        seed=seed)
    crowd = open_cluster(model, crowd_side)
    LadderMaker(model, levels=30, spacing_ticks=500, lots=300, wallet=100e6, leverage=10,
                follow="last")
    whale = Whale(model, whale_params(**overrides), heatmap_reader=heatmap_reader)
    Flow(model)
    return model, whale, crowd


def phases(model: MarketModel) -> list[str]:
    """Return the "<old> -> <new>" part of every phase event."""
    return [detail.split(":")[0] for _, agent, kind, detail in model.events
            if agent == "whale" and kind == "phase"]


def entry_notional(model: MarketModel, whale: Whale) -> float:
    view = model.perp.account(whale.account)
    return abs(view.position_lots) * LOT * view.entry_price


HUNT = ["idle -> scout", "scout -> build", "build -> push", "push -> harvest",
        "harvest -> cooldown", "cooldown -> idle"]


# ---------------------------------------------------------------- scoring


def test_dense_runs_split_at_bins_below_the_mean():
    # mean = 16 / 6 = 2.67: the 1 between the fives is not dense, so two runs.
    notional = np.array([0.0, 5.0, 5.0, 1.0, 5.0, 0.0])
    assert dense_runs(notional, np.ones(6, dtype=bool)) == [(1, 2), (4, 4)]
    eligible = np.array([True, True, True, True, False, False])
    # over the first four bins the mean is 11 / 4 = 2.75
    assert dense_runs(notional, eligible) == [(1, 2)]


def hand_heatmap():
    """100 USD bins over 97,000-103,000, price 100,000 (bin 30 starts at the price).

    Longs: A = 1 M in [98,000, 98,100) + 2 M in [98,100, 98,200); B = 1 M in [99,000, 99,100);
    D = 5 M in [97,100, 97,200). Shorts: C = 4 M in [101,500, 101,600). A long bin above the
    price (1 M in [100,500, 100,600)) must be ignored.
    """
    edges = np.arange(97_000.0, 103_000.0 + 1, 100.0)
    long_usd = np.zeros(60)
    short_usd = np.zeros(60)
    long_usd[10], long_usd[11] = 1e6, 2e6
    long_usd[20] = 1e6
    long_usd[1] = 5e6
    long_usd[35] = 1e6
    short_usd[45] = 4e6
    return edges, long_usd, short_usd


PRICES = {"mark": 100_000.0, "last": 100_000.0}


def linear_cost(push_side: int, distance: float, watch: str) -> float:
    """1.5 M USD per 1 % of distance: 1 M of book and 0.5 M of refill behind the push."""
    return 1.5e8 * distance


def test_score_clusters_hand_computed():
    edges, long_usd, short_usd = hand_heatmap()
    clusters = score_clusters(edges, long_usd, short_usd, PRICES, linear_cost)
    by_low = {c.low: c for c in clusters}
    assert sorted(by_low) == [97_100.0, 98_000.0, 99_000.0, 101_500.0]
    a = by_low[98_000.0]
    # near edge 98,200: 1.8 %, so 1.8 x 1.5 M = 2.7 M; liquidations watch the mark
    assert (a.side, a.high, a.near_edge, a.watch) == ("long", 98_200.0, 98_200.0, "mark")
    assert a.centre == pytest.approx((98_050 * 1 + 98_150 * 2) / 3)
    assert a.distance_pct == pytest.approx(0.018)
    assert a.cost == pytest.approx(2.7e6)
    assert a.ratio == pytest.approx(3e6 / 2.7e6)
    assert by_low[99_000.0].ratio == pytest.approx(1e6 / 1.35e6)  # 0.9 M + 0.45 M
    assert by_low[97_100.0].ratio == pytest.approx(5e6 / 4.2e6)  # 2.8 M + 1.4 M
    c = by_low[101_500.0]
    assert (c.side, c.near_edge, c.centre, c.push_side) == ("short", 101_500.0, 101_550.0, BUY)
    assert c.cost == pytest.approx(2.25e6)  # 1.5 M + 0.75 M
    assert c.ratio == pytest.approx(4e6 / 2.25e6)


def test_choose_target_takes_the_best_ratio_not_the_biggest_cluster():
    edges, long_usd, short_usd = hand_heatmap()
    clusters = score_clusters(edges, long_usd, short_usd, PRICES, linear_cost)
    rules = dict(min_payoff_usd=1e6, min_payoff_ratio=1.0, max_distance_pct=0.03)
    # D holds the most notional (5 M, ratio 1.19) but C's ratio is 1.78.
    assert choose_target(clusters, **rules).low == 101_500.0
    # Without C, D's 1.19 beats A's 1.11.
    no_shorts = score_clusters(edges, long_usd, np.zeros(60), PRICES, linear_cost)
    assert choose_target(no_shorts, **rules).low == 97_100.0
    # Within 1.4 % only B is left, and its 0.74 misses a ratio of 1 but passes 0.5.
    assert choose_target(clusters, **{**rules, "max_distance_pct": 0.014}) is None
    near = choose_target(clusters, **{**rules, "max_distance_pct": 0.014,
                                      "min_payoff_ratio": 0.5})
    assert near.low == 99_000.0
    # A 4.5 M floor leaves only D.
    assert choose_target(clusters, **{**rules, "min_payoff_usd": 4.5e6}).low == 97_100.0
    # With 2.5 M of push down and 2 M up, C (2.25 M up), D (4.2 M) and A (2.7 M) are out of
    # reach; B (1.35 M) is left, at a ratio of 0.74.
    capacity = {SELL: 2.5e6, BUY: 2.0e6}
    assert choose_target(clusters, **rules, capacity_usd=capacity) is None
    assert choose_target(clusters, **{**rules, "min_payoff_ratio": 0.5},
                         capacity_usd=capacity).low == 99_000.0


def test_stops_add_to_the_payoff_of_their_side():
    edges, long_usd, short_usd = hand_heatmap()
    sell_stops = np.zeros(60)
    sell_stops[20] = 2e6  # B becomes 3 M: ratio 3 / 1.35 = 2.22, the best
    clusters = score_clusters(edges, long_usd, short_usd, PRICES, linear_cost,
                              long_stops_usd=sell_stops)
    best = choose_target(clusters, min_payoff_usd=1e6, min_payoff_ratio=1.0,
                         max_distance_pct=0.03)
    assert (best.low, best.liquidation_notional, best.stop_notional) == (99_000.0, 1e6, 2e6)
    assert best.ratio == pytest.approx(3e6 / 1.35e6)


def test_each_kind_of_forced_flow_watches_its_own_trigger():
    # Stops alone in [99,000, 99,100) watch the last price (99,500): 0.5 % - 100 / 99,500 =
    # 0.40201 % away; the long liquidations of A watch the mark (100,000): 1.8 % away. The
    # cost rule charges 1.5 M per % on the last price and 3 times that on the mark (moving
    # the mark moves the index too).
    edges, long_usd, _ = hand_heatmap()
    stops_only = np.zeros(60)
    stops_only[20] = 2e6
    liq = long_usd.copy()
    liq[20] = 0.0
    prices = {"mark": 100_000.0, "last": 99_500.0}

    def cost(push_side, distance, watch):
        assert push_side == SELL
        return 1.5e8 * distance * (3.0 if watch == "mark" else 1.0)

    by_low = {c.low: c for c in score_clusters(edges, liq, np.zeros(60), prices, cost,
                                               long_stops_usd=stops_only)}
    b, a = by_low[99_000.0], by_low[98_000.0]
    assert (b.watch, b.liquidation_notional, b.stop_notional) == ("last", 0.0, 2e6)
    assert b.distance_pct == pytest.approx(400 / 99_500)
    assert b.cost == pytest.approx(1.5e8 * 400 / 99_500)
    assert a.watch == "mark" and a.cost == pytest.approx(3 * 2.7e6)
    # On a last-price venue the liquidations watch the last price too: 1.3 % from 99,500
    last = {c.low: c for c in score_clusters(edges, liq, np.zeros(60), prices, cost,
                                             liquidation_trigger="last")}
    assert last[98_000.0].watch == "last"
    assert last[98_000.0].cost == pytest.approx(1.5e8 * 1_300 / 99_500)


# ---------------------------------------------------------------- construction


def test_estimated_heatmap_needs_a_reader():
    with pytest.raises(ValueError, match="heatmap_reader"):
        Whale(quiet_model(seed=0, price_levels=1 << 12), whale_params(heatmap="estimated"))


def test_pushing_on_the_index_needs_spot_venues():
    with pytest.raises(ValueError, match="push_venue='index' needs an index made of spot"):
        Whale(quiet_model(seed=0, price_levels=1 << 12), whale_params(push_venue="index"))
    whale = Whale(quiet_model(seed=0, spot=True, price_levels=1 << 12),
                  whale_params(push_venue="both"))
    assert list(whale.spot_accounts) == ["spot"]


def test_estimated_mode_scores_the_map_its_reader_gives():
    model = quiet_model(seed=0, price_levels=1 << 12)
    edges, long_usd, short_usd = hand_heatmap()
    reads = []

    def reader(m):
        reads.append(m.t)
        return edges, long_usd, short_usd

    whale = Whale(model, whale_params(heatmap="estimated", active_from_s=0.0),
                  heatmap_reader=reader)
    model.step()
    # The books are empty and the tape is not read, so every push looks free (ratio inf):
    # the tie goes to the nearest cluster, B, 0.9 % below.
    assert reads == [1.0]
    assert whale.phase == "build"
    assert (whale.target.side, whale.target.low) == ("long", 99_000.0)
    target_events = [d for _, _, k, d in model.events if k == "target"]
    assert len(target_events) == 1
    assert "side=long centre=99050.0" in target_events[0]
    assert "notional=1000000" in target_events[0] and "ratio=inf" in target_events[0]


def test_a_whale_that_reads_the_tape_prices_a_push_by_its_impact():
    # With read_tape on and no tape yet (fewer than 5 minutes), no push can be priced, so
    # nothing qualifies, whatever the map shows.
    model = quiet_model(seed=0, price_levels=1 << 12)
    edges, long_usd, short_usd = hand_heatmap()
    whale = Whale(model, whale_params(heatmap="estimated", active_from_s=0.0, read_tape=True),
                  heatmap_reader=lambda m: (edges, long_usd, short_usd))
    model.step()
    assert whale.phase == "idle"
    assert "ratio=0.00" in [d for _, _, k, d in model.events if k == "phase"][-1]


# ---------------------------------------------------------------- whole hunts


def run_recording(model: MarketModel, whale: Whale, steps: int) -> list[float]:
    """Step the model; return the whale's entry notional after every step."""
    held = []
    for _ in range(steps):
        model.step()
        held.append(entry_notional(model, whale))
    return held


def test_hunts_a_long_cluster_phase_by_phase():
    model, whale, crowd = scripted_market(BUY)
    held = run_recording(model, whale, 320)
    assert phases(model)[:6] == HUNT
    targets = [d for _, _, k, d in model.events if k == "target"]
    assert targets[0].startswith("price=") and "side=long centre=98475.0" in targets[0]
    assert len(whale.hunts) == 1
    hunt = whale.hunts[0]
    assert hunt.side == "long" and hunt.outcome == "target reached"
    assert hunt.start_t == 5.0
    assert hunt.start_t < hunt.build_end_t < hunt.push_end_t <= hunt.end_t
    # It built a short of about build_share (0.5 by default) x 2.4 M, passively, before pushing.
    assert hunt.oi_notional == pytest.approx(8e6, rel=0.01)
    assert hunt.max_position_notional == pytest.approx(0.3 * hunt.oi_notional)
    assert hunt.built_notional == pytest.approx(WhaleParams().build_share * 2.4e6, rel=0.05)
    assert hunt.pushed_notional > 0
    # Every long of the crowd was liquidated, below its 100,000 entry.
    assert not model.perp.positions_lots(crowd).any()
    assert 0.9 * 8e6 < hunt.liquidated_notional < 8e6
    assert model.perp.account(whale.account).position_lots == 0
    assert hunt.peak_notional == pytest.approx(max(held))
    assert max(held) <= hunt.max_position_notional
    # The hunt's PnL is the wallet's change over the hunt, the only one of the run.
    assert hunt.pnl == pytest.approx(model.perp.account(whale.account).wallet
                                     - whale.params.wallet)


def test_squeezes_a_short_cluster_as_the_mirror_image():
    model, whale, crowd = scripted_market(SELL)
    positions = []
    for _ in range(320):
        model.step()
        positions.append(model.perp.account(whale.account).position_lots)
    assert phases(model)[:6] == HUNT
    hunt = whale.hunts[0]
    assert hunt.side == "short" and hunt.target_price == 101_525.0
    assert hunt.outcome == "target reached"
    assert min(positions) >= 0 and max(positions) > 0  # it was long, never short
    assert not model.perp.positions_lots(crowd).any()
    assert hunt.liquidated_notional > 0.9 * 8e6
    assert positions[-1] == 0


def test_it_declines_a_cluster_it_cannot_push_to():
    # 0.15 x 8 M = 1.2 M of position, half built passively: 0.6 M left for the push, less
    # than the ~0.9 M of visible bids down to the cluster (30 levels of 0.3 BTC). It stays
    # idle and says what it could push.
    model, whale, _ = scripted_market(BUY, position_oi_share=0.15)
    run_recording(model, whale, 60)
    assert whale.hunts == [] and whale.phase == "idle"
    declined = [d for _, _, k, d in model.events if k == "phase" and "can push" in d]
    assert declined and "side=long centre=98475.0" in declined[0]
    can_push = float(declined[0].rsplit("can push ", 1)[1].rstrip(")"))
    assert can_push == pytest.approx(0.5 * 0.15 * 8e6, rel=0.01)


def map_that_changes_after_the_scout(shift_bins: int | None):
    """Return a reader of the true map (3 %, 50 USD bins) that, after the scout at 5 s, shows
    the long cluster ``shift_bins`` bins higher, or no cluster at all (None)."""
    read_true = true_heatmap_reader(0.03)

    def read(model):
        edges, long_usd, short_usd = read_true(model)
        if model.t <= 5.0:
            return edges, long_usd, short_usd
        if shift_bins is None:
            return edges, np.zeros_like(long_usd), np.zeros_like(short_usd)
        return edges, np.roll(long_usd, shift_bins), short_usd

    return read


def test_a_target_gone_from_the_map_by_push_time_is_not_pushed_to():
    # The scout sees the 8 M cluster at 98,475; by the end of the build the map is empty, so
    # re-pricing finds nothing to push to: the whale closes its build instead of pushing.
    model, whale, crowd = scripted_market(
        BUY, heatmap="estimated", heatmap_reader=map_that_changes_after_the_scout(None))
    model.run_until(400.0)
    assert phases(model)[:4] == ["idle -> scout", "scout -> build", "build -> harvest",
                                 "harvest -> cooldown"]
    hunt = whale.hunts[0]
    assert hunt.outcome == "no longer affordable" and hunt.success is False
    assert hunt.built_notional > 0 and hunt.pushed_notional == 0.0
    assert model.perp.positions_lots(crowd).all()  # nobody was liquidated
    assert model.perp.account(whale.account).position_lots == 0


def test_the_hunt_is_re_priced_to_the_best_cluster_at_push_time():
    # By the end of the build the map shows the cluster 21 bins (1,050 USD) higher, centred
    # on 98,475 + 1,050 = 99,525: nearer, as large, so cheaper. The whale pushes to it, and
    # stops there: the crowd's real liquidation prices (98,467) are never reached.
    model, whale, crowd = scripted_market(
        BUY, heatmap="estimated", heatmap_reader=map_that_changes_after_the_scout(21))
    model.run_until(400.0)
    assert phases(model)[:3] == ["idle -> scout", "scout -> build", "build -> push"]
    targets = [d for _, _, k, d in model.events if k == "target"]
    assert "side=long centre=98475.0" in targets[0]
    assert targets[1].startswith("re-priced:") and "side=long centre=99525.0" in targets[1]
    hunt = whale.hunts[0]
    assert hunt.target_price == 99_525.0 and hunt.outcome == "target reached"
    assert hunt.pushed_notional > 0
    assert model.perp.positions_lots(crowd).all()
    assert hunt.liquidated_notional == 0.0


def test_same_seed_gives_identical_fills_and_events():
    def run(seed):
        model, whale, _ = scripted_market(BUY, seed=seed)
        fills = []
        for _ in range(250):
            model.step()
            fills.append(model.fills.copy())
        return np.concatenate(fills).tobytes(), list(model.events), whale.hunts

    first, second = run(7), run(7)
    assert first[0] == second[0]
    assert first[1] == second[1]
    assert first[2] == second[2]


def test_waits_for_its_window_and_set_active_off_aborts_the_build():
    model, whale, _ = scripted_market(BUY, active_from_s=30.0)
    model.run_until(29.0)
    assert phases(model) == [] and whale.phase == "idle"
    model.run_until(40.0)
    assert phases(model) == ["idle -> scout", "scout -> build"]
    assert model.perp.account(whale.account).position_lots < 0
    model.schedule(41.0, "whale_active", lambda: whale.set_active(False))
    model.run_until(60.0)
    events = [(k, d) for _, a, k, d in model.events if a == "whale"]
    assert ("active", "off") in events
    assert phases(model)[2] == "build -> harvest"
    # A build that never pushed still closes its position; no hunt starts while off.
    model.run_until(400.0)
    assert model.perp.account(whale.account).position_lots == 0
    assert whale.hunts[0].outcome == "deactivated while building"
    assert whale.hunts[0].pushed_notional == 0.0
    assert phases(model)[-1] == "cooldown -> idle" and whale.phase == "idle"


def test_rejected_orders_end_the_hunt_without_crashing():
    # 1,000 USD at 10x cannot margin the build order (a step's 25 k of volume) or a 90 k
    # push clip: build and push are both rejected.
    model, whale, _ = scripted_market(BUY, wallet=1_000.0)
    model.run_until(20.0)
    details = [d for _, _, k, d in model.events if k == "phase"]
    assert "build -> push: build order rejected: INSUFFICIENT_MARGIN" in details
    assert "push -> harvest: push order rejected on perp: INSUFFICIENT_MARGIN" in details
    assert whale.hunts[0].built_notional == 0.0 and whale.hunts[0].pnl == 0.0
    assert whale.phase == "cooldown"


def test_a_reader_with_mismatched_arrays_is_reported():
    model = quiet_model(seed=0, price_levels=1 << 12)
    Whale(model, whale_params(heatmap="estimated", active_from_s=0.0),
          heatmap_reader=lambda m: (np.arange(5.0), np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="edges of length n \\+ 1"):
        model.step()


def test_unwinds_in_clips_when_harvest_time_is_up():
    # harvest_s = 1: one step after the build is switched off, the harvest's time is up, so
    # the short is bought back at market, one push clip (100 k USD: 1,000 lots at ~100,000)
    # every push interval (2 s), never in one order for the whole position.
    model, whale, _ = scripted_market(BUY, harvest_s=1.0)
    model.run_until(60.0)
    whale.set_active(False)
    while whale.phase != "harvest":
        model.step()
    short_lots = -model.perp.account(whale.account).position_lots
    assert short_lots > 2 * 1_000  # more than two clips to buy back
    taken, bought = [], 0  # (t, lots taken at market); all lots bought
    while whale.phase == "harvest":
        model.step()
        fills = model.fills
        as_taker = fills[fills["taker_account"] == whale.account]
        as_maker = fills[fills["maker_account"] == whale.account]
        if len(as_taker):
            taken.append((model.t, int(as_taker["qty"].sum())))
        bought += int(as_taker["qty"].sum() + as_maker["qty"].sum())
    assert model.perp.account(whale.account).position_lots == 0
    assert bought == short_lots
    assert max(lots for _, lots in taken) <= 1_000
    assert len(taken) >= (short_lots - 1_000) / 1_000
    assert all(b[0] - a[0] >= 2.0 for a, b in zip(taken, taken[1:], strict=False))
    assert phases(model)[-1] == "harvest -> cooldown"
    assert whale.hunts[0].outcome == "deactivated while building"
    assert "unwound at market in clips" in [d for _, _, k, d in model.events if k == "phase"][-1]


def test_a_push_on_the_index_venue_moves_the_mark_and_its_inventory_is_unwound():
    # The index is one spot book, quoted by a ladder that follows its own last trade (a push
    # stays where it was pushed); the perp's ladder follows the index, and liquidations watch
    # the mark. The whale pushes only on the spot venue: it sells there, the index and the
    # mark fall into the long cluster, it buys its perp short back into the cascade, then
    # buys back the spot it sold.
    model = MarketModel(ExchangeConfig(insurance_fund=10e6, price_levels=1 << 14),
                        FundamentalProcess(100_000.0, volatility_per_year=0.0), seed=3,
                        spot_config=ExchangeConfig(initial_price=100_000.0,
                                                   price_levels=1 << 14))
    crowd = open_cluster(model, BUY)
    LadderMaker(model, levels=30, spacing_ticks=500, lots=300, wallet=100e6, leverage=10)
    LadderMaker(model, levels=30, spacing_ticks=500, lots=300, wallet=100e6, leverage=10,
                follow="last", venue="spot")
    Flow(model)
    whale = Whale(model, whale_params(push_venue="index"))
    spot_account = whale.spot_accounts["spot"]
    taker_perp, spot_positions = 0, []
    for _ in range(400):
        model.step()
        spot_positions.append(model.spot.position_lots(spot_account))
        if whale.phase == "push":
            taker_perp += int((model.fills["taker_account"] == whale.account).sum())
    hunt = whale.hunts[0]
    assert (hunt.venue, hunt.trigger, hunt.outcome) == ("index", "mark", "target reached")
    assert min(spot_positions) < 0 and taker_perp == 0  # it pushed by selling spot only
    assert not model.perp.positions_lots(crowd).any()  # the cascade took every long
    assert hunt.liquidated_notional > 0.9 * 8e6
    assert model.perp.position_lots(whale.account) == 0
    assert model.spot.position_lots(spot_account) == 0  # the spot it sold, bought back
    # The PnL is the change of both wallets (each started at the whale's wallet).
    wallets = (model.perp.wallet_usd(whale.account) + model.spot.wallet_usd(spot_account))
    assert hunt.pnl == pytest.approx(wallets - 2 * whale.params.wallet)
