"""Regenerate every result (tables and plots) of every model family into one folder."""

from __future__ import annotations

from pathlib import Path

from .models import FAMILIES
from .reporting import KFOLD_K, REPORTS, SBC_SIMS, calibration, radon_kfold

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
    (0: none), and radon's ``folds``-fold cross-validation next to LOO (0: none).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in FAMILIES:
        if families is None or name in families:
            written += REPORTS[name](out, engine=engine, seed=seed, chains=chains, draws=draws,
                                     warmup=warmup, progress=progress)
    chosen = [name for name in FAMILIES if families is None or name in families]
    if sbc_sims:
        written += calibration(out, chosen, sims=sbc_sims, engine=engine, seed=seed, workers=workers,
                               progress=progress)
    if folds and "radon" in chosen:
        written += radon_kfold(out, K=folds, engine=engine, seed=seed, chains=chains, draws=draws,
                               warmup=warmup, workers=workers, progress=progress)
    return written
