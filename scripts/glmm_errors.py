"""The glmm family's answer to each bad input the issue lists (and a few formula mistakes): one
line per case, printed as a markdown list (python scripts/glmm_errors.py)."""

import numpy as np
import pandas as pd

import hierstan

rng = np.random.default_rng(1)
GOOD = pd.DataFrame(
    {
        "y": rng.normal(size=40),
        "x": rng.normal(size=40),
        "z": rng.normal(size=40),
        "count": rng.poisson(3, 40),
        "hit": rng.integers(0, 2, 40),
        "n": 5,
        "g": np.repeat(list("abcdefgh"), 5),
        "h": np.tile(list("pqrs"), 10),
    }
)


def changed(**columns):
    return GOOD.assign(**columns)


CASES = [
    ("unknown column", GOOD, "y ~ w + (1 | g)", {}),
    ("unknown grouping factor", GOOD, "y ~ x + (1 | school)", {}),
    ("grouping factor with one level", changed(g="a"), "y ~ x + (1 | g)", {}),
    (
        "grouping factor with a level per row (gaussian)",
        changed(g=[f"r{i}" for i in range(40)]),
        "y ~ x + (1 | g)",
        {},
    ),
    ("constant predictor", changed(x=1.0), "y ~ x + (1 | g)", {}),
    ("perfectly collinear predictor", changed(z=GOOD["x"] * 2 + 1), "y ~ x + z + (1 | g)", {}),
    (
        "non-integer counts (poisson)",
        changed(count=GOOD["count"] + 0.5),
        "count ~ x + (1 | g)",
        {"likelihood": "poisson"},
    ),
    (
        "negative counts (negative binomial)",
        changed(count=GOOD["count"] - 5),
        "count ~ x + (1 | g)",
        {"likelihood": "negative_binomial"},
    ),
    ("outcome outside 0/1 (bernoulli)", GOOD, "count ~ x + (1 | g)", {"likelihood": "bernoulli"}),
    (
        "trials below successes (binomial)",
        changed(n=2),
        "count ~ x + (1 | g)",
        {"likelihood": "binomial", "trials": "n"},
    ),
    ("binomial without trials", GOOD, "count ~ x + (1 | g)", {"likelihood": "binomial"}),
    ("NaN in a used column", changed(x=GOOD["x"].where(GOOD.index % 7 != 3)), "y ~ x + (1 | g)", {}),
    ("no outcome", GOOD, "~ x + (1 | g)", {}),
    ("unparseable formula", GOOD, "y ~ x + (1 | g", {}),
    ("a term formulae cannot honour", GOOD, "y ~ x + (x | g:h:y)", {}),
    ("unknown likelihood", GOOD, "y ~ x + (1 | g)", {"likelihood": "gamma"}),
    ("unknown prior setting", GOOD, "y ~ x + (1 | g)", {"priors": {"tau": 1.0}}),
]


def main() -> None:
    for what, data, formula, options in CASES:
        try:
            hierstan.glmm.stan_data(data, formula=formula, **options)
            answer = "accepted"
        except Exception as error:  # the point: what the user reads, whatever the type
            answer = f"{type(error).__name__}: {error}"
        print(f"- {what} (`{formula}`): {answer}")


if __name__ == "__main__":
    main()
