"""The report: findings in plain words with their numbers, figures and tables, as HTML and Markdown.

:func:`findings` turns the summary tables of ``analysis.analyze`` into one short paragraph per
finding (magnet lift, outcomes, signals, direction, the public estimate, the whale), each
quoting the numbers it rests on and saying plainly when an interval covers "no effect". The
whale's hunts come from the runs' ``whale_hunts`` tables (the recorded ``HuntRecord`` rows).
:func:`write_report` writes ``report.html`` (self-contained: figures embedded as base64 PNG)
and ``report.md`` (figures linked by relative path) into one directory.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.analyze import (
    DEFAULT_CONFIG,
    SUMMARY_TABLES,
    AnalysisConfig,
    analyze_runs,
    check_run_dir,
    default_combined_dir,
)
from analysis.outcomes import OUTCOMES

__all__ = ["Finding", "findings", "hunt_report_table", "markdown_table", "report_runs",
           "report_tables", "write_report"]


@dataclass(frozen=True)
class Finding:
    """One finding: a title and a paragraph of plain text that quotes its numbers."""

    title: str
    text: str


def _pct(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100.0 * x:.{digits}f} %"


def _num(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _interval(lo: float, hi: float, digits: int = 2, pct: bool = False) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no interval: too few units to resample"
    f = (lambda v: _pct(v)) if pct else (lambda v: _num(v, digits))
    return f"95 % interval {f(lo)} to {f(hi)}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600.0:g} h" if seconds >= 3600 else f"{seconds / 60.0:g} min"


def _groups(summary: Mapping[str, pd.DataFrame]) -> list[str]:
    return list(dict.fromkeys(summary["magnet_lift"]["group"]))


MIN_UNITS = 5
"""Fewest resampled units (runs or blocks) for a bootstrap interval to be read as evidence."""


def _lift_line(r) -> tuple[str, bool]:
    """Return a bucket's sentence and whether it can be judged (enough touches and units)."""
    if r.verdict == "too few touches":
        return (f"{r.bucket} away: too few touches to judge ({r.n_touch_cluster} of "
                f"{r.n_cluster} clusters, {r.n_touch_null} matched levels)", False)
    ok = r.n_units >= MIN_UNITS
    return (f"{r.bucket} away: lift {_num(r.lift)} ({_interval(r.lift_lo, r.lift_hi)}; "
            f"touched {_pct(r.p_touch_cluster)} of {r.n_cluster} clusters vs "
            f"{_pct(r.p_touch_null)} for matched levels"
            + ("" if ok else "; too few runs or blocks to judge") + ")", ok)


def lift_finding(summary: Mapping[str, pd.DataFrame], config: Mapping) -> Finding:
    """Return the magnet-lift finding (true map's clusters), group by group.

    A bucket is judged only with at least :data:`MIN_UNITS` resampled units and enough
    touches (its ``verdict`` is not "too few touches"): a percentile interval from two runs,
    or a ratio of three touches to two, is no evidence either way.
    """
    lift = summary["magnet_lift"]
    lift = lift[lift["map"] == "true"]
    parts, verdicts = [], []
    judged = 0
    for g in _groups(summary):
        rows = lift[(lift["group"] == g) & (lift["n_cluster"] > 0)]
        if rows.empty:
            parts.append(f"{g}: no cluster had a decision time in these runs.")
            continue
        units = _plural(int(rows["n_units"].iloc[0]), rows["resampled"].iloc[0].rstrip("s"))
        lines = []
        for r in rows.itertuples():
            line, ok = _lift_line(r)
            lines.append(line)
            if not ok:
                continue
            judged += 1
            if r.verdict == "magnet":
                verdicts.append(f"{g} at {r.bucket} (clusters pulled the price)")
            elif r.verdict == "repels":
                verdicts.append(f"{g} at {r.bucket} (clusters were touched less than the "
                                "levels beside them)")
        parts.append(f"{g} (intervals over {units}): " + "; ".join(lines) + ".")
    if judged == 0:
        verdict = (f"No bucket had enough to judge (at least {MIN_UNITS} runs or blocks and "
                   f"{int(config.get('min_touches', 10))} touches each of clusters and matched "
                   "levels).")
    elif verdicts:
        verdict = "The interval excludes 1 for " + "; ".join(verdicts) + "."
    else:
        verdict = ("Where there was enough to judge, no interval excludes 1: a cluster's level "
                   "was not touched more often than a level beside it at the same time — no "
                   "magnet effect could be shown.")
    text = (f"Magnet lift is P(touch within {_hours(config['horizon_s'])} | a cluster's near "
            f"edge at distance d) divided by the same for levels without a cluster at the same "
            f"time, on the same side, at distances d x (1 -+ {config.get('match_width', 0.25):g})"
            f" (their rate at d itself, from a quadratic through them); the same time means "
            f"the same volatility ahead. 1 means no magnet. " + " ".join(parts) + " " + verdict)
    return Finding("Do liquidation clusters pull the price? (magnet lift)", text)


def placebo_finding(summary: Mapping[str, pd.DataFrame], runs: pd.DataFrame
                    ) -> Finding | None:
    """Return the placebo check: the tests on maps that know nothing of the path, beside
    the true map's; None when the analysis ran without a placebo."""
    lift = summary["magnet_lift"]
    placebo = lift[lift["map"] == "placebo"]
    if placebo.empty:
        return None
    sources = sorted(set(runs.get("placebo_source", pd.Series(dtype=str)).dropna()) - {""})
    parts, faked = [], []
    for g in _groups(summary):
        rows = placebo[(placebo["group"] == g) & (placebo["n_cluster"] > 0)]
        if rows.empty:
            continue
        lines = [_lift_line(r)[0] for r in rows.itertuples()]
        faked += [f"{g} at {r.bucket}" for r in rows.itertuples()
                  if r.verdict in ("magnet", "repels") and r.n_units >= MIN_UNITS]
        extra = []
        shares = summary["outcome_shares"]
        for m in ("true", "placebo"):
            s = shares[(shares["group"] == g) & (shares["map"] == m)
                       & (shares["outcome"] == "swept")]
            if len(s) and int(s["n"].iloc[0]):
                extra.append(f"swept {_pct(s['share'].iloc[0])} on the {m} map")
        logit = summary["logit"]
        for m in ("true", "placebo"):
            row = logit[(logit["group"] == g) & (logit["map"] == m)]
            if len(row) and int(row["n"].iloc[0]):
                extra.append(f"moved toward the nearest cluster in "
                             f"{_pct(row['toward_share'].iloc[0])} on the {m} map")
        parts.append(f"{g}: " + "; ".join(lines) + (". Outcomes: " + ", ".join(extra)
                                                    if extra else "") + ".")
    verdict = ("The placebo reads an effect at " + "; ".join(faked) + ": there, the true "
               "map's lift is no evidence." if faked else
               "The placebo reads no effect wherever it can be judged, as it must.")
    text = ("The same tests on placebo maps (" + ("; ".join(sources) or "maps of other runs")
            + "): clusters formed by another path, laid on this one. A sound statistic reads 1 "
            "here. Outcome shares and the direction share are what the market does at any "
            "level: compare the true map's with the placebo's, not with zero. "
            + " ".join(parts) + " " + verdict)
    return Finding("Placebo check: the same tests on maps that know nothing", text)


def outcome_finding(summary: Mapping[str, pd.DataFrame], config: Mapping) -> Finding:
    """Return the outcome-shares finding (true map), with the sweep share of entered clusters."""
    shares = summary["outcome_shares"]
    shares = shares[shares["map"] == "true"]
    parts = []
    for g in _groups(summary):
        rows = shares[shares["group"] == g].set_index("outcome")
        if rows.empty or int(rows["n"].iloc[0]) == 0:
            parts.append(f"{g}: no cluster observation had its full "
                         f"{_hours(config['horizon_s'])} horizon inside the run.")
            continue
        n = int(rows["n"].iloc[0])
        listed = ", ".join(f"{_pct(rows.loc[o, 'share'])} {o}" for o in OUTCOMES)
        entered = rows.loc[["swept", "cascade", "pierced"], "count"].sum()
        sweep = rows.loc["swept", "count"] / entered if entered else math.nan
        swept = _interval(rows.loc["swept", "share_lo"], rows.loc["swept", "share_hi"],
                          pct=True)
        parts.append(f"{g}: of {n:,} cluster observations {listed} (swept: {swept}); of the "
                     f"{int(entered)} the price entered, {_pct(sweep)} were sweeps.")
    text = (f"Each cluster seen at a decision time (one per {_hours(config['decision_every_s'])}"
            f", after the first {_hours(config['warmup_s'])}) was followed for "
            f"{_hours(config['horizon_s'])}: untouched, bounced (came within "
            f"{_pct(config['near'], 2)} and turned), swept (entered, liquidations fired, back "
            f"beyond the pre-touch price within {_hours(config['reversal_s'])}: a hunt), cascade "
            f"(entered and ran {_pct(config['run_on'], 1)} beyond) or pierced (entered, "
            f"neither). " + " ".join(parts))
    return Finding("What happened to the clusters? (outcomes)", text)


def _baselines(runs: pd.DataFrame) -> str:
    """Return the runs' interest rates per funding interval, e.g. '0.01 % per 8 h'."""
    pairs = dict.fromkeys(zip(runs["interest_rate"], runs["funding_interval_h"], strict=True))
    return " or ".join(f"{100.0 * rate:.4g} % per {hours:g} h" for rate, hours in pairs)


def claim_finding(summary: Mapping[str, pd.DataFrame], runs: pd.DataFrame) -> Finding:
    """Return the funding / OI claims' finding: the state's share against the base rate."""
    claims = summary["claims"]
    parts = []
    for label, rows in claims.groupby("claim", sort=False):
        seen, never = [], []
        for r in rows.itertuples():
            if r.n_state == 0:
                never.append(r.group)
                continue
            interval = _interval(r.share_lo_state, r.share_hi_state, pct=True)
            overlap = not (r.share_lo_state > r.share_hi_otherwise
                           or r.share_hi_state < r.share_lo_otherwise)
            seen.append(f"{r.group}: {int(r.count_state)} of {int(r.n_state)} "
                        f"({_pct(r.share_state)}, {interval}) against "
                        f"{int(r.count_otherwise)} of {int(r.n_otherwise)} otherwise "
                        f"({_pct(r.share_otherwise)}), "
                        + ("the intervals overlap: no difference shown"
                           if overlap else "the intervals do not overlap"))
        if never:
            seen.append(f"the state never occurred in {', '.join(never)}")
        parts.append(f"'{label}': " + "; ".join(seen) + ".")
    text = ("Funding (the rate the current interval would settle at, as the run recorded it) "
            f"is 'high' above the run's interest rate ({_baselines(runs)}), 'negative' below "
            "zero; OI is 'falling' when it dropped over the last hour. Wilson intervals treat "
            "cluster observations as independent, which overlapping horizons are not: read "
            "them as optimistic. " + " ".join(parts))
    return Finding("Funding and open interest as signals", text)


def direction_finding(summary: Mapping[str, pd.DataFrame], config: Mapping) -> Finding:
    """Return the direction logit's finding (true map)."""
    logit = summary["logit"]
    logit = logit[logit["map"] == "true"]
    parts = []
    for g in _groups(summary):
        rows = logit[logit["group"] == g]
        if rows.empty or int(rows["n"].iloc[0]) == 0:
            parts.append(f"{g}: no decision time had a full window.")
            continue
        first = rows.iloc[0]
        terms = rows[(rows["term"] != "intercept") & rows["coef"].notna()]
        described = ", ".join(f"{t.term} {t.coef:.3g} (p = {_num(t.p_value, 3)})"
                              for t in terms.itertuples())
        significant = [t.term for t in terms.itertuples() if t.p_value < 0.05]
        sentence = (f"{g}: over {int(first['n'])} windows the price moved toward the nearest "
                    f"cluster in {_pct(first['toward_share'])}. Coefficients: "
                    f"{described or 'none estimable'}")
        if first["dropped"]:
            sentence += f"; left out for lack of variation: {first['dropped']}"
        if not bool(first["converged"]):
            sentence += "; the fit did not converge, so read these with care"
        sentence += (". " + ("No coefficient differs from zero at the 5 % level."
                             if not significant else
                             f"Different from zero at 5 %: {', '.join(significant)}."))
        parts.append(sentence)
    text = (f"The magnet test of the price-limit literature: was the next "
            f"{_hours(config['direction_horizon_s'])} move toward the nearest cluster (1) or "
            f"away (0), regressed on its distance (%), log notional, funding (bp), the OI "
            f"change over the last hour (%) and the price's move over the previous "
            f"{_hours(config['direction_horizon_s'])} toward the cluster's side (%): a "
            f"cluster's side is set by the moves before it, so without that term mean "
            f"reversion alone would read as a pull. A negative distance coefficient means "
            f"nearer clusters pull harder. " + " ".join(parts))
    return Finding("Direction of the next move (logit)", text)


def accuracy_finding(summary: Mapping[str, pd.DataFrame], config: Mapping) -> Finding:
    """Return the public estimate's accuracy finding."""
    acc = summary["accuracy_summary"]
    parts = []
    for r in acc.itertuples():
        n = int(r.pearson_combined_count)
        parts.append(f"{r.group} ({_plural(n, 'run')}): correlation "
                     f"{_num(r.pearson_combined_mean)} (longs {_num(r.pearson_long_mean)}, "
                     f"shorts {_num(r.pearson_short_mean)}), top-{config['top_k']} precision "
                     f"{_pct(r.precision_mean)} and recall {_pct(r.recall_mean)}, matched "
                     f"centres {_num(r.centre_error_usd_mean, 0)} USD "
                     f"({_pct(r.centre_error_frac_mean, 2)}) off on average.")
    text = ("The estimate a public dashboard can compute (candles, OI changes, taker volume, an "
            "assumed leverage mix) was scored against the true map of the same run: Pearson "
            "correlation over the grid, and the top clusters per snapshot matched within "
            f"{_pct(config['price_tolerance'], 2)} of price. " + " ".join(parts))
    return Finding("How good is the public heatmap?", text)


def whale_finding(runs: pd.DataFrame) -> Finding | None:
    """Return the whale's finding (hunts, what they set off, PnL per group), or None without
    a hunt."""
    if "whale_hunts" not in runs.columns or runs["whale_hunts"].fillna(0).sum() == 0:
        return None
    parts = []
    for g, rows in runs.groupby("group", sort=False):
        hunts = int(rows["whale_hunts"].fillna(0).sum())
        if hunts == 0:
            continue
        pnl = rows["whale_pnl_usd"].astype(float)
        spread = (f" on average (from {pnl.min():,.0f} to {pnl.max():,.0f})"
                  if len(rows) > 1 else "")
        won = int((pnl > 0).sum())
        parts.append(f"{g}: {_plural(hunts, 'hunt')} in {_plural(len(rows), 'run')}, "
                     f"{int(rows['whale_hunts_target_reached'].sum())} pushed to the target; "
                     f"the hunts set off {rows['whale_stops_triggered_usd'].sum():,.0f} USD of "
                     f"stops and {rows['whale_liquidated_usd'].sum():,.0f} USD of liquidations "
                     f"on the hunted side; PnL {pnl.mean():,.0f} USD per run{spread}, "
                     f"positive in {won} of {len(rows)}.")
    return Finding("Did hunting pay?", "The whale's PnL counts fees, funding and its open "
                   "position at the last mark price; stops and liquidations are those of the "
                   "hunted side from the push's start to the hunt's end, at their fill prices. "
                   + " ".join(parts))


def hunt_report_table(hunts: pd.DataFrame, per_hunt: bool) -> pd.DataFrame:
    """Return the report's table of the whale's hunts (``whale_hunts`` rows, USD notionals).

    Args:
        hunts: ``analysis.analyze.whale_hunt_table`` rows of one or more runs.
        per_hunt: one row per hunt (for one run); otherwise one row per group and push
            outcome, with the hunts' count and their means per hunt.
    """
    frame = pd.DataFrame({
        "group": hunts["group"], "start_h": hunts["start_t"] / 3600.0, "map": hunts["map"],
        "side": hunts["side"], "target": hunts["target_price"],
        "distance_pct": hunts["distance_pct"], "outcome": hunts["outcome"],
        "pushed_usd": hunts["pushed_notional"],
        "stops_usd": hunts["stops_triggered_notional"],
        "liquidated_usd": hunts["liquidated_notional"],
        "cascade_multiplier": hunts["cascade_multiplier"], "success": hunts["success"],
        "pnl_usd": hunts["pnl"]})
    if per_hunt:
        return frame.reset_index(drop=True)
    means = ["pushed_usd", "stops_usd", "liquidated_usd", "cascade_multiplier", "success",
             "pnl_usd"]
    grouped = frame.groupby(["group", "outcome"], sort=False)
    table = grouped[means].mean().add_suffix("_mean")
    table.insert(0, "hunts", grouped.size())
    return table.reset_index()


def findings(summary: Mapping[str, pd.DataFrame], runs: pd.DataFrame, config: Mapping
             ) -> list[Finding]:
    """Return the report's findings, in order."""
    out = [lift_finding(summary, config)]
    placebo = placebo_finding(summary, runs)
    out += [placebo] if placebo is not None else []
    out += [outcome_finding(summary, config), claim_finding(summary, runs),
            direction_finding(summary, config), accuracy_finding(summary, config)]
    whale = whale_finding(runs)
    return out + ([whale] if whale is not None else [])


def report_tables(summary: Mapping[str, pd.DataFrame], runs: pd.DataFrame,
                  hunts: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Return the tables the report shows, trimmed and rounded for reading.

    With ``hunts`` (``whale_hunts`` rows) that hold a hunt, a whale-hunt table comes last: one
    row per hunt for a single run, per group and push outcome for several
    (:func:`hunt_report_table`).
    """
    lift = summary["magnet_lift"][["group", "map", "bucket", "n_cluster", "p_touch_cluster",
                                   "p_touch_null", "lift", "lift_lo", "lift_hi", "verdict"]]
    shares = summary["outcome_shares"]
    pivot = (shares.pivot_table(index=["group", "map"], columns="outcome", values="share",
                                sort=False).reindex(columns=list(OUTCOMES)).reset_index()
             if len(shares) else pd.DataFrame(columns=["group", "map", *OUTCOMES]))
    if len(shares):
        n = shares.groupby(["group", "map"], sort=False)["n"].first().reset_index()
        pivot = pivot.merge(n, on=["group", "map"])
    claims = summary["claims"][["group", "claim", "n_state", "share_state", "n_otherwise",
                                "share_otherwise"]]
    logit = summary["logit"]
    logit = logit[logit["map"] == "true"][["group", "term", "coef", "se", "p_value", "n",
                                           "toward_share"]]
    acc = summary["accuracy_summary"]
    acc = acc[["group"] + [c for c in acc.columns if c.endswith("_mean")]]
    keep = [c for c in ("group", "seed", "hours", "n_liquidations", "liquidated_long_usd",
                        "liquidated_short_usd", "whale_hunts", "whale_stops_triggered_usd",
                        "whale_liquidated_usd", "whale_pnl_usd", "pearson_combined",
                        "precision", "recall") if c in runs.columns]
    tables = {"magnet lift": lift, "outcome shares": pivot, "funding / OI claims": claims,
              "direction logit (true map)": logit, "public estimate accuracy (means)": acc,
              "runs": runs[keep]}
    if hunts is not None and len(hunts):
        per_hunt = len(runs) == 1
        name = "whale hunts" if per_hunt else "whale hunts by push outcome (means per hunt)"
        tables[name] = hunt_report_table(hunts, per_hunt)
    return tables


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """Return ``frame`` as a GitHub-flavoured Markdown table (numbers to ``digits`` figures)."""
    def cell(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if not np.isfinite(v) else f"{v:.{digits}g}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; } .meta { color: #666; font-size: .9em; }
"""


def write_report(out_dir: str | Path, summary: Mapping[str, pd.DataFrame], runs: pd.DataFrame,
                 config: Mapping, figures: Sequence[tuple[str, Path]], *,
                 hunts: pd.DataFrame | None = None, title: str = "liqsim report"
                 ) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` into ``out_dir``.

    Args:
        out_dir: the directory (created).
        summary: ``analysis.analyze.summary_tables`` output.
        runs: one row per run (group, seed and headline columns).
        config: the analysis settings (``AnalysisConfig.to_dict()``).
        figures: (caption, PNG path) pairs, in order.
        hunts: the runs' ``whale_hunts`` rows (their table is left out when None or empty).
        title: the report's title.

    Returns:
        The paths of the HTML and the Markdown report.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    found = findings(summary, runs, config)
    tables = report_tables(summary, runs, hunts)
    groups = ", ".join(f"{g} ({_plural(n, 'run')})"
                       for g, n in runs.groupby("group", sort=False).size().items())
    meta = (f"{_plural(len(runs), 'run')}: {groups}. Horizon "
            f"{_hours(config['horizon_s'])}, decision times every "
            f"{_hours(config['decision_every_s'])}, price column '{config['price_column']}', "
            f"analysis seed {config['seed']}.")

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><p class='meta'>{html.escape(meta)}</p>",
             "<h2>Findings</h2>"]
    md = [f"# {title}", "", meta, "", "## Findings", ""]
    for f in found:
        parts.append(f"<h3>{html.escape(f.title)}</h3><p>{html.escape(f.text)}</p>")
        md += [f"### {f.title}", "", f.text, ""]
    parts.append("<h2>Figures</h2>")
    md += ["## Figures", ""]
    for caption, path in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f"<figure><img alt='{html.escape(caption)}' "
                     f"src='data:image/png;base64,{data}'><figcaption>{html.escape(caption)}"
                     f"</figcaption></figure>")
        rel = Path(os.path.relpath(Path(path).resolve(), out.resolve())).as_posix()
        md += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    parts.append("<h2>Tables</h2>")
    md += ["## Tables", ""]
    for name, table in tables.items():
        parts.append(f"<h3>{html.escape(name)}</h3>"
                     + table.to_html(index=False, float_format=lambda v: f"{v:.4g}",
                                     na_rep="", border=0))
        md += [f"### {name}", "", markdown_table(table), ""]
    parts.append("</body></html>")
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text("\n".join(parts), encoding="utf-8")
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return html_path, md_path


def report_runs(run_dirs: Sequence[str | Path], config: AnalysisConfig = DEFAULT_CONFIG, *,
                out_dir: str | Path | None = None, title: str | None = None
                ) -> tuple[Path, Path]:
    """Analyze the runs where needed and write their report; return (HTML, Markdown) paths.

    One run: the report goes into the run directory (or ``out_dir``) and shows the run's
    figures.
    Several: the combined tables and figures go into ``out_dir`` (default
    ``analysis.analyze.default_combined_dir``) with the report, which also shows the heatmap
    of the first run of each scenario.

    Raises:
        analysis.analyze.NotARunDirectory: a path is not a run directory; nothing written.
    """
    paths = [check_run_dir(d) for d in run_dirs]
    combined = analyze_runs(paths, config, out_dir=out_dir if len(paths) > 1 else None,
                            reuse=True)
    infos = [json.loads((p / "analysis" / "summary.json").read_text()) for p in paths]
    runs = pd.DataFrame([{"run_dir": str(p), **{k: v for k, v in i.items() if k != "config"}}
                         for p, i in zip(paths, infos, strict=True)])
    if combined is None:
        run_dir = paths[0]
        out = Path(out_dir) if out_dir else run_dir
        summary = {n: pd.read_parquet(run_dir / "analysis" / f"{n}.parquet")
                   for n in SUMMARY_TABLES}
        hunts = pd.read_parquet(run_dir / "analysis" / "whale_hunts.parquet")
        figure_dir = run_dir / "figures"
        label = f"{runs['group'].iloc[0]}, seed {runs['seed'].iloc[0]}"
        heatmaps = [(f"{label}: true liquidation map with price, funding, OI and "
                     "liquidations", figure_dir / "heatmap.png"),
                    (f"{label}: true map and public estimate", figure_dir /
                     "true_vs_estimated.png")]
    else:
        out = Path(out_dir) if out_dir else default_combined_dir(paths)
        summary = combined
        hunts = combined["whale_hunts"]
        figure_dir = out / "figures"
        firsts = runs.drop_duplicates("group")
        heatmaps = [(f"{r.group}, seed {r.seed}: true liquidation map with price, funding, "
                     "OI and liquidations (one example run)", Path(r.run_dir) / "figures" /
                     "heatmap.png") for r in firsts.itertuples()]
    figures = [*heatmaps,
               ("magnet lift of the true map's clusters by distance, 95 % intervals",
                figure_dir / "magnet_lift.png"),
               ("magnet lift of the public estimate's clusters",
                figure_dir / "magnet_lift_estimated.png"),
               *([("magnet lift on placebo maps (must read 1)",
                   figure_dir / "magnet_lift_placebo.png")] if config.placebo else []),
               ("outcome shares by scenario and map", figure_dir / "outcomes.png")]
    title = title or ("liqsim report: " + ", ".join(dict.fromkeys(runs["group"])))
    return write_report(out, summary, runs, config.to_dict(), figures, hunts=hunts,
                        title=title)
