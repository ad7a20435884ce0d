"""Where many runs execute: in this process, on a local process pool, or on a Dask cluster.

Every backend takes the same ``Task`` list (a key, a top-level function, its arguments) and
yields one ``Outcome`` per task as it finishes, in the order they finish; callers that want
a stable order sort by key. A task that raises, or whose worker dies, is an outcome with an
error, and the others go on.

numba compiles each kernel into a cache on first use; several processes compiling the same
cache at once can crash. ``execute`` therefore warms the cache in this process before any
worker starts, and workers only load it. A Dask cluster on other machines shares the warm
cache only when it shares this installation's files (and CPU model); otherwise each worker
compiles for itself once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from scenarios.sweep.runs import describe_error

BACKENDS = ("process", "dask")
QUIET_WORKERS = {"distributed.worker.profile.enabled": False,
                 "distributed.admin.tick.interval": "1s",
                 "distributed.admin.system-monitor.interval": "5s"}
DASK_MISSING = ("the dask backend needs dask.distributed, which is not installed: "
                "pip install 'liqsim[dask]'")


@dataclass(frozen=True)
class Task:
    """One unit of work: ``function(*args)`` under a key unique among its siblings."""

    key: str
    function: Callable[..., Any]
    args: tuple = field(default=())


@dataclass(frozen=True)
class Outcome:
    """A finished task: its return value, or the error that stopped it."""

    task: Task
    value: Any = None
    error: str | None = None


class Backend(Protocol):
    """Runs tasks and yields their outcomes as they finish."""

    workers: int | None

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]: ...


class BackendError(RuntimeError):
    """A backend cannot start as asked (dask missing, a bad scheduler address)."""


@dataclass
class SerialBackend:
    """Every task in this process, one after the other (``--jobs 1``)."""

    workers: int | None = 1

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        for task in tasks:
            try:
                value = task.function(*task.args)
            except Exception as exc:  # noqa: BLE001 - one failed task must not stop the rest
                yield Outcome(task, error=describe_error(exc))
                continue
            yield Outcome(task, value)


TASKS_PER_WORKER = 20
"""A process pool is replaced after this many tasks per worker: a worker's memory grows run by
run (one reached 5.5 GB over about 95 three-hour ``whale_grid`` runs), and a fresh one starts
from numba's on-disk cache in a few seconds."""


@dataclass
class ProcessBackend:
    """Pools of ``workers`` spawned processes on this machine, a fresh pool for every
    ``TASKS_PER_WORKER`` tasks per worker (so memory stays bounded over a long sweep).

    Spawn, not fork: ``import mesa`` asks for it, and numba's threads do not survive a fork.
    A fresh pool rather than ``max_tasks_per_child``: with it, the pool of Python 3.11.7 hung
    in ``tests/test_sweep.py``'s test of worker replacement.
    """

    workers: int | None = None

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        if not tasks:
            return
        n_workers = max(1, min(self.workers or os.cpu_count() or 1, len(tasks)))
        chunk = n_workers * TASKS_PER_WORKER
        for start in range(0, len(tasks), chunk):
            yield from self._run_pool(tasks[start:start + chunk], n_workers)

    @staticmethod
    def _run_pool(tasks: Sequence[Task], n_workers: int) -> Iterator[Outcome]:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=context)
        try:
            futures = {pool.submit(t.function, *t.args): t for t in tasks}
            pending = set(futures)
            while pending:
                # wait() rather than as_completed(): no timeout, and the finished set is
                # drained whole, so a burst of completions is reported without delay.
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: futures[f].key):
                    task = futures[future]
                    try:
                        yield Outcome(task, future.result())
                    except Exception as exc:  # noqa: BLE001 - e.g. a worker that died
                        yield Outcome(task, error=describe_error(exc))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class DaskBackend:
    """A Dask cluster: ``scheduler="local"`` starts a ``LocalCluster`` of ``workers``
    single-threaded processes on loopback; an address (``tcp://host:8786``) joins a running
    cluster, whose size its owner decides. Its workers need liqsim installed, and they write
    the run directories themselves, so the output directory must be on a filesystem they
    share with this machine, under the same path.

    Tasks are submitted under explicit keys (``liqsim-<task key>-<token>``, the token new for
    every call): Dask merges calls it takes for identical, which would drop replicates, and
    a fresh token keeps a long-lived cluster from handing back a result of an earlier call.

    The local cluster's workers run with ``QUIET_WORKERS``: by default a worker samples its
    task thread's stack every 10 ms (the statistical profiler) and ticks its event loop every
    20 ms, and in a simulation that spends its time in Python both take the GIL from the run
    (about 10 % of its time, measured). Workers of a running cluster take their settings from
    that cluster's own configuration; set the same there.
    """

    scheduler: str = "local"
    workers: int | None = None

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        if not tasks:
            return
        distributed = import_distributed()
        token = uuid.uuid4().hex[:8]
        with self._client(distributed, len(tasks)) as client:
            futures = {client.submit(t.function, *t.args, key=f"liqsim-{t.key}-{token}",
                                     pure=False): t for t in tasks}
            for future in distributed.as_completed(futures):
                task = futures[future]
                try:
                    value = future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker
                    yield Outcome(task, error=describe_error(exc))
                else:
                    yield Outcome(task, value)
                future.release()

    def _client(self, distributed: Any, n_tasks: int) -> Any:
        if self.scheduler != "local":
            try:
                return distributed.Client(self.scheduler, timeout="30s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise BackendError(f"--scheduler {self.scheduler}: cannot reach a Dask "
                                   f"scheduler there: {exc}") from None
        import dask

        n_workers = max(1, min(self.workers or os.cpu_count() or 1, n_tasks))
        with dask.config.set(QUIET_WORKERS):  # a nanny hands its config to its worker
            cluster = distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                scheduler_port=0, dashboard_address=None, silence_logs=logging.ERROR)
        return _ClusterClient(distributed.Client(cluster), cluster)


class _ClusterClient:
    """A client that also closes the local cluster it was made for."""

    def __init__(self, client: Any, cluster: Any) -> None:
        self.client, self.cluster = client, cluster

    def __enter__(self) -> Any:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.cluster.close()


def import_distributed() -> Any:
    """Return ``dask.distributed``; raise ``BackendError`` saying how to install it."""
    try:
        import dask.distributed as distributed
    except ImportError:
        raise BackendError(DASK_MISSING) from None
    return distributed


def make_backend(backend: str = "process", workers: int | None = None,
                 scheduler: str | None = None) -> Backend:
    """Return the backend asked for; ``process`` with one worker runs in this process.

    Raises:
        BackendError: an unknown backend, a scheduler given to the process backend, or the
            dask backend without dask installed.
    """
    if backend not in BACKENDS:
        raise BackendError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    if backend == "process":
        if scheduler is not None:
            raise BackendError("--scheduler needs --backend dask")
        return SerialBackend() if workers == 1 else ProcessBackend(workers)
    import_distributed()
    return DaskBackend(scheduler or "local", workers)


def warm_simulation_kernels() -> None:
    """Compile, or load from numba's cache, every kernel a simulation uses."""
    from sim.exchange.facade import Exchange, ExchangeConfig
    from sim.exchange.warmup import exercise_all_kernels
    from sim.heatmap import price_edges, true_heatmap

    exercise_all_kernels()
    exchange = Exchange(ExchangeConfig())
    exchange.open_accounts(2, 1e6, 10)
    true_heatmap(exchange, price_edges(100_000.0, 0.1, 50.0))


def execute(tasks: Sequence[Task], backend: Backend,
            warm_up: Callable[[], None] | None = warm_simulation_kernels
            ) -> Iterator[Outcome]:
    """Yield the outcome of every task as it finishes, after ``warm_up`` ran here once."""
    if not tasks:
        return
    if warm_up is not None:
        warm_up()
    yield from backend.run(tasks)


__all__ = ["BACKENDS", "Backend", "BackendError", "DaskBackend", "Outcome", "ProcessBackend",
           "SerialBackend", "Task", "execute", "import_distributed", "make_backend",
           "warm_simulation_kernels"]
