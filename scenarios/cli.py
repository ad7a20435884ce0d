"""The ``liqsim`` command line."""

from __future__ import annotations

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
