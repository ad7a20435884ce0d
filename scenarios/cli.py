"""The ``liqsim`` command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from scenarios.schema import Scenario


@click.group()
@click.version_option(package_name="liqsim")
def main() -> None:
    """liqsim: an agent-based simulator of a crypto perpetual-futures exchange."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench(as_json: bool) -> None:
    """Measure the exchange core: book throughput, liquidation check, numba load times."""
    from scenarios.bench import main as run_bench

    run_bench(as_json)


@contextmanager
def user_errors(*one_line: type[Exception]) -> Iterator[None]:
    """Turn a user's mistake into its message on stderr and exit code 2, never a traceback.

    A ``ScenarioError`` prints one line per problem; the ``one_line`` errors print their
    message.
    """
    from scenarios.schema import ScenarioError

    try:
        yield
    except ScenarioError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(2) from None
    except one_line as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None


def load_scenario_or_exit(source: str, overrides: tuple[str, ...] = ()) -> Scenario:
    """Return the validated scenario; on a bad one print its problems to stderr and exit 2.

    Commands that take a SCENARIO argument share this, so every one of them reports bad input
    the same way: one line per problem, no traceback, exit code 2, before anything is written.
    """
    from scenarios.schema import load_scenario

    with user_errors():
        return load_scenario(source, overrides)


@main.command()
@click.argument("scenario")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one setting (the value is read as YAML); repeatable.")
def validate(scenario: str, overrides: tuple[str, ...]) -> None:
    """Check SCENARIO (a bundled name or a path) and print its sha256.

    Problems are printed to stderr, one per line, and the exit code is 2.
    """
    sc = load_scenario_or_exit(scenario, overrides)
    click.echo(f"ok: {sc.name} sha256 {sc.sha256()}")


@main.command("list")
def list_scenarios() -> None:
    """List the bundled scenarios with the first line of their descriptions."""
    from scenarios.schema import bundled_scenarios

    names = bundled_scenarios()
    width = max((len(name) for name in names), default=0)
    for name in names:
        sc = load_scenario_or_exit(name)
        first_line = sc.description.strip().splitlines()[0] if sc.description.strip() else ""
        click.echo(f"{name:<{width}}  {first_line}")


@main.command()
@click.argument("scenario")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Replace the scenario's seed.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory to write (default: runs/<scenario>-seed<N>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one setting (the value is read as YAML); repeatable.")
@click.option("--report", "with_report", is_flag=True,
              help="Then analyze the run and write report.html / report.md into it.")
def run(scenario: str, seed: int | None, out_dir: str | None,
        overrides: tuple[str, ...], with_report: bool) -> None:
    """Run SCENARIO (a bundled name or a path) and write its run directory.

    The directory holds manifest.json, series/trades/liquidations/funding/accounts/events
    Parquet tables and heatmap_true.npz; it is written atomically at the end. With --report
    it also gets analysis/ (tables), figures/ and report.html / report.md.
    """
    from pathlib import Path

    from scenarios.runner import run as run_scenario
    from scenarios.runner import summarize

    sc = load_scenario_or_exit(scenario, overrides)
    if seed is not None:
        sc = sc.model_copy(update={"seed": seed})
    out = Path(out_dir) if out_dir else Path("runs") / f"{sc.name}-seed{sc.seed}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        click.echo(f"--out: {out} exists and is not an empty directory; choose another",
                   err=True)
        raise SystemExit(2)
    with _progress_bar(enabled=sys.stderr.isatty()) as progress:
        result = run_scenario(sc, out=out, progress=progress)
    click.echo(summarize(result))
    click.echo(f"wrote {out}")
    if with_report:
        from analysis.report import report_runs

        html, md = report_runs([out])
        click.echo(f"wrote {html} and {md}")


class _progress_bar:
    """A click progress bar on stderr, shown only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.done = 0

    def __enter__(self):
        return self.update if self.enabled else None

    def update(self, step: int, n_steps: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=n_steps, label="simulating", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(step - self.done)
        self.done = step

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@main.command()
@click.argument("scenarios", nargs=-1, required=True)
@click.option("--seeds", type=click.IntRange(min=1), default=10, show_default=True,
              help="Seeds 0 .. N-1 of each scenario.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one setting of every scenario; repeatable.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the per-run facts to this CSV file.")
@click.option("--compare", "compare_paths", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE.csv",
              help="Real 1-minute klines (Binance's layout, with or without a header) whose "
                   "return facts are printed beside the scenarios'; repeatable.")
@click.option("--compare-funding", "funding_paths", multiple=True,
              type=click.Path(dir_okay=False), metavar="FILE.csv",
              help="A real funding history (a funding_rate or fundingRate column, one "
                   "settlement per row) whose dead-zone share, 95th percentile and negative "
                   "share are printed beside the scenarios'; repeatable.")
@click.option("--figure", "figure_path", type=click.Path(dir_okay=False), default=None,
              help="With --compare, write the comparison figure (|r| autocorrelation by lag, "
                   "return distribution) to this PNG; no figure without it.")
@click.option("--skip-s", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Leave the first SECONDS of every run out of the facts (a burn-in).")
def realism(scenarios: tuple[str, ...], seeds: int, overrides: tuple[str, ...],
            csv_path: str | None, compare_paths: tuple[str, ...],
            funding_paths: tuple[str, ...], figure_path: str | None, skip_s: float) -> None:
    """Measure stylized facts of SCENARIOS over many seeds and check the realism bounds.

    With --compare FILE.csv a second table follows: each scenario's return facts (median and
    min-max over seeds) beside those of each real file, all measured on 1-minute log returns
    of the close by the same functions; a return across a gap in a file is dropped. A bad
    file is reported in one line, exit code 2, before any run. The exit code is 1 when a
    realism bound fails, as without --compare. --compare-funding FILE.csv adds the funding
    facts (the share of settlements at the 0.01 % dead zone, the 95th percentile, the share
    negative) beside a real funding history's.
    """
    from scenarios.realism import check_bounds, realism_table

    for name in scenarios:
        load_scenario_or_exit(name, overrides)
    real, real_funding = [], []
    if compare_paths or funding_paths:
        from analysis.real_data import KlineFileError
        from scenarios.realism import real_facts, real_funding_facts

        with user_errors(KlineFileError):
            real = [real_facts(path) for path in compare_paths]
            real_funding = [real_funding_facts(path) for path in funding_paths]
    table = realism_table(scenarios, range(seeds), overrides, keep_returns=bool(real),
                          skip_s=skip_s)
    returns = table.pop("returns_1m") if real else None
    if csv_path:
        table.to_csv(csv_path, index=False)
    bounds = check_bounds(table)
    with_pd_options = bounds.to_string(index=False, float_format=lambda x: f"{x:.4g}")
    click.echo(with_pd_options)
    if real or real_funding:
        from scenarios.realism import compare_table

        click.echo("")
        click.echo(compare_table(table, real, real_funding).to_string(index=False))
    for one in real:
        if one.n_gaps:
            click.echo(f"{one.name}: {one.n_gaps} gap(s), {one.n_missing_bars} missing "
                       "minute(s); the returns across them are dropped")
    if real and figure_path:
        from analysis.figures import realism_compare_figure, save

        simulated = {name: list(returns[group.index])
                     for name, group in table.groupby("scenario", sort=False)}
        fig = realism_compare_figure({one.name: one.returns_1m for one in real}, simulated)
        click.echo(f"figure: {save(fig, figure_path)}")
    if not bounds["passed"].all():
        raise SystemExit(1)


def run_dirs_or_exit(paths: tuple[str, ...]) -> list:
    """Return the paths as checked run directories; otherwise one line per bad path, exit 2.

    Every path is checked before anything is written.
    """
    from analysis.analyze import NotARunDirectory, check_run_dir

    checked, problems = [], []
    for path in paths:
        try:
            checked.append(check_run_dir(path))
        except NotARunDirectory as exc:
            problems.append(str(exc))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(2)
    return checked


def _analysis_config(horizon_s: float | None, placebo: bool = False):
    from dataclasses import replace

    from analysis.analyze import DEFAULT_CONFIG

    config = replace(DEFAULT_CONFIG, placebo=placebo)
    return config if horizon_s is None else replace(config, horizon_s=horizon_s)


_HORIZON = click.option("--horizon-s", type=click.FloatRange(min=0, min_open=True),
                        default=None, help="Outcome and magnet horizon in seconds [14400].")
_PLACEBO = click.option("--placebo", is_flag=True,
                        help="Also run every test on a placebo map: the true map of another "
                             "run of the same scenario, or the run's own shifted in time.")


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Directory for the combined tables of several runs "
                   "[<the runs' common parent>/combined].")
@_HORIZON
@_PLACEBO
def analyze(run_dirs: tuple[str, ...], out_dir: str | None, horizon_s: float | None,
            placebo: bool) -> None:
    """Analyze RUN_DIR... : tables into RUN_DIR/analysis (Parquet and CSV), RUN_DIR/figures.

    Clusters on the true map and on the public estimate, their outcomes, the magnet lift,
    the direction logit, funding / OI signals and the estimate's accuracy. With several runs
    the combined tables (grouped by scenario) also go to --out. With --placebo every test
    also runs on a placebo map (map "placebo" in the tables).
    """
    from analysis.analyze import analyze_runs

    paths = run_dirs_or_exit(run_dirs)

    def show(path, info: dict) -> None:
        def fmt(key: str) -> str:
            value = info.get(key)
            return "n/a" if value is None else f"{value:.2f}"

        click.echo(f"{path}: {info['group']} seed {info['seed']}: "
                   f"{info['n_complete_outcomes']} cluster outcomes with a full horizon, "
                   f"lift at 0-0.5% {fmt('lift_0-0.5%')}, swept {fmt('share_swept')}, "
                   f"estimate r {fmt('pearson_combined')}")

    combined = analyze_runs(paths, _analysis_config(horizon_s, placebo), out_dir=out_dir,
                            on_run=show)
    if combined is not None:
        from analysis.analyze import default_combined_dir

        click.echo(f"wrote the combined tables to {out_dir or default_combined_dir(paths)}")


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Directory of the report [one run: the run directory; several: "
                   "<the runs' common parent>/combined].")
@_HORIZON
@_PLACEBO
def report(run_dirs: tuple[str, ...], out_dir: str | None, horizon_s: float | None,
           placebo: bool) -> None:
    """Write report.html (self-contained) and report.md for RUN_DIR... .

    Runs without a current analysis are analyzed first. The report has a paragraph per
    finding with its numbers, the figures and the tables.
    """
    from analysis.report import report_runs

    paths = run_dirs_or_exit(run_dirs)
    html, md = report_runs(paths, _analysis_config(horizon_s, placebo), out_dir=out_dir)
    click.echo(f"wrote {html} and {md}")


@main.command()
@click.argument("scenario")
@click.option("--notional", "notionals", type=float, required=True, multiple=True,
              metavar="USD", help="The metaorder's notional in USD (> 0); repeat it to "
              "measure several sizes and the impact's slope.")
@click.option("--over", "over_s", type=float, required=True, metavar="SECONDS",
              help="Seconds over which it is sliced: one market order per step.")
@click.option("--venue", type=click.Choice(["perp", "spot"]), required=True,
              help="Where it trades (spot needs a scenario with index.model: spot).")
@click.option("--side", type=click.Choice(["buy", "sell"]), default="buy", show_default=True)
@click.option("--start-s", type=float, default=3600.0, show_default=True,
              help="Simulated time of its start (seconds).")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds 0 .. N-1, each run with and without the metaorder.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one setting (the value is read as YAML); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--check", is_flag=True,
              help="Exit with code 1 when a measured price-impact target is missed.")
def impulse(scenario: str, notionals: tuple[float, ...], over_s: float, venue: str, side: str,
            start_s: float, seeds: int, overrides: tuple[str, ...], as_json: bool,
            check: bool) -> None:
    """Measure the price impact of a metaorder on SCENARIO, on common random numbers.

    Each seed runs twice, without and with the metaorder (--notional USD sliced evenly over
    --over seconds from --start-s); the response of the last price, the mark and the index
    is the with-minus-without difference in bp of the without-run's price, at its peak in
    the metaorder's direction and 5 min, 30 min and 4 h after the metaorder's end. The
    run's duration_s is set to end at the last of these points.

    The price-impact targets follow: the log-log slope of the pushed price's peak (the mark
    on perp, the index on spot) over sizes at least 10x apart (0.4-0.7), the index's share
    of a perp push's peak (>= 0.7) and the share of the peak left 30 min after the end
    (0.5-0.8), both of the largest size. --json prints the issue's object for one size, and
    {"responses": [one per size], "targets": ...} for several; both carry "targets".
    """
    import json
    import time

    from scenarios.impulse import ImpulseError, impact_targets, impulse_response

    sc = load_scenario_or_exit(scenario, overrides)
    started = time.perf_counter()
    with user_errors(ImpulseError):
        responses = [impulse_response(sc, notional, over_s, venue, seeds, side=side,
                                      start_s=start_s) for notional in sorted(set(notionals))]
    wall_s = time.perf_counter() - started
    targets = impact_targets(responses)
    if as_json:
        out = ({**responses[0], "targets": targets} if len(responses) == 1
               else {"responses": responses, "targets": targets})
        click.echo(json.dumps(out))
    else:
        click.echo(f"impulse {sc.name}: {side} on {venue} over {over_s:g} s from "
                   f"t={start_s:g} s; {seeds} seeds, {wall_s:.1f} s wall")
        for out in responses:
            _echo_response(out)
        _echo_targets(targets)
    if check and any(target["ok"] is False for target in targets.values()):
        raise SystemExit(1)


@main.command()
@click.argument("scenario")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds 0 .. N-1.")
@click.option("--skip-s", type=click.FloatRange(min=0), default=7200.0, show_default=True,
              help="Leave the first SECONDS out of volume and liquidations.")
@click.option("--shock-s", type=click.FloatRange(min=0), default=None,
              help="Also measure the aftermath of a shock at this time (seconds).")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one setting (the value is read as YAML); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per seed.")
def positions(scenario: str, seeds: int, skip_s: float, shock_s: float | None,
              overrides: tuple[str, ...], as_json: bool) -> None:
    """How SCENARIO's traders hold positions, seed by seed: daily volume over open interest,
    liquidations as a share of volume, open interest in the first hour over its mean, the
    largest resting stop at one price as a share of open interest, and each crowd's median
    holding time and notional-weighted leverage; with --shock-s, the open interest's fall,
    the peak hour of liquidations and the drop and its retracement after the shock
    (``scenarios/positions.py``, ``docs/traders.md``)."""
    import json

    from scenarios.positions import position_figures

    sc = load_scenario_or_exit(scenario, overrides)
    if shock_s is not None and shock_s >= sc.duration_s:
        click.echo(f"--shock-s: got {shock_s:g}: must be within the run (duration_s = "
                   f"{sc.duration_s:g})", err=True)
        raise SystemExit(2)
    for seed in range(seeds):
        out = position_figures(sc.model_copy(update={"seed": seed}), skip_s, shock_s)
        if as_json:
            click.echo(json.dumps(out))
            continue
        click.echo(f"{sc.name} seed {seed} ({out['wall_s']:.0f} s): volume/day over OI "
                   f"{out['volume_per_day_over_oi']:.2f}, liquidations "
                   f"{out['liquidations_pct_of_volume']:.2f} % of volume, OI first hour / "
                   f"mean {out['oi_first_hour_over_mean']:.3f}, largest stop at one price "
                   f"{out['largest_stop_wall_pct_oi']:.2f} % of OI")
        for kind, crowd in out["crowds"].items():
            hold = crowd["median_holding_s"]
            click.echo(f"  {kind}: median holding "
                       f"{'-' if hold is None else f'{hold / 3600:.2f} h'}, notional-weighted "
                       f"leverage {crowd['notional_weighted_leverage']}, entries "
                       f"{crowd['entries']}, liquidations {crowd['liquidations']}")
        if "shock" in out:
            sh = out["shock"]
            click.echo(f"  shock at {shock_s:g} s: OI falls {sh['oi_fall_pct_within_4h']:.1f} % "
                       f"within 4 h, peak hour of liquidations "
                       f"{sh['max_hourly_liquidations_pct_oi']:.2f} % of OI, drop "
                       f"{sh['drop_pct']:.2f} %, {sh['retraced_after_1h']:.2f} of it retraced "
                       f"after 1 h")


def _echo_response(out: dict) -> None:
    from scenarios.impulse import HORIZONS_S, PRICES

    done = [row["done_usd"] for row in out["per_seed"]]
    click.echo(f"\n{out['notional_usd']:,.0f} USD: notional done {min(done):,.0f} .. "
               f"{max(done):,.0f} USD")
    click.echo("response (bp of the run without), mean over seeds [min .. max]")
    click.echo(f"{'':12s}" + "".join(f"{p:>26s}" for p in PRICES))
    for key in ("peak_bp", *HORIZONS_S):
        cells = []
        for p in PRICES:
            values = [row[key][p] for row in out["per_seed"]]
            cells.append(f"{out[key][p]:+8.2f} [{min(values):+7.2f} .. {max(values):+7.2f}]")
        click.echo(f"{key[:-3]:12s}" + "".join(f"{c:>26s}" for c in cells))


def _echo_targets(targets: dict) -> None:
    click.echo("\nprice-impact targets")
    for name, target in targets.items():
        high = "" if target["high"] is None else f"{target['high']:g}"
        bounds = f"[{target['low']:g}, {high}]" if high else f">= {target['low']:g}"
        if target["ok"] is None:
            click.echo(f"{name:16s} {'not measured':>12s}  {bounds}")
        else:
            verdict = "ok" if target["ok"] else "MISSED"
            click.echo(f"{name:16s} {target['value']:12.2f}  {bounds:12s} {verdict}")


_BACKEND = click.option("--backend", type=click.Choice(["process", "dask"]), default="process",
                        show_default=True, help="A local process pool, or Dask (liqsim[dask]).")
_SCHEDULER = click.option("--scheduler", default=None, metavar="ADDRESS|local",
                          help="With --backend dask: a running scheduler's address "
                               "(tcp://host:8786), or local for a LocalCluster on loopback "
                               "[local].")


@main.command()
@click.argument("name", metavar="STUDY")
@click.option("--seeds", type=click.IntRange(min=1), default=20, show_default=True,
              help="Seeds 0 .. N-1 of every case.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Study directory [studies/STUDY]; an existing one is resumed.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one setting of every case; repeatable.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes [the CPU count]; 1 runs every job in this process.")
@_BACKEND
@_SCHEDULER
@_HORIZON
@_PLACEBO
def study(name: str, seeds: int, out_dir: str | None, overrides: tuple[str, ...],
          workers: int | None, backend: str, scheduler: str | None, horizon_s: float | None,
          placebo: bool) -> None:
    """Run the bundled STUDY (magnet_vs_sweep) over many seeds, then analyze and report.

    magnet_vs_sweep: calm, crowded_longs, whale_hunt with the whale reading the true map and
    whale_hunt with it reading the public estimate. Runs already complete are skipped, so a
    stopped study resumes; the report goes to OUT/combined/report.html, and one row per run
    (headline metrics, or the error of a failed run) to OUT/combined/summary.parquet.
    """
    from scenarios.study import StudyError, plan_study, run_study
    from scenarios.sweep import BackendError, make_backend

    config = _analysis_config(horizon_s, placebo)
    out = out_dir or f"studies/{name}"
    with user_errors(StudyError, BackendError):
        runner = make_backend(backend, workers, scheduler)
        jobs = plan_study(name, seeds, out, overrides, config)
    todo = sum(j.simulate for j in jobs)
    click.echo(f"study {name}: {len(jobs)} runs, {todo} to simulate, "
               f"{len(jobs) - todo} already done; writing to {out}", err=True)

    def progress(job, done: int, total: int, seconds: float) -> None:
        click.echo(f"[{done}/{total}] {job.case} seed {job.seed}: {seconds:.0f} s", err=True)

    try:
        html, _ = run_study(name, seeds, out, overrides, config, workers, on_job=progress,
                            backend=runner)
    except (StudyError, BackendError) as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    click.echo(f"wrote {html}")


@main.command()
@click.argument("scenario")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Sweep directory [sweeps/<scenario name>]; one holding this sweep is "
                   "resumed.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes of the pool or of a local Dask cluster [the CPU count]; "
                   "with the process backend, 1 runs every run in this process.")
@_BACKEND
@_SCHEDULER
@click.option("--shard", default=None, metavar="K/N",
              help="Run only every N-th point, from the K-th (array jobs); run once more "
                   "without --shard to combine every shard's rows.")
@click.option("--dry-run", is_flag=True,
              help="Print the points, the runs and an estimated time; write nothing.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one setting of the scenario (or its sweep block); repeatable.")
def sweep(scenario: str, out_dir: str | None, jobs: int | None, backend: str,
          scheduler: str | None, shard: str | None, dry_run: bool,
          overrides: tuple[str, ...]) -> None:
    """Run the sweep: block of SCENARIO: every point times every replicate.

    Writes OUT/sweep.json, OUT/points.parquet, a run directory per run (OUT/runs/p<point>-
    r<replicate>/) and OUT/combined/summary.parquet and .csv, one row per run (a failed run
    is a row with its error). Every point is checked before anything runs; runs already
    complete are skipped, so a stopped sweep resumes with the same command.
    """
    import os

    from scenarios.sweep import BackendError, SweepError, make_backend, parse_shard, plan_sweep

    with user_errors(SweepError, BackendError):
        shard_k_n = parse_shard(shard) if shard is not None else None
        runner = make_backend(backend, jobs, scheduler)
        plan = plan_sweep(scenario, overrides, out_dir, shard_k_n)
    runs, todo = plan.shard_runs, plan.todo
    where = f" (shard {shard_k_n[0]}/{shard_k_n[1]}: {len(runs)} runs)" if shard_k_n else ""
    keys = f"{len(plan.keys)} key{'s' if len(plan.keys) != 1 else ''}"
    click.echo(f"sweep {plan.base.name}: {plan.spec.method} over {keys}, "
               f"{len(plan.points)} points x {plan.spec.replicates} replicates = "
               f"{len(plan.runs)} runs{where}; {len(runs) - len(todo)} done, {len(todo)} to "
               f"run; {plan.out}", err=True)
    if dry_run:
        remote = backend == "dask" and scheduler not in (None, "local")
        _print_dry_run(plan, None if remote else jobs or os.cpu_count() or 1)
        return

    def progress(p) -> None:
        status = p.row["status"] if p.row["status"] == "ok" else f"FAILED: {p.row['error']}"
        click.echo(f"[{p.done}/{p.total}] {p.run.run_id} {status} ({p.row['wall_s']:.1f} s); "
                   f"{p.failed} failed; ETA {_duration(p.eta_s)}", err=True)

    from scenarios.sweep import run_sweep

    with user_errors(BackendError):
        outcome = run_sweep(plan, runner, on_run=progress)
    click.echo(f"wrote {outcome.summary} ({outcome.n_rows} of {outcome.n_runs} runs: "
               f"{outcome.n_ok} ok, {outcome.n_failed} failed)")
    if outcome.n_failed:
        click.echo("some runs failed (their rows hold the error); run the same command again "
                   "to retry them", err=True)
        raise SystemExit(1)


@main.command("whale-grid")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="sweeps/whale_grid",
              show_default=True, help="Sweep directory; one holding this sweep is resumed.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes [the CPU count]; 1 runs every run in this process.")
@_BACKEND
@_SCHEDULER
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one setting of whale_grid (or its sweep block, e.g. "
                   "sweep.replicates=3); repeatable.")
def whale_grid(out_dir: str, jobs: int | None, backend: str, scheduler: str | None,
               overrides: tuple[str, ...]) -> None:
    """Run the whale_grid study: the whale over crowding x trigger x book resilience x index
    (scenarios/whale_grid.yaml, 10 seeds a cell), then summarize it per cell.

    Runs the sweep (resuming a stopped one), then writes OUT/combined/whale_grid.csv and .md
    (hunts, success rate, cascade multiplier and whale PnL per run, each with a 95 % run
    bootstrap interval) and OUT/combined/whale_grid.png (success against crowding, one line
    per trigger and resilience, one panel per index), and prints the table.
    """
    from analysis.whale_grid import GRID_CELL, cell_table, grid_figure, grid_labels, markdown_cells
    from scenarios.sweep import BackendError, SweepError, make_backend, plan_sweep, run_sweep
    from scenarios.sweep.store import write_atomic, write_table

    with user_errors(SweepError, BackendError):
        runner = make_backend(backend, jobs, scheduler)
        plan = plan_sweep("whale_grid", overrides, out_dir)
    click.echo(f"whale_grid: {len(plan.runs)} runs, {len(plan.todo)} to run; {plan.out}",
               err=True)

    def progress(p) -> None:
        click.echo(f"[{p.done}/{p.total}] {p.run.run_id} {p.row['status']} "
                   f"({p.row['wall_s']:.1f} s); ETA {_duration(p.eta_s)}", err=True)

    with user_errors(BackendError):
        outcome = run_sweep(plan, runner, on_run=progress)
    import pandas as pd

    cells = cell_table(grid_labels(pd.read_parquet(outcome.summary)), GRID_CELL)
    combined = outcome.summary.parent
    write_table(cells, combined / "whale_grid")
    text = markdown_cells(cells)
    write_atomic(combined / "whale_grid.md", text)
    grid_figure(cells, combined / "whale_grid.png")
    click.echo(text + f"wrote {combined / 'whale_grid.csv'}, .md and .png")
    if not outcome.complete:
        click.echo(f"{outcome.n_failed} runs failed (their rows hold the error); run the same "
                   "command again to retry them", err=True)
        raise SystemExit(1)


def _print_dry_run(plan, workers: int | None) -> None:
    """Print the points (at most 50) and the estimated time of what is left on ``workers``
    (None: a cluster of unknown size)."""
    from scenarios.sweep import estimate
    from scenarios.sweep.store import points_table

    table = points_table(plan.keys, plan.points)
    shown = table.head(50).to_string(index=False)
    click.echo(shown + (f"\n... ({len(table)} points)" if len(table) > 50 else ""))
    todo = plan.todo
    if not todo:
        click.echo("nothing to run")
        return
    timing = estimate(todo[0].scenario)
    click.echo(f"timing run of {todo[0].run_id}: build {timing.build_s:.2f} s, "
               f"{timing.step_s * 1e3:.2f} ms per step over {timing.timed_steps} steps; "
               f"about {_duration(timing.run_s)} per run of {timing.n_steps:,} steps")
    if workers is None:
        click.echo(f"estimated: {len(todo)} runs take about "
                   f"{_duration(timing.run_s * len(todo))} of worker time on the cluster "
                   f"(runs of other points may differ)")
        return
    workers = min(workers, len(todo))
    total = timing.run_s * -(-len(todo) // workers)
    click.echo(f"estimated: {len(todo)} runs in about {_duration(total)} on {workers} "
               f"workers (runs of other points may differ)")


def _duration(seconds: float) -> str:
    """Return ``4.2 s``, ``42 s``, ``3 min 20 s`` or ``2 h 05 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
