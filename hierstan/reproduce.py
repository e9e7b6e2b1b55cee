"""Regenerate every result (tables and plots) of every model family into one folder."""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

from .models import FAMILIES
from .progress import Job, step
from .reporting import KFOLD_K, REPORTS, SBC_SIMS, calibration, radon_kfold
from .results_page import write_results_page

DEFAULT_SEED = 20261121


def reproduce(
    out: str | Path = "results",
    *,
    engine: str = "auto",
    seed: int = DEFAULT_SEED,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    progress: bool = True,
    families: list[str] | None = None,
    sbc_sims: int = SBC_SIMS,
    folds: int = KFOLD_K,
    workers: int | None = None,
) -> list[Path]:
    """Fit each family's models and write its results into ``out``; returns the files written.

    ``results/`` is made with the defaults; fewer draws give the same files quicker (the tests
    use them), with wider Monte Carlo error. Then the many-fit results, on a Dask LocalCluster of
    ``workers`` processes (default one per core): ``sbc_sims`` simulations of each family's SBC
    (0: none), and radon's ``folds``-fold cross-validation next to LOO (0: none). ``progress``:
    one line for the whole run on stderr (plain lines in a log; hierstan.progress), no fit's own.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    started, clock = datetime.now(timezone.utc), time.perf_counter()  # for the results page
    chosen = [name for name in FAMILIES if families is None or name in families]
    kfold = bool(folds) and "radon" in chosen
    # the steps: each family's results, each family's SBC, radon's K-fold
    steps = len(chosen) * (2 if sbc_sims else 1) + int(kfold)
    with Job("reproduce", steps=steps) if progress else nullcontext():
        for name in chosen:
            with step(name):
                written += REPORTS[name](out, engine=engine, seed=seed, chains=chains, draws=draws,
                                         warmup=warmup, progress=progress)
        if sbc_sims:
            written += calibration(out, chosen, sims=sbc_sims, engine=engine, seed=seed, workers=workers,
                                   progress=progress)
        if kfold:
            written += radon_kfold(out, K=folds, engine=engine, seed=seed, chains=chains, draws=draws,
                                   warmup=warmup, workers=workers, progress=progress)
    # out/README.md: every file above, with what it shows, and how this run was made
    written.append(write_results_page(out, written, engine=engine, seed=seed, chains=chains, draws=draws,
                                      warmup=warmup, families=chosen, sbc_sims=sbc_sims, folds=folds,
                                      started=started, seconds=time.perf_counter() - clock))
    return written
