"""Many runs of one scenario: a grid (or zipped lists) of parameter points, replicates with
controlled seeds, one tidy row per run, resumable, on a laptop or a cluster.

``liqsim sweep SCENARIO`` runs the scenario's ``sweep:`` block (``scenarios.schema.SweepSpec``)::

    plan = plan_sweep("sweep_example", out_dir="sweeps/example")   # everything checked
    outcome = run_sweep(plan, make_backend("process", workers=4))
    pd.read_parquet(outcome.summary)                                # one row per run

Modules, one job each: ``plan`` (points, runs, seeds, what is done), ``runs`` (the task a
worker runs and the headline metrics of a run), ``executor`` (serial, process pool and Dask
backends; also what ``liqsim study`` runs on), ``store`` (the directory: identity, rows,
tables), ``driver`` (run, store, combine; the dry run's estimate).
"""

from scenarios.sweep.driver import Progress, SweepOutcome, combine, estimate, run_sweep
from scenarios.sweep.executor import BackendError, Task, execute, make_backend
from scenarios.sweep.plan import SweepError, SweepPlan, parse_shard, plan_sweep, replicate_seed
from scenarios.sweep.runs import run_metrics, simulate_run

__all__ = ["BackendError", "Progress", "SweepError", "SweepOutcome", "SweepPlan", "Task",
           "combine", "estimate", "execute", "make_backend", "parse_shard", "plan_sweep",
           "replicate_seed", "run_metrics", "run_sweep", "simulate_run"]
