"""ArviZ's raw messages around hierstan's own ArviZ calls (issue 33, item 4): numpy's 0/0
RuntimeWarnings and the 'Shape validation failed' log line are kept out, hierstan's report says
what they meant; ArviZ's Pareto-k warning becomes one HierstanWarning naming the rows and K-fold;
warnings and log lines of the user's own code afterwards are untouched. No compilation."""

import contextlib
import logging
import warnings

import arviz as az
import numpy as np
import pytest

import hierstan
from hierstan.diagnostics import compare_loo, diagnose

HOUSES = [f"h{i:02d}" for i in range(30)]
INFLUENTIAL = [3, 5, 8, 13, 21, 27, 29]


@contextlib.contextmanager
def _shown_warnings():
    """The warnings a terminal would show, every time: DeprecationWarnings raised inside libraries
    (pandas' notice about ArviZ's own code) are hidden by Python's default filters."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        yield caught


@pytest.fixture
def arviz_log():
    """What ArviZ's logger hands its handlers. It is a Logger of its own, not under the root
    logger that caplog reads, and its handler writes to the stream pytest had at import."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    az._log.addHandler(handler)
    yield messages
    az._log.removeHandler(handler)


def _fit(chains: int, draws: int) -> az.InferenceData:
    """Sampler output of ``chains`` x ``draws`` with a quantity fixed by construction (``one``,
    like a correlation matrix's diagonal), whose R-hat and mcse divide 0 by 0."""
    rng = np.random.default_rng(chains * 1000 + draws)
    shape = (chains, draws)
    return az.from_dict(
        posterior={"mu": rng.normal(size=shape), "one": np.ones(shape)},
        sample_stats={"diverging": np.zeros(shape, dtype=bool), "tree_depth": np.full(shape, 3),
                      "energy": rng.normal(size=shape)},
    )


def _loo_fits() -> dict[str, az.InferenceData]:
    """Two models whose log-likelihood has very heavy-tailed importance ratios at some houses."""
    rng = np.random.default_rng(0)
    shape = (4, 1000, len(HOUSES))
    fits = {}
    for name, bad in (("smooth", []), ("influential", INFLUENTIAL), ("also_influential", [0])):
        log_lik = rng.normal(-1.0, 0.1, shape)
        for i in bad:  # importance ratios 1/p(y_i | theta) = exp(exp(z)): Pareto k far above 0.7
            log_lik[..., i] = -np.exp(rng.normal(0.0, 1.5, shape[:2]))
        fits[name] = az.from_dict(posterior={"mu": rng.normal(size=shape[:2])}, log_likelihood={"y": log_lik},
                                  dims={"y": ["house"]}, coords={"house": HOUSES})
    return fits


def test_one_chain_is_said_in_hierstans_words(arviz_log):
    with _shown_warnings() as caught:
        report = diagnose(_fit(chains=1, draws=47))
    assert [str(w.message) for w in caught] == []  # no numpy 0/0 RuntimeWarning
    assert arviz_log == []  # no 'Shape validation failed'
    assert "max R-hat: none" in str(report)
    assert "note: R-hat not computed: it compares chains and this fit has 1" in str(report)
    # a note, not a warned problem: one chain was asked for
    assert not [p for p in report.problems if "R-hat" in p], report.problems


def test_constant_quantity_gets_a_note_not_a_warning(arviz_log):
    with _shown_warnings() as caught:
        report = diagnose(_fit(chains=4, draws=200))
    assert [str(w.message) for w in caught] == []
    assert "no R-hat for one: the same value in every draw" in report.notes
    assert arviz_log == []
    assert report.rhat_max < 1.01 and report.ok, report.problems


def test_too_few_draws_is_a_problem_not_a_log_line(arviz_log):
    with _shown_warnings() as caught:
        report = diagnose(_fit(chains=2, draws=3))
    assert [str(w.message) for w in caught] == []
    assert arviz_log == []
    assert report.problems == ["ESS and R-hat need 4 or more draws per chain and this fit has 3: "
                               "draw more (draws=...)"]
    assert "min bulk ESS: none" in str(report)


def test_high_pareto_k_gives_one_hierstan_warning_naming_rows_and_kfold():
    with _shown_warnings() as caught:
        table, flagged = compare_loo(_loo_fits())
    assert [w.category for w in caught] == [hierstan.HierstanWarning], [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert message.startswith(
        "PSIS-LOO is unreliable for 7 of 30 observations of model 'influential', whose Pareto k is "
        "above 0.7: house h03, h05, h08, h13, h21 (and 2 more); for 1 of 30 observations of model "
        "'also_influential', whose Pareto k is above 0.7: house h00. "), message
    assert "K-fold cross-validation" in message and "hierstan.kfold(fit)" in message
    assert "smooth" not in message
    assert caught[0].filename == __file__  # the user's line, not hierstan's
    assert table.loc["influential", "bad_k"] == len(INFLUENTIAL)
    assert sorted(flagged.loc[flagged["model"] == "influential", "obs"]) == INFLUENTIAL


def test_the_users_own_warnings_and_arviz_messages_afterwards_are_untouched(arviz_log):
    filters, log_filters = list(warnings.filters), list(az._log.filters)
    fits = _loo_fits()
    with _shown_warnings() as caught:
        diagnose(_fit(chains=1, draws=41))
        compare_loo(fits)
        ours, ours_logged = [w.category for w in caught], list(arviz_log)
        del caught[:]
        # the user's own code, right after
        warnings.warn("the user's warning", UserWarning, stacklevel=1)
        np.float64(0.0) / np.float64(0.0)
        az.loo(fits["influential"])
        az.rhat(np.random.default_rng(1).normal(size=(1, 43)))
    assert ours == [hierstan.HierstanWarning]
    assert [(w.category, str(w.message)[:40]) for w in caught] == [
        (UserWarning, "the user's warning"),
        (RuntimeWarning, "invalid value encountered in scalar divi"),
        (UserWarning, "Estimated shape parameter of Pareto dist"),
    ]
    assert ours_logged == []
    assert arviz_log == ["Shape validation failed: input_shape: (1, 43), minimum_shape: (chains=2, draws=4)"]
    assert warnings.filters == filters and az._log.filters == log_filters


def test_shape_message_passes_when_logged_outside(arviz_log):
    """The filter is on only inside: ArviZ's logger is as before for the user's direct calls."""
    with pytest.raises(ZeroDivisionError):
        with hierstan.diagnostics.quiet_arviz():
            1 / 0  # noqa: B018
    az.rhat(np.random.default_rng(2).normal(size=(1, 37)))
    assert arviz_log == ["Shape validation failed: input_shape: (1, 37), minimum_shape: (chains=2, draws=4)"]
