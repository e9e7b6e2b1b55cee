"""Many fits at once on Dask: simulation-based calibration and K-fold hand their fits here.

Each fit is a task ``job(**arguments)`` returning a small JSON-able record. Records are written
one file per task as they arrive (``<folder>/fits/<key>.json``, published whole by a rename), so
an interrupted run resumes where it stopped: a task whose record is there is not run again,
unless it failed. A task that raises, or whose worker keeps dying, is recorded with its reason
and the run goes on. Ctrl-C cancels every task, closes the cluster hierstan started, and leaves
only whole records behind.

Compiled programs reach the workers through the compile cache (``$HIERSTAN_CACHE_DIR`` or the
user's cache folder): the caller builds them once, before the fan-out (:func:`build`), and the
workers of a ``LocalCluster`` inherit the environment, so they find them. The workers of a
cluster on other machines need hierstan, the engine, and the same cache folder on a shared file
system (set ``HIERSTAN_CACHE_DIR`` on every worker); a worker that does not find a program
compiles it itself, under the cache's lock, once per machine.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ClusterError, DataError, HierstanError
from .files import write_text
from .programs import load_program
from .progress import Job, fan_out

RECORDS = "fits"
SETTINGS = "run.json"
_RESUME = ("the records written before it are kept: free space there, then run it again with the same "
           "folder (--out) and settings, which resumes")


def build(program: str, engine: str = "auto", progress: bool = True) -> None:
    """Compile ``program`` for ``engine`` into the cache now, so that workers only load it."""
    from .engines import get_engine

    get_engine(engine).compile(load_program(program), progress=progress)


@contextmanager
def dask_client(client: Any = None, scheduler: str | None = None,
                workers: int | None = None) -> Iterator[Any]:
    """The Dask client to run on: ``client`` as given, a client of the cluster at ``scheduler``
    (``tcp://host:port``), or else a LocalCluster of ``workers`` processes (default: one per
    core) with one thread each. Whatever this opens, it closes."""
    if client is not None and scheduler is not None:
        raise HierstanError("give a Dask client or a scheduler address, not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise DataError(f"workers must be an integer >= 1 or None, got {workers!r}")
    if client is not None:
        yield client
        return
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            opened = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise HierstanError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        try:
            yield opened
        finally:
            _close(opened)
        return
    # one single-threaded process per core: each fit runs its chains in one thread, so the fits
    # side by side use every core without oversubscribing them
    try:
        with _workers_ignore_ctrl_c():
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None, memory_limit=0,
                                   silence_logs=logging.ERROR)
    except RuntimeError as exc:  # what the parent sees of a worker that could not start
        raise HierstanError(
            f"could not start the local Dask workers ({exc}). Workers are new Python processes that "
            f"import the main script again: a script that calls hierstan.sbc or hierstan.kfold must "
            f"do so under `if __name__ == \"__main__\":`") from exc
    try:
        with Client(cluster) as opened:
            yield opened
    finally:
        cluster.close()


def _close(client: Any) -> None:
    """Close ``client``; one whose scheduler is gone, without dask's traceback of the reconnection
    it gives up (the ClusterError on its way says what happened)."""
    logger = logging.getLogger("distributed.client")
    before = logger.disabled
    logger.disabled = before or client.status != "running"
    try:
        client.close()
    finally:
        logger.disabled = before


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (they inherit it): Ctrl-C in a terminal reaches
    the whole process group, and it is this process that stops the run and closes the workers,
    not each worker printing its own traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(
    job: Callable[..., dict[str, Any]],
    tasks: Mapping[str, Mapping[str, Any]],
    *,
    folder: str | Path | None = None,
    settings: Mapping[str, Any] | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    what: str = "fits",
) -> dict[str, dict[str, Any]]:
    """Run ``job(**tasks[key])`` for every key on Dask; returns each key's record.

    A record is the job's dict plus ``key``, ``status`` (the job's, else ``"ok"``; ``"failed"``
    with a ``reason`` where the job raised or its worker died), ``seconds`` and ``worker``.
    With ``folder``, records are written there as they arrive and read back on the next run with
    the same ``settings`` (a folder holding another run's settings is refused); failed tasks are
    run again.
    """
    records: dict[str, dict[str, Any]] = {}
    store = _Store(Path(folder), settings or {}) if folder is not None else None
    if store is not None:
        records = {key: record for key, record in store.load().items()
                   if key in tasks and record.get("status") != "failed"}
    todo = [key for key in tasks if key not in records]
    # a job's line: its own, or (inside reproduce) the running job's, whose step these fits are
    with fan_out(what, fits=len(tasks), show=progress) as shown:
        if shown is not None and records:
            shown.advance(len(records), resumed=True)
        if todo:
            with dask_client(client, scheduler, workers) as opened:
                _fan_out(opened, job, {key: tasks[key] for key in todo}, records, store, shown)
    return {key: records[key] for key in tasks}


def _fan_out(client: Any, job: Callable[..., dict[str, Any]], tasks: Mapping[str, Mapping[str, Any]],
             records: dict[str, dict[str, Any]], store: _Store | None, shown: Job | None) -> None:
    from dask.distributed import as_completed

    run_id = f"{os.getpid()}-{time.time_ns()}"
    futures = {client.submit(_attempt, job, key, dict(arguments), key=f"hierstan-{run_id}-{key}",
                             pure=False): key for key, arguments in tasks.items()}
    try:
        for future in as_completed(futures):
            key = futures[future]
            try:
                record = future.result()
            except Exception as exc:  # KilledWorker (its worker died too often), lost connection
                if _scheduler_lost(client, exc):  # every task is lost with it: none is a failed fit
                    total = len(set(records) | set(tasks))
                    raise _lost_scheduler(client, len(records), total, store) from exc
                record = {"key": key, "status": "failed",
                          "reason": f"the task was lost: {type(exc).__name__}: {exc}"}
            records[key] = record
            if store is not None:
                store.write(key, record)
            if shown is not None:
                shown.advance(failed=int(record["status"] == "failed"))
    except ClusterError:  # no scheduler left to cancel on (the cluster's processes are its owner's)
        raise
    except BaseException:  # Ctrl-C or anything else: no fit goes on running
        client.cancel(list(futures), force=True)
        raise


def _scheduler_lost(client: Any, exc: Exception) -> bool:
    """The client's connection to the scheduler is gone (dask cancels every future with the
    reason "scheduler-connection-lost"), as opposed to one task that failed."""
    return getattr(exc, "reason", None) == "scheduler-connection-lost" or client.status != "running"


def _lost_scheduler(client: Any, done: int, total: int, store: _Store | None) -> ClusterError:
    address = getattr(client.scheduler, "address", None) if client.scheduler is not None else None
    where = f" at {address}" if address else ""
    if store is not None:
        kept = (f"the records of the {done} done are kept in {store.records}: run it again with the same "
                f"folder (--out) and settings, on a running cluster, and only the other {total - done} run")
    else:
        kept = ("nothing is kept without a folder: give one (folder=, or --out) to resume after a failure "
                "like this one")
    return ClusterError(f"lost the connection to the Dask scheduler{where} with {done} of {total} fits done "
                        f"(the scheduler stopped, ran out of memory, or its machine or network went down); "
                        f"{kept}")


def _attempt(job: Callable[..., dict[str, Any]], key: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run one task on a worker; an exception becomes a failed record, not a lost run."""
    start = time.perf_counter()
    where = f"{socket.gethostname()}:{os.getpid()}"
    try:
        record = {"status": "ok", **job(**arguments)}
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        place = f" ({last[0].filename}:{last[0].lineno})" if last else ""
        record = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}{place}"}
    return {**record, "key": key, "seconds": time.perf_counter() - start, "worker": where}


class _Store:
    """One JSON file per record under ``folder/fits``, and the run's settings in ``run.json``."""

    def __init__(self, folder: Path, settings: Mapping[str, Any]) -> None:
        self.records = folder / RECORDS
        self.records.mkdir(parents=True, exist_ok=True)
        path = folder / SETTINGS
        wanted = json.loads(json.dumps(settings, default=str))
        if path.exists():
            found = json.loads(path.read_text())
            if found != wanted:
                changed = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
                raise HierstanError(f"{folder} holds a run with other settings ({', '.join(changed)}); "
                                    f"give another folder, or delete it to start again")
        else:
            _publish(path, json.dumps(wanted, indent=1))

    def load(self) -> dict[str, dict[str, Any]]:
        found = {}
        # a dot file is a temporary of a write that was killed before its rename: not a record
        for path in sorted(p for p in self.records.glob("*.json") if not p.name.startswith(".")):
            record = json.loads(path.read_text())
            found[record["key"]] = record
        return found

    def write(self, key: str, record: dict[str, Any]) -> None:
        _publish(self.records / f"{key}.json", json.dumps(record, default=_plain))


def _publish(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    write_text(path, text, "the record", fix=_RESUME)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

