"""Progress on stderr, all of it decided here: per-chain bars for a single fit, one overall line
for a long job.

A long job (``hierstan reproduce``, ``sbc``, ``kfold``) is a :class:`Job` of N steps. Where a
line can be rewritten in place (a terminal, a notebook) it is one line: the step, fits done (of
the step's total where known), elapsed and an estimate of the time left. Anywhere else (CI, a
log file) it writes plain lines, never a carriage return: one when a step starts and one when it
ends, and within a step at most one per tenth of its fits or per few minutes.

While a job runs, the fits inside it draw no bars of their own: the job's line stands for them.
A fit outside a job draws per-chain bars in a terminal or a notebook; in a log it writes one
plain line when it starts and one when it ends.
"""

from __future__ import annotations

import contextvars
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

# the job of this context, which counts its fits: a thread Dask starts has none, so that a fit
# there is not counted twice (once by the fan-out that waits for it)
_running: contextvars.ContextVar[Job | None] = contextvars.ContextVar("hierstan_job", default=None)
# the jobs shown in this process, in any thread: while there is one, no fit draws its own bars
_open: list[Job] = []

PLAIN_SHARE = 10  # in a log, a line each tenth of a step's fits ...
PLAIN_EVERY = 180.0  # ... or after this many seconds without one
LIVE_EVERY = 0.1  # seconds between redraws of the line in place (many fits finish at once)


def in_notebook() -> bool:
    """A Jupyter kernel: its stderr is no terminal, yet it shows carriage returns in place. Asked
    of IPython's running shell: a module that merely imported ipykernel is no kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def in_place(stream: TextIO) -> bool:
    """Whether ``stream`` shows a line rewritten in place: a terminal, or stderr in a notebook."""
    try:
        return stream.isatty() or (stream is sys.stderr and in_notebook())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def duration(seconds: float) -> str:
    """``12s``, ``4m05s``, ``1h07m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


class Job:
    """One long job of ``steps`` steps, shown on ``stream`` (default stderr) while it is entered
    (``with Job(...) as job``); inside it, :func:`step`, :func:`fit_done` and :func:`say` reach
    it. ``tick``: seconds between redraws of the line in place when nothing happens, so that
    elapsed time moves during a long fit (None: none; the tests' fake ``clock`` needs none)."""

    def __init__(self, what: str, *, steps: int, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, tick: float | None = 1.0) -> None:
        self.what, self.steps = what, steps
        self.stream = sys.stderr if stream is None else stream
        self.live = in_place(self.stream)
        self.clock, self.tick = clock, tick
        self.started = clock()
        self.number, self.name, self.total = 0, "", None  # the current step; total: its fits, if known
        self.done = self.failed = self.fits = 0  # fits done (and failed) in the step; done in the job
        self.step_started = self.started
        self.resumed = 0.0  # the share of the job done before it started (resumed fits): not a rate
        self._steps_done = 0
        self._marks = 0  # tenths of the step's fits shown in the log
        self._last_plain = self._last_drawn = -float("inf")
        self._width = 0  # of the line in place now
        self._lock = threading.RLock()  # the ticker redraws from its own thread
        self._stop = threading.Event()
        self._token: contextvars.Token | None = None

    def __enter__(self) -> Job:
        self._token = _running.set(self)
        _open.append(self)
        if self.live and self.tick:
            threading.Thread(target=self._ticking, daemon=True, name="hierstan-progress").start()
        return self

    def __exit__(self, kind, error, trace) -> None:
        self._stop.set()
        _running.reset(self._token)
        _open.remove(self)
        with self._lock:
            if error is None and self.steps > 1:  # in place of the last step's line, on a terminal
                self.clear()
                self._plain(f"{self.what}: done, {self._count(self.fits, None, None)} in "
                            f"{duration(self.clock() - self.started)}")
            elif self.live:
                self._draw(force=True)
                self._write("\n")  # the line stays; what follows starts below it

    @contextmanager
    def step(self, name: str, *, fits: int | None = None) -> Iterator[None]:
        """The next step, ``name``, of ``fits`` fits (None: not known beforehand)."""
        with self._lock:
            self.number += 1
            self.steps = max(self.steps, self.number)
            self.name, self.total, self.done, self.failed, self._marks = name, fits, 0, 0, 0
            self.step_started = self._last_plain = self.clock()
            if self.live:
                self._draw(force=True)
            else:
                self._plain(f"{self._where()}: started" + (f", {fits} fits" if fits else "")
                            + f" | {self._times()}")
        yield
        with self._lock:
            self._steps_done += 1
            if self.live:
                self._draw(force=True)
            else:
                self._plain(f"{self._where()}: done, {self._count(self.done, None, self.failed)} in "
                            f"{duration(self.clock() - self.step_started)} | {self._times()}")

    def advance(self, fits: int = 1, *, failed: int = 0, resumed: bool = False) -> None:
        """``fits`` more fits done in the step, ``failed`` of them failed; ``resumed``: done by
        an earlier run (counted, but left out of the rate the time left is estimated from)."""
        with self._lock:
            before = self._share()
            self.done += fits
            self.fits += fits
            self.failed += failed
            if resumed:
                self.resumed += self._share() - before
            if self.live:
                self._draw()
                return
            now = self.clock()
            tenths = self.done * PLAIN_SHARE // self.total if self.total else 0
            if (0 < tenths < PLAIN_SHARE and tenths > self._marks) or now - self._last_plain >= PLAIN_EVERY:
                self._marks = max(self._marks, tenths)
                self._plain(f"{self._where()}: {self._count(self.done, self.total, self.failed)} | "
                            f"{self._times()}")

    def say(self, text: str) -> None:
        """``text`` on a line of its own; the line in place is drawn again below it."""
        with self._lock:
            self.clear()
            self._write(text + "\n")
            if self.live:
                self._draw(force=True)

    def clear(self) -> None:
        """Blank the line in place, so that what is written next starts a line of its own; it
        is drawn again at the next update."""
        with self._lock:
            if self.live and self._width:
                self._write("\r" + " " * self._width + "\r")
                self._width = 0

    # --- what a line says

    def _where(self) -> str:
        if self.steps == 1 and self.name == self.what:  # a job of one step: its name says it all
            return self.what
        return f"{self.what}: step {self.number} of {self.steps}, {self.name}"

    @staticmethod
    def _count(done: int, total: int | None, failed: int | None) -> str:
        text = f"{done} of {total} fits" if total else f"{done} fit{'s' * (done != 1)}"
        return text + (f" ({failed} failed)" if failed else "")

    def _share(self) -> float:
        """The job's share done: whole steps, and the current one's fits where their total is known."""
        within = min(self.done / self.total, 1.0) if self.total and self.number > self._steps_done else 0.0
        return (self._steps_done + within) / self.steps

    def _times(self) -> str:
        elapsed = self.clock() - self.started
        share = self._share()
        rate = share - self.resumed
        left = f", ~{duration(elapsed * (1 - share) / rate)} left" if 0 < rate and share < 1 else ""
        return f"{duration(elapsed)} elapsed{left}"

    # --- writing

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: progress is not worth failing for
            pass

    def _plain(self, text: str) -> None:
        self._last_plain = self.clock()
        self._write(text + "\n")

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_drawn < LIVE_EVERY:
            return
        self._last_drawn = now
        head, tail = self._where(), f": {self._count(self.done, self.total, self.failed)} | {self._times()}"
        # one screen line at most (a wrapped line cannot be rewritten by a carriage return): the
        # step's name is cut first, the counts and times kept
        width = max(40, shutil.get_terminal_size().columns - 1)
        if len(head) + len(tail) > width:
            head = head[:max(0, width - len(tail) - 3)] + "..."
        text = (head + tail)[:width]
        self._write("\r" + text.ljust(self._width))
        self._width = len(text)

    def _ticking(self) -> None:
        while not self._stop.wait(self.tick):
            with self._lock:
                if not self._stop.is_set():
                    self._draw(force=True)


@contextmanager
def step(name: str, *, fits: int | None = None) -> Iterator[None]:
    """The running job's next step (see :meth:`Job.step`); nothing without a job."""
    job = _running.get()
    if job is None:
        yield
        return
    with job.step(name, fits=fits):
        yield


def fit_done() -> None:
    """One fit done, counted by the running job (nothing without one)."""
    job = _running.get()
    if job is not None:
        job.advance()


def say(text: str) -> None:
    """A message on stderr, on a line of its own: above the running job's line in place."""
    job = _running.get()
    if job is not None:
        job.say(text)
    else:
        print(text, file=sys.stderr, flush=True)


def clear_line() -> None:
    """Blank the running job's line in place before another library writes to stderr (a log
    record), so that its text does not run on after the line; nothing without a job."""
    job = _running.get()
    if job is not None:
        job.clear()


@contextmanager
def fan_out(what: str, *, fits: int, show: bool) -> Iterator[Job | None]:
    """The job a fan-out of ``fits`` fits reports to: the running one (the fan-out is part of its
    step), else with ``show`` a job of one step of its own, else none."""
    job = _running.get()
    if job is not None or not show:
        yield job
        return
    with Job(what, steps=1) as job, job.step(what, fits=fits):
        yield job


@contextmanager
def sampling(name: str, *, chains: int, warmup: int, draws: int, show: bool) -> Iterator[bool]:
    """Around one sampling run of ``name``: whether it draws per-chain bars (``show``, no job
    shown, and stderr rewrites lines in place). In a log, a line at its start and end instead."""
    alone = show and not _open
    bars = alone and in_place(sys.stderr)
    if alone and not bars:
        say(f"hierstan: sampling {name}: {chains} chain{'s' * (chains != 1)}, {warmup} warmup + {draws} "
            f"draws each")
    started = time.monotonic()
    yield bars
    if alone and not bars:
        say(f"hierstan: sampled {name} in {duration(time.monotonic() - started)}")
