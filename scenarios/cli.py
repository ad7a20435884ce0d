"""The ``liqsim`` command line."""

from __future__ import annotations

import sys
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


def load_scenario_or_exit(source: str, overrides: tuple[str, ...] = ()) -> Scenario:
    """Return the validated scenario; on a bad one print its problems to stderr and exit 2.

    Commands that take a SCENARIO argument share this, so every one of them reports bad input
    the same way: one line per problem, no traceback, exit code 2, before anything is written.
    """
    from scenarios.schema import ScenarioError, load_scenario

    try:
        return load_scenario(source, overrides)
    except ScenarioError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(2) from None


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
def run(scenario: str, seed: int | None, out_dir: str | None,
        overrides: tuple[str, ...]) -> None:
    """Run SCENARIO (a bundled name or a path) and write its run directory.

    The directory holds manifest.json, series/trades/liquidations/funding/accounts/events
    Parquet tables and heatmap_true.npz; it is written atomically at the end.
    """
    from pathlib import Path

    from scenarios.run import run as run_scenario
    from scenarios.run import summarize

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
def realism(scenarios: tuple[str, ...], seeds: int, overrides: tuple[str, ...],
            csv_path: str | None) -> None:
    """Measure stylized facts of SCENARIOS over many seeds and check the realism bounds."""
    from scenarios.realism import check_bounds, realism_table

    for name in scenarios:
        load_scenario_or_exit(name, overrides)
    table = realism_table(scenarios, range(seeds), overrides)
    if csv_path:
        table.to_csv(csv_path, index=False)
    bounds = check_bounds(table)
    with_pd_options = bounds.to_string(index=False, float_format=lambda x: f"{x:.4g}")
    click.echo(with_pd_options)
    if not bounds["passed"].all():
        raise SystemExit(1)
