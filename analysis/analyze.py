"""The analysis pipeline: from run directories to tables and figures, per run and across runs.

For one run (:func:`run_tables`), on both maps (the true map and the public estimate on its
grid): clusters at every snapshot (``analysis.clusters``); at decision times one every
``decision_every_s``, their outcomes within the horizon with the funding / OI state
(``analysis.outcomes``, ``analysis.signals``), the magnet levels (``analysis.magnet``) and the
direction table; the estimate's accuracy (``analysis.accuracy``); the whale's hunts as the run
recorded them (``hunts.parquet``, one ``sim.result.HuntRecord`` per row). Funding is read as
recorded too: the series' ``predicted_funding_rate``, against the interest rate of the run's
manifest (``resolved_scenario.exchange``). Across runs (:func:`summary_tables`), grouped by
scenario: magnet lift with bootstrap intervals (over runs, or over blocks of time for one run),
outcome shares, the signal cross-tab and the trader's claims, the direction logit, the
estimate's accuracy. With ``placebo`` set, every per-map test also runs on a placebo map
(``analysis.placebo``), so the tables show beside the real results what the test reads on a map
that knows nothing of the path.

On disk (:func:`analyze_run_dir`, :func:`analyze_runs`)::

    RUN_DIR/heatmap_est.npz            the public estimate, on the true map's grid
    RUN_DIR/analysis/<table>.parquet   and <table>.csv: clusters, outcomes, magnet_levels,
                                       direction, accuracy, whale_hunts, run, magnet_lift,
                                       outcome_shares, signals, claims, logit, accuracy_summary
    RUN_DIR/analysis/summary.json      the config and the headline numbers; written last
    RUN_DIR/figures/*.png              heatmap, true_vs_estimated, magnet_lift(_estimated),
                                       outcomes
    COMBINED_DIR/...                   the summary tables over all runs, runs.*, figures/

``liqsim analyze`` always analyzes anew; ``liqsim report`` and the studies reuse an analysis
whose ``summary.json`` records the same settings (delete ``analysis/`` after changing code).

The decision grid thins the 1-minute snapshots so that one cluster is not counted sixty times
an hour; the outcome shares still come from overlapping horizons, which is why their intervals
over several runs resample whole runs (a percentile bootstrap over runs, Efron and Tibshirani
1993, ch. 13) rather than treat observations as independent.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.accuracy import estimated_map, map_accuracy
from analysis.clusters import detect_clusters, price_path
from analysis.magnet import direction_logit, direction_table, magnet_levels, magnet_lift
from analysis.outcomes import OUTCOMES, classify_outcomes
from analysis.placebo import placebo_map, placebo_partners
from analysis.signals import PREDICTED_FUNDING, compare_state, signal_states, signal_table
from sim.result import HUNT_COLUMNS, TABLES, RunResult, account_pnl

MAPS = ("true", "estimated")
RAW_TABLES = ("clusters", "outcomes", "magnet_levels", "direction", "accuracy", "whale_hunts",
              "run")
SUMMARY_TABLES = ("magnet_lift", "outcome_shares", "signals", "claims", "logit",
                  "accuracy_summary")
LOGIT_FEATURES = ("distance_pct", "log_notional", "funding_bps", "oi_change_pct",
                  "prior_move_pct")
"""The direction logit's features (``analysis.magnet.LOGIT_FEATURES``, funding in bp)."""
CLAIMS = (
    ("long cluster below, high funding, falling OI -> long cascade",
     {"side": "long", "funding_state": "high", "oi_state": "falling"}, "cascade"),
    ("short cluster above, negative funding, falling OI -> short cascade",
     {"side": "short", "funding_state": "negative", "oi_state": "falling"}, "cascade"),
    ("long cluster below, high funding, falling OI -> stop hunt (swept)",
     {"side": "long", "funding_state": "high", "oi_state": "falling"}, "swept"),
)
"""The trader's claims tested against the signal states: (label, state, outcome class)."""

__all__ = ["DEFAULT_CONFIG", "AnalysisConfig", "NotARunDirectory", "analysis_is_current",
           "analyze_run_dir", "analyze_runs", "check_run_dir", "combine_runs",
           "default_combined_dir", "fit_direction_logit", "hunt_targets", "load_raw_tables",
           "recorded_exchange", "run_tables", "summary_tables", "varying_features",
           "whale_figures", "whale_hunt_table", "whale_pnl", "write_tables"]


@dataclass(frozen=True)
class AnalysisConfig:
    """The analysis settings; recorded in ``summary.json`` so a re-run can tell stale output.

    Attributes:
        horizon_s: the horizon H of outcomes and of the magnet test (s).
        reversal_s: the window R in which a sweep reverses (s).
        near: a touch is coming within this fraction of the level.
        run_on: a cascade runs on this fraction beyond the far edge.
        decision_every_s: one decision time per this many seconds of snapshots.
        warmup_s: no decision times before this (s): a run starts with no open interest, and
            its first hour is the crowd building positions, not a market in its stride.
        price_column: "the price" of touches and outcomes. ``mark`` by default: liquidations
            trigger on it, and the last price of a thin book has one-second wicks that would
            touch every level within a few percent.
        cluster_multiple, window_bins, min_notional: cluster detection (``detect_clusters``).
        n_null: matched no-cluster levels per cluster in the magnet test.
        match_width: the matched levels' distances are ``d x (1 -+ match_width)``.
        min_touches: fewest touches (of cluster levels, and of matched levels) for a
            bucket's lift; below it the bucket reads "too few touches".
        n_boot: bootstrap replicates.
        direction_horizon_s: the horizon of the direction logit's next move (s).
        top_k, price_tolerance: the accuracy's top-k clusters and match tolerance.
        placebo: also run every test on a placebo map (``analysis.placebo``: another run's
            true map, or the run's own shifted in time), as ``map == "placebo"``.
        seed: root seed of the matched levels and the bootstraps.
    """

    horizon_s: float = 4 * 3600.0
    reversal_s: float = 1800.0
    near: float = 0.001
    run_on: float = 0.01
    decision_every_s: float = 900.0
    warmup_s: float = 3600.0
    price_column: str = "mark"
    cluster_multiple: float = 3.0
    window_bins: int = 25
    min_notional: float = 500_000.0
    n_null: int = 20
    match_width: float = 0.25
    min_touches: int = 10
    n_boot: int = 1000
    direction_horizon_s: float = 900.0
    top_k: int = 5
    price_tolerance: float = 0.005
    placebo: bool = False
    seed: int = 0

    def to_dict(self) -> dict:
        """Return the settings as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> AnalysisConfig:
        """Return the config in ``data``; keys it leaves out keep their defaults.

        Raises:
            ValueError: ``data`` holds keys that are no setting; the message names them and
                lists the valid ones.
        """
        names = [f.name for f in fields(cls)]
        unknown = [str(k) for k in data if k not in names]
        if unknown:
            raise ValueError(f"unknown analysis setting{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)}; valid settings are: {', '.join(names)}")
        return cls(**data)


DEFAULT_CONFIG = AnalysisConfig()
"""The settings the CLI and the studies use unless told otherwise."""


class NotARunDirectory(ValueError):
    """A path given as a run directory is not one; the message names the path and why."""


def check_run_dir(path: str | Path) -> Path:
    """Return ``path`` if it holds a complete run directory, else raise ``NotARunDirectory``.

    Complete: ``manifest.json`` (a JSON object with a ``scenario`` and the exchange's funding
    rules, :func:`recorded_exchange`), every table's Parquet file and ``heatmap_true.npz``.
    Nothing is read beyond the manifest.
    """
    p = Path(path)
    if not p.is_dir():
        raise NotARunDirectory(f"{p}: not a run directory (no such directory)")
    if not (p / "manifest.json").is_file():
        raise NotARunDirectory(f"{p}: not a run directory (no manifest.json)")
    missing = [f"{n}.parquet" for n in TABLES if not (p / f"{n}.parquet").is_file()]
    missing += [] if (p / "heatmap_true.npz").is_file() else ["heatmap_true.npz"]
    if missing:
        raise NotARunDirectory(f"{p}: not a complete run directory (missing "
                               f"{', '.join(missing)})")
    try:
        manifest = json.loads((p / "manifest.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotARunDirectory(f"{p}: manifest.json is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or "scenario" not in manifest:
        raise NotARunDirectory(f"{p}: manifest.json names no scenario")
    try:
        recorded_exchange(manifest)
    except ValueError as exc:
        raise NotARunDirectory(f"{p}: {exc}") from None
    return p


def recorded_exchange(manifest: Mapping) -> dict[str, float]:
    """Return the funding rules the run was made with, from its manifest's resolved scenario.

    Returns:
        ``interest_rate`` (per funding interval) and ``funding_interval_s``, as
        ``resolved_scenario.exchange`` records them (``scenarios.schema.ExchangeSpec``).

    Raises:
        ValueError: the manifest does not record them; the message names the missing key.
    """
    exchange = manifest.get("resolved_scenario")
    exchange = exchange.get("exchange") if isinstance(exchange, Mapping) else None
    out = {}
    for key in ("interest_rate", "funding_interval_s"):
        value = exchange.get(key) if isinstance(exchange, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"manifest.json records no resolved_scenario.exchange.{key}")
        out[key] = float(value)
    return out


WHALE_HUNT_COLUMNS = ("group", "seed", *HUNT_COLUMNS)
"""The ``whale_hunts`` table: the run's identity, then ``sim.result.HuntRecord``'s fields."""


def whale_hunt_table(hunts: pd.DataFrame, group: str, seed: int) -> pd.DataFrame:
    """Return the run's ``whale_hunts`` table: one row per finished hunt, as recorded.

    The columns are :data:`WHALE_HUNT_COLUMNS`: the stops a push set off
    (``stops_triggered_notional``) and the liquidations (``liquidated_notional``) apart.
    """
    table = hunts[list(HUNT_COLUMNS)].reset_index(drop=True)
    table.insert(0, "group", group)
    table.insert(1, "seed", seed)
    return table


def hunt_targets(hunts: pd.DataFrame) -> pd.DataFrame:
    """Return the hunts' targets as heatmap marks: ``t`` (``start_t``, when the whale chose
    it), ``centre`` (``target_price``) and ``side``."""
    return pd.DataFrame({"t": hunts["start_t"].to_numpy(np.float64),
                         "centre": hunts["target_price"].to_numpy(np.float64),
                         "side": hunts["side"].to_numpy(object)})


def whale_figures(hunts: pd.DataFrame, accounts: pd.DataFrame, series: pd.DataFrame
                  ) -> dict[str, float]:
    """Return the run's whale figures, for its ``run`` row.

    Returns:
        ``whale_hunts`` (finished hunts), ``whale_hunts_target_reached`` (pushes that reached
        the target), ``whale_hunts_succeeded`` (reached it and closed at a profit),
        ``whale_pushed_usd``, ``whale_stops_triggered_usd`` and ``whale_liquidated_usd``
        (summed over the hunts) and ``whale_pnl_usd`` (:func:`whale_pnl`, the open position
        included).
    """
    return {
        "whale_hunts": len(hunts),
        "whale_hunts_target_reached": int((hunts["outcome"] == "target reached").sum()),
        "whale_hunts_succeeded": int(hunts["success"].sum()),
        "whale_pushed_usd": float(hunts["pushed_notional"].sum()),
        "whale_stops_triggered_usd": float(hunts["stops_triggered_notional"].sum()),
        "whale_liquidated_usd": float(hunts["liquidated_notional"].sum()),
        "whale_pnl_usd": whale_pnl(accounts, series),
    }


def whale_pnl(accounts: pd.DataFrame, series: pd.DataFrame) -> float:
    """Return the whales' PnL in USD at the run's last mark (``sim.result.account_pnl``);
    NaN without a whale or a series."""
    whales = accounts[accounts["agent_type"] == "whale"]
    if whales.empty or series.empty:
        return float("nan")
    mark = float(series["mark"].ffill().iloc[-1])
    return float(account_pnl(whales, mark).sum())


def _rng(config: AnalysisConfig, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(config.seed), *[int(k) for k in keys]])


def run_tables(result: RunResult, config: AnalysisConfig = DEFAULT_CONFIG,
               est_map: Mapping[str, np.ndarray] | None = None,
               placebo: tuple[Mapping[str, np.ndarray], str] | None = None
               ) -> dict[str, pd.DataFrame]:
    """Return the per-run tables of the module docstring, and the estimate as ``est_map``.

    Args:
        result: the run.
        config: the settings.
        est_map: the public estimate on the true map's grid (computed when None).
        placebo: a placebo map and where it came from (``analysis.placebo.placebo_map``);
            every per-map table then has ``map == "placebo"`` rows too.

    Returns:
        ``clusters``, ``outcomes`` (decision-time clusters with outcome and signal state),
        ``magnet_levels``, ``direction``, ``accuracy`` (one row), ``whale_hunts``, ``run``
        (one row: the run's identity and headline figures), each with ``map`` where it
        applies; and the key ``est_map`` holding the estimate (a dict, not a table).
    """
    c = config
    manifest = result.manifest
    group = str(manifest.get("scenario", "run"))
    seed = int(manifest.get("seed", 0))
    funding = recorded_exchange(manifest)
    series = result.series
    maps = {"true": result.heatmap,
            "estimated": estimated_map(result) if est_map is None else est_map}
    if placebo is not None:
        maps["placebo"] = placebo[0]
    clusters, outcomes, levels, direction = [], [], [], []
    for m, name in enumerate(maps):
        found = detect_clusters(maps[name], series, multiple=c.cluster_multiple,
                                window_bins=c.window_bins, min_notional=c.min_notional,
                                price_column=c.price_column)
        clusters.append(found.assign(map=name))
        out = classify_outcomes(found[found["t"] >= c.warmup_s], series, result.liquidations,
                                horizon_s=c.horizon_s, near=c.near, reversal_s=c.reversal_s,
                                run_on=c.run_on, every_s=c.decision_every_s,
                                price_column=c.price_column)
        out = signal_states(out, series, interest=funding["interest_rate"],
                            funding_column=PREDICTED_FUNDING)
        outcomes.append(out.assign(map=name))
        levels.append(magnet_levels(out, series, rng=_rng(c, seed, m), horizon_s=c.horizon_s,
                                    near=c.near, n_null=c.n_null, match_width=c.match_width,
                                    run=seed, price_column=c.price_column).assign(map=name))
        direction.append(direction_table(out, series, horizon_s=c.direction_horizon_s,
                                         price_column=c.price_column,
                                         funding_column=PREDICTED_FUNDING).assign(map=name))
    accuracy = map_accuracy(maps["true"], maps["estimated"], k=c.top_k,
                            price_tolerance=c.price_tolerance)
    liq = result.liquidations
    notional = liq["qty"] * liq["entry_price"] if len(liq) else pd.Series(dtype=float)
    hunts = result.hunts
    t_path, p_path = price_path(series, c.price_column)
    run = {
        "group": group, "seed": seed, "scenario_sha256": manifest.get("scenario_sha256", ""),
        "hours": float(manifest.get("simulated_seconds", series["t"].max() if len(series)
                                    else 0.0)) / 3600.0,
        "price_first": float(p_path[0]) if len(p_path) else math.nan,
        "price_last": float(p_path[-1]) if len(p_path) else math.nan,
        "price_min": float(p_path.min()) if len(p_path) else math.nan,
        "price_max": float(p_path.max()) if len(p_path) else math.nan,
        "n_liquidations": len(liq),
        "liquidated_long_usd": float(notional[liq["side"] > 0].sum()) if len(liq) else 0.0,
        "liquidated_short_usd": float(notional[liq["side"] < 0].sum()) if len(liq) else 0.0,
        "interest_rate": funding["interest_rate"],
        "funding_interval_h": funding["funding_interval_s"] / 3600.0,
        "placebo_source": placebo[1] if placebo is not None else "",
        **whale_figures(hunts, result.accounts, series),
    }
    tables = {
        "clusters": pd.concat(clusters, ignore_index=True),
        "outcomes": pd.concat(outcomes, ignore_index=True),
        "magnet_levels": pd.concat(levels, ignore_index=True),
        "direction": pd.concat(direction, ignore_index=True),
        "accuracy": pd.DataFrame([{"group": group, "seed": seed, **accuracy}]),
        "whale_hunts": whale_hunt_table(hunts, group, seed),
        "run": pd.DataFrame([run]),
    }
    for name in ("clusters", "outcomes", "magnet_levels", "direction"):
        tables[name].insert(0, "group", group)
        tables[name].insert(1, "seed", seed)
    tables["est_map"] = maps["estimated"]  # type: ignore[assignment]
    return tables


def _bootstrap_shares(frame: pd.DataFrame, by: list[str], unit: str,
                      rng: np.random.Generator, n_boot: int, confidence: float = 0.95,
                      unit_name: str = "runs") -> pd.DataFrame:
    """Return the pooled outcome shares per ``by`` with percentile intervals over ``unit``s.

    Each replicate draws the units (runs) of a group with replacement and pools their counts.
    """
    counts = (frame.groupby([*by, unit, "outcome"]).size()
              .unstack("outcome", fill_value=0).reindex(columns=list(OUTCOMES), fill_value=0))
    rows = []
    alpha = 100.0 * (1.0 - confidence) / 2.0
    for key, block in counts.groupby(level=list(range(len(by)))):
        c = block.to_numpy(np.float64)  # units x classes
        total = c.sum(axis=0)
        n = total.sum()
        picks = rng.integers(0, len(c), size=(n_boot, len(c)))
        boot = c[picks].sum(axis=1)  # replicates x classes
        with np.errstate(divide="ignore", invalid="ignore"):
            share = boot / boot.sum(axis=1, keepdims=True)
        lo = np.nanpercentile(share, alpha, axis=0)
        hi = np.nanpercentile(share, 100.0 - alpha, axis=0)
        key = key if isinstance(key, tuple) else (key,)
        for j, name in enumerate(OUTCOMES):
            rows.append({**dict(zip(by, key, strict=True)), "outcome": name,
                         "count": int(total[j]), "n": int(n),
                         "share": total[j] / n if n else math.nan,
                         "share_lo": lo[j], "share_hi": hi[j], "units": len(c),
                         "interval": f"bootstrap over {unit_name}"})
    return pd.DataFrame(rows)


def summary_tables(runs: Sequence[Mapping[str, pd.DataFrame]],
                   config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, pd.DataFrame]:
    """Return the summary tables over ``runs`` (``run_tables`` outputs), grouped by scenario.

    With one run per group the intervals come from blocks of time (lift) or treat the
    observations as independent (Wilson, shares); with several, they resample whole runs.
    Only outcomes whose horizon the data cover in full are counted in the shares.

    Returns:
        ``magnet_lift`` (group, map, bucket rows), ``outcome_shares`` (group, map, outcome),
        ``signals`` (true map: group, side, funding and OI state, outcome), ``claims`` (each of
        :data:`CLAIMS` in each group: the state's share against the same side otherwise),
        ``logit`` (group, map, term rows, with ``n``, ``toward_share``, ``converged``) and
        ``accuracy_summary`` (group: mean, sd and n of each accuracy score).
    """
    c = config
    # One unit id per run, so that two runs that share a seed stay apart in the bootstrap.
    outcomes = pd.concat([r["outcomes"].assign(run_id=i) for i, r in enumerate(runs)],
                         ignore_index=True)
    levels = pd.concat([r["magnet_levels"].assign(run=i) for i, r in enumerate(runs)],
                       ignore_index=True)
    direction = pd.concat([r["direction"] for r in runs], ignore_index=True)
    accuracy = pd.concat([r["accuracy"] for r in runs], ignore_index=True)
    groups = list(dict.fromkeys(pd.concat([r["run"]["group"] for r in runs])))
    maps = [*MAPS, "placebo"] if c.placebo else list(MAPS)
    rng = _rng(c, 1)
    lift_parts, logit_parts = [], []
    for g in groups:
        for name in maps:
            lv = levels[(levels["group"] == g) & (levels["map"] == name)]
            lift_parts.append(magnet_lift(lv, rng=rng, n_boot=c.n_boot,
                                          min_touches=c.min_touches)
                              .assign(group=g, map=name))
            d = direction[(direction["group"] == g) & (direction["map"] == name)]
            logit_parts.append(fit_direction_logit(d).assign(group=g, map=name))
    complete = outcomes[outcomes["complete"]]
    n_runs = outcomes.groupby("group")["run_id"].nunique()
    if len(complete) and (n_runs > 1).all():
        shares = _bootstrap_shares(complete, ["group", "map"], "run_id", rng, c.n_boot)
    elif len(complete):
        shares = signal_table(complete, by=("group", "map")).assign(interval="wilson")
    else:
        shares = pd.DataFrame(columns=["group", "map", "outcome", "count", "n", "share",
                                       "share_lo", "share_hi", "interval"])
    true_complete = complete[complete["map"] == "true"]
    signals = (signal_table(true_complete, by=("group", "side", "funding_state", "oi_state"))
               if len(true_complete) else
               pd.DataFrame(columns=["group", "side", "funding_state", "oi_state", "outcome",
                                     "count", "n", "share", "share_lo", "share_hi"]))
    claim_rows = []
    for g in groups:
        frame = true_complete[true_complete["group"] == g]
        for label, state, outcome in CLAIMS:
            got = compare_state(frame, state, outcome).set_index("group")
            claim_rows.append({"group": g, "claim": label, "outcome": outcome,
                               **{f"{col}_{grp}": got.loc[grp, col]
                                  for grp in ("state", "otherwise")
                                  for col in ("n", "count", "share", "share_lo", "share_hi")}})
    scores = ["pearson_long", "pearson_short", "pearson_combined", "precision", "recall",
              "centre_error_usd", "centre_error_frac"]
    agg = accuracy.groupby("group", sort=False)[scores].agg(["mean", "std", "count"])
    agg.columns = [f"{score}_{stat}" for score, stat in agg.columns]
    return {
        "magnet_lift": _front(pd.concat(lift_parts, ignore_index=True), ["group", "map"]),
        "outcome_shares": shares.reset_index(drop=True),
        "signals": signals.reset_index(drop=True),
        "claims": pd.DataFrame(claim_rows),
        "logit": _front(pd.concat(logit_parts, ignore_index=True), ["group", "map"]),
        "accuracy_summary": agg.reset_index(),
    }


def varying_features(table: pd.DataFrame, features: Sequence[str], min_share: float = 0.05
                     ) -> list[str]:
    """Return the ``features`` whose values away from their most common one (or missing) make
    up at least ``min_share`` of the rows.

    A feature that sits at one value nearly always (funding at the 0.01 % baseline in a calm
    market) separates the few rows off it perfectly, and the logit's estimate runs off to
    infinity; such a feature is left out of the fit instead.
    """
    keep = []
    for f in features:
        values = table[f].dropna()
        if len(values) and 1.0 - values.value_counts().iloc[0] / len(values) >= min_share:
            keep.append(f)
    return keep


def fit_direction_logit(direction: pd.DataFrame, features: Sequence[str] = LOGIT_FEATURES
                        ) -> pd.DataFrame:
    """Return the direction logit of ``direction`` rows on the features that vary enough.

    Funding enters in basis points (``funding_bps``, rate x 10^4) so that its coefficient is
    of the size of the others. Returns ``direction_logit``'s term rows with ``n``,
    ``converged``, ``toward_share`` (share of moves toward the nearest cluster) and
    ``dropped`` (features left out by :func:`varying_features`; their rows are NaN).
    """
    d = direction.assign(funding_bps=1e4 * direction["funding_rate"].astype(np.float64))
    used = varying_features(d, features)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        fitted = direction_logit(d, used)
    # Every feature keeps its row, NaN where it was left out.
    table = (fitted.set_index("term").reindex(["intercept", *features]).rename_axis("term")
             .reset_index())
    table.attrs.update(fitted.attrs)
    return table.assign(n=table.attrs["n"], converged=table.attrs["converged"],
                        toward_share=d["toward"].mean() if len(d) else math.nan,
                        dropped=", ".join(f for f in features if f not in used))


def _front(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[columns + [c for c in frame.columns if c not in columns]]


def write_tables(directory: str | Path, tables: Mapping[str, pd.DataFrame]) -> list[Path]:
    """Write each table as ``<name>.parquet`` and ``<name>.csv`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        table.to_parquet(directory / f"{name}.parquet", index=False)
        table.to_csv(directory / f"{name}.csv", index=False)
        written += [directory / f"{name}.parquet", directory / f"{name}.csv"]
    return written


def load_raw_tables(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Return the per-run tables an earlier analysis wrote into ``run_dir/analysis``."""
    folder = Path(run_dir) / "analysis"
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in RAW_TABLES}


def analysis_is_current(run_dir: str | Path, config: AnalysisConfig) -> bool:
    """Return True when ``run_dir`` holds a finished analysis made with ``config``."""
    path = Path(run_dir) / "analysis" / "summary.json"
    try:
        return json.loads(path.read_text()).get("config") == config.to_dict()
    except (OSError, ValueError):
        return False


def headline(summary: Mapping[str, pd.DataFrame], group: str) -> dict:
    """Return a group's headline numbers: the true map's lift per bucket and outcome shares."""
    lift = summary["magnet_lift"]
    lift = lift[(lift["group"] == group) & (lift["map"] == "true")]
    shares = summary["outcome_shares"]
    shares = shares[(shares["group"] == group) & (shares["map"] == "true")]
    out = {f"lift_{b}": _num(v) for b, v in zip(lift["bucket"], lift["lift"], strict=True)}
    out.update({f"share_{o}": _num(v) for o, v in zip(shares["outcome"], shares["share"],
                                                       strict=True)})
    out["n_complete_outcomes"] = int(shares["n"].iloc[0]) if len(shares) else 0
    return out


def _num(value: object) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def run_figures(result: RunResult, tables: Mapping[str, pd.DataFrame],
                summary: Mapping[str, pd.DataFrame], folder: str | Path,
                config: AnalysisConfig = DEFAULT_CONFIG) -> dict[str, Path]:
    """Write the run's figures into ``folder``; return them by name."""
    from analysis import figures

    folder = Path(folder)
    series = result.series
    funding = recorded_exchange(result.manifest)
    outcomes = tables["outcomes"]
    label = f"{tables['run']['group'].iloc[0]}, seed {tables['run']['seed'].iloc[0]}"
    out = {}
    fig = figures.heatmap_figure(result.heatmap, series,
                                 clusters=outcomes[outcomes["map"] == "true"],
                                 targets=hunt_targets(result.hunts),
                                 price_column=config.price_column,
                                 interest_rate=funding["interest_rate"],
                                 funding_interval_s=funding["funding_interval_s"],
                                 title=f"true liquidation map, {label}")
    out["heatmap"] = figures.save(fig, folder / "heatmap.png")
    t_path, p_path = price_path(series, config.price_column)
    fig = figures.side_by_side_figure(result.heatmap, tables["est_map"], t_path, p_path,
                                      title=f"{label}: true map and public estimate")
    out["true_vs_estimated"] = figures.save(fig, folder / "true_vs_estimated.png")
    out.update(summary_figures(summary, folder))
    return out


def summary_figures(summary: Mapping[str, pd.DataFrame], folder: str | Path
                    ) -> dict[str, Path]:
    """Write the magnet-lift and outcome figures of ``summary`` into ``folder``."""
    from analysis import figures

    folder = Path(folder)
    out = {}
    lift = summary["magnet_lift"]
    for name, suffix in (("true", ""), ("estimated", "_estimated"), ("placebo", "_placebo")):
        if not (lift["map"] == name).any():
            continue
        fig = figures.lift_figure(lift[lift["map"] == name],
                                  title=f"magnet lift of the {name} map's clusters, "
                                        "95 % intervals")
        out[f"magnet_lift{suffix}"] = figures.save(fig, folder / f"magnet_lift{suffix}.png")
    shares = summary["outcome_shares"]
    order = {name: i for i, name in enumerate((*MAPS, "placebo"))}
    shares = shares.assign(_groups=shares["group"].map(
        {g: i for i, g in enumerate(dict.fromkeys(summary["magnet_lift"]["group"]))}),
        _maps=shares["map"].map(order)).sort_values(["_groups", "_maps"], kind="stable")
    labelled = shares.assign(group=shares["group"].astype(str) + "\n(" + shares["map"] + " map)")
    fig = figures.outcome_figure(labelled)
    out["outcomes"] = figures.save(fig, folder / "outcomes.png")
    return out


def analyze_run_dir(run_dir: str | Path, config: AnalysisConfig = DEFAULT_CONFIG,
                    figures: bool = True, placebo_from: str | Path | None = None
                    ) -> dict[str, pd.DataFrame]:
    """Analyze one run directory in place; return its raw and summary tables.

    Writes ``heatmap_est.npz``, ``analysis/`` and ``figures/`` (see the module docstring);
    ``analysis/summary.json`` comes last, so its presence means the analysis finished. With
    ``config.placebo`` the placebo map is the true map of the run in ``placebo_from`` (on the
    same grid), or the run's own shifted in time (``analysis.placebo.placebo_map``).
    """
    path = check_run_dir(run_dir)
    # An analysis stopped half-way must not pass for a finished one.
    (path / "analysis" / "summary.json").unlink(missing_ok=True)
    result = RunResult.load(path)
    placebo = None
    if config.placebo:
        other, label = None, ""
        if placebo_from is not None:
            other_run = check_run_dir(placebo_from)
            with np.load(other_run / "heatmap_true.npz") as npz:
                other = {key: npz[key] for key in npz.files}
            seed = json.loads((other_run / "manifest.json").read_text()).get("seed")
            label = f"seed {seed} ({other_run.name})"
        placebo = placebo_map(result.heatmap, other, label)
    tables = run_tables(result, config, placebo=placebo)
    est = tables.pop("est_map")
    summary = summary_tables([tables], config)
    np.savez_compressed(path / "heatmap_est.npz", **est)
    folder = path / "analysis"
    write_tables(folder, {**tables, **summary})
    if figures:
        run_figures(result, {**tables, "est_map": est}, summary, path / "figures", config)
    group = str(tables["run"]["group"].iloc[0])
    info = {"config": config.to_dict(), **_jsonable(tables["run"].iloc[0].to_dict()),
            **{k: _num(v) for k, v in tables["accuracy"].iloc[0].items()
               if k not in ("group", "seed")},
            **headline(summary, group)}
    (folder / "summary.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return {**tables, **summary}


def _jsonable(row: Mapping) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def combine_runs(run_dirs: Sequence[str | Path], out_dir: str | Path,
                 config: AnalysisConfig = DEFAULT_CONFIG, figures: bool = True
                 ) -> dict[str, pd.DataFrame]:
    """Write the summary tables over analyzed runs into ``out_dir``; return them.

    Also writes ``runs`` (one row per run: identity, headline figures, accuracy, the run's
    own lift and shares), ``whale_hunts`` (every run's hunts) and the summary figures into
    ``out_dir/figures``.
    """
    raw = [load_raw_tables(d) for d in run_dirs]
    summary = summary_tables(raw, config)
    hunts = [r["whale_hunts"] for r in raw]
    # Only runs with a hunt: concatenating empty frames would loosen the column types.
    hunts = pd.concat([h for h in hunts if len(h)] or hunts[:1], ignore_index=True)
    rows = []
    for d in run_dirs:
        info = json.loads((Path(d) / "analysis" / "summary.json").read_text())
        info.pop("config", None)
        rows.append({"run_dir": str(d), **info})
    runs = pd.DataFrame(rows)
    out = Path(out_dir)
    write_tables(out, {**summary, "runs": runs, "whale_hunts": hunts})
    if figures:
        summary_figures(summary, out / "figures")
    return {**summary, "runs": runs, "whale_hunts": hunts}


def default_combined_dir(run_dirs: Sequence[str | Path]) -> Path:
    """Return ``<the runs' common parent>/combined``."""
    parents = [str(Path(d).resolve().parent) for d in run_dirs]
    return Path(os.path.commonpath(parents)) / "combined"


def analyze_runs(run_dirs: Sequence[str | Path], config: AnalysisConfig = DEFAULT_CONFIG, *,
                 out_dir: str | Path | None = None, reuse: bool = False,
                 on_run: Callable[[Path, dict], None] | None = None
                 ) -> dict[str, pd.DataFrame] | None:
    """Analyze each run directory; with several (or an ``out_dir``), combine them too.

    Args:
        run_dirs: the runs (all are checked before anything is written).
        config: the settings.
        out_dir: where the combined tables go (default :func:`default_combined_dir`).
        reuse: skip runs whose analysis is current (same config).
            With ``config.placebo`` each run's placebo map is the true map of the next run
            of its group (scenario) in ``run_dirs``, cyclically (``placebo_partners``).
        on_run: called with (run directory, its summary.json data) after each run.

    Returns:
        The combined tables, or None for a single run without ``out_dir``.

    Raises:
        NotARunDirectory: a path is not a run directory; nothing has been written.
    """
    paths = [check_run_dir(d) for d in run_dirs]
    partners = placebo_partners([json.loads((p / "manifest.json").read_text())["scenario"]
                                 for p in paths])
    for path, partner in zip(paths, partners, strict=True):
        if not (reuse and analysis_is_current(path, config)):
            analyze_run_dir(path, config,
                            placebo_from=paths[partner] if partner is not None else None)
        if on_run is not None:
            on_run(path, json.loads((path / "analysis" / "summary.json").read_text()))
    if len(paths) < 2 and out_dir is None:
        return None
    return combine_runs(paths, out_dir or default_combined_dir(paths), config)
