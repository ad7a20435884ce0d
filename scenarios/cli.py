"""The ``liqsim`` command line."""

from __future__ import annotations

import click


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
