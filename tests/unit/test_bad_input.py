"""Bad input, family by family: a hierstan exception naming the column or argument, raised before
anything is compiled, and the caller's frame left exactly as it was (no compilation here: the
engine lookup fails the test if ``fit`` ever gets that far)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from frames import spoil

import hierstan
from hierstan import DataError, DataWarning, UnknownNameError
from hierstan.models import FAMILIES
from hierstan.validation import MAX_MAGNITUDE

# per family: the outcome, the group column and another numeric column the model uses
ROLES = {
    "eight_schools": {"outcome": "y", "group": "school", "numeric": "sigma"},
    "radon": {"outcome": "log_radon", "group": "county", "numeric": "floor"},
    "multigroup": {"outcome": "y", "group": "group", "numeric": "x2"},
    "thai": {"outcome": "repeat", "group": "school_id", "numeric": "pped"},
    "exam": {"outcome": "score", "group": "school", "numeric": "lrt"},
    "mathtest": {"outcome": "mathscore", "group": "school", "numeric": "mathscore"},
    "glmm": {"outcome": "log_radon", "group": "county", "numeric": "floor"},
}
# the variants with a population scale (a between-group sd): one group is refused
HIERARCHICAL = {"eight_schools": {}, "radon": {}, "multigroup": {}, "thai": {}, "exam": {}, "mathtest": {},
                "glmm": {}}
# each family's roles given one column twice
SHARED_ROLES = {
    "eight_schools": ({"sigma": "y"}, "'y'"),
    "radon": ({"variant": "group_predictor", "predictor": "log_uranium"}, "'log_uranium'"),
    "multigroup": ({"predictors": ["x1", "y"]}, "'y'"),
    "thai": ({"pped": "repeat"}, "'repeat'"),
    "exam": ({"girl": "lrt"}, "'lrt'"),
    "mathtest": ({"group": "mathscore"}, "'mathscore'"),
    "glmm": ({"formula": "log_radon ~ log_radon + (1 | county)"}, "'log_radon'"),
}
# data arguments with a fixed set of values, given a wrong one: (arguments, name in the message, error)
U, D = UnknownNameError, DataError
BAD_CHOICES = {
    "eight_schools": [({"variant": "flat"}, "variant", U),
                      ({"parameterization": None}, "parameterization", U)],
    "radon": [({"variant": 1}, "variant", U), ({"likelihood": "rows"}, "likelihood", U),
              ({"parameterization": ["centered"]}, "parameterization", U)],
    "multigroup": [({"variant": "hier"}, "variant", U), ({"sigma_prior": "gamma"}, "sigma prior", U),
                   ({"variant": "pooled", "parameterization": "centered"}, "parameterization", D),
                   ({"predictors": 3}, "predictors", D)],
    "thai": [({"variant": None}, "variant", U), ({"missing": "skip"}, "missing", U),
             ({"likelihood": True}, "likelihood", U), ({"schools": "19"}, "schools", D),
             ({"schools": 19, "subset_seed": -1}, "subset_seed", D)],
    "exam": [({"variant": "wishart"}, "variant", U), ({"standardise": 1}, "standardise", D),
             ({"standardise": "yes"}, "standardise", D)],
    "mathtest": [({"variant": "pooled"}, "variant", U),
                 ({"parameterization": "noncentred"}, "parameterization", U)],
    "glmm": [({"variant": "lme4"}, "variant", U), ({"likelihood": "normal"}, "likelihood", U),
             ({"parameterization": "noncentred"}, "parameterization", U), ({"formula": 3}, "formula", D),
             ({"likelihood": "binomial"}, "trials", D)],
}


def _outcome_named(name: str, column: object) -> dict:
    """The arguments that make ``column`` the outcome: a formula family's formula, else ``outcome``."""
    if name == "glmm":
        return {"formula": f"`{column}` ~ floor + (1 | county)" if isinstance(column, str) else column}
    return {"outcome": column}
# sampler arguments of fit: (arguments, the name the message must give)
BAD_SAMPLER = [
    ({"adapt_delta": "0.9"}, "adapt_delta"), ({"adapt_delta": 1.0}, "adapt_delta"),
    ({"adapt_delta": True}, "adapt_delta"), ({"chains": 0}, "chains"), ({"chains": True}, "chains"),
    ({"draws": 1.5}, "draws"), ({"warmup": -1}, "warmup"), ({"max_treedepth": "10"}, "max_treedepth"),
    ({"threads": 0}, "threads"), ({"seed": "1"}, "seed"), ({"seed": -1}, "seed"),
    ({"prior": "yes"}, "prior"), ({"progress": 1}, "progress"), ({"engine": 3}, "engine"),
]


def _relabel_two_groups(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The first group's rows labelled 1, the second's "1": two labels, one text."""
    first, second = frame[column].unique()[:2]
    bad = frame.copy()
    labels = bad[column].astype(object)
    labels[frame[column] == first] = 1
    labels[frame[column] == second] = "1"
    bad[column] = labels
    return bad


def _with(column: str, make: Callable[[pd.DataFrame], object]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A copy of the frame whose ``column`` is replaced by ``make(frame)``."""
    def build(frame: pd.DataFrame) -> pd.DataFrame:
        bad = frame.copy()
        bad[column] = make(frame)
        return bad
    return build


def _cases() -> list:
    cases = []

    def add(name, label, make, kwargs, fragments, error=DataError):
        cases.append(pytest.param(name, make, kwargs, fragments, error, id=f"{name}-{label}"))

    for name, roles in ROLES.items():
        outcome, group, numeric = roles["outcome"], roles["group"], roles["numeric"]
        quoted = f"'{outcome}'"
        # 1. silent coercions
        for column in dict.fromkeys([outcome, numeric]):
            add(name, f"datetime {column}",
                _with(column, lambda f: pd.date_range("2020-01-01", periods=len(f), freq="h")), {},
                [f"'{column}'", "real numbers", "dates"])
            add(name, f"timedelta {column}", _with(column, lambda f: pd.to_timedelta(np.arange(len(f)), "s")),
                {}, [f"'{column}'", "durations"])
            add(name, f"complex {column}",
                _with(column, lambda f, c=column: f[c].to_numpy(float) + 1j), {}, [f"'{column}'", "complex"])
            add(name, f"True in object {column}", lambda f, c=column: spoil(f, c, 1, True), {},
                [f"'{column}'", "row(s) 1", "booleans"])
            add(name, f"Timestamp in object {column}",
                lambda f, c=column: spoil(f, c, 2, pd.Timestamp("2020-01-01")), {},
                [f"'{column}'", "row(s) 2"])
        # 2. labels that coincide as text
        add(name, "labels 1 and '1'", lambda f, g=group: _relabel_two_groups(f, g), {}, [f"'{group}'", "'1'"])
        # 3. absurd magnitudes
        add(name, "1e300 outcome", lambda f, c=outcome: spoil(f, c, 3, 1e300).astype({c: float}), {},
            [quoted, "row(s) 3", "rescale"])
        add(name, "just above the limit",
            lambda f, c=outcome: spoil(f, c, 0, 1.5 * MAX_MAGNITUDE).astype({c: float}), {},
            [quoted, "row(s) 0", "1e+12"])
        # 4. frame shapes
        add(name, "MultiIndex columns",
            lambda f: f.set_axis(pd.MultiIndex.from_arrays([f.columns, f.columns]), axis=1), {},
            ["MultiIndex columns"])
        add(name, "duplicate outcome column", lambda f, c=outcome: pd.concat([f, f[[c]]], axis=1), {},
            [quoted, "several columns"])
        add(name, "'/' in the outcome's name", lambda f, c=outcome: f.rename(columns={c: "a/b"}),
            _outcome_named(name, "a/b"), ["'a/b'", "'/'"])
        if name != "glmm":
            add(name, "column argument not text", lambda f: f, {"outcome": 0},
                ["column names must be strings", "0"])
        # 5. roles sharing a column; one group
        kwargs, fragment = SHARED_ROLES[name]
        add(name, "two roles one column", lambda f: f, kwargs, [fragment, "distinct"])
        add(name, "one group", lambda f, g=group: f[f[g] == f[g].iloc[0]], HIERARCHICAL[name],
            [f"'{group}'", "at least 2"])
        # 6. argument types
        add(name, "priors as a list", lambda f: f, {"priors": [1.0]}, ["priors must be a mapping", "list"])
        for kwargs, fragment, error in BAD_CHOICES[name]:
            add(name, f"bad {fragment} {list(kwargs.values())[-1]!r}", lambda f: f, kwargs, [fragment], error)
        for kwargs, fragment in BAD_SAMPLER:
            add(name, f"sampler {fragment}={next(iter(kwargs.values()))!r}", lambda f: f, kwargs, [fragment])
    # family-specific
    add("eight_schools", "sigma below 1e-12", lambda f: spoil(f, "sigma", 4, 1e-300).astype({"sigma": float}),
        {}, ["'sigma'", "row(s) 4", "rescale"])
    add("eight_schools", "repeated label as text", lambda f: spoil(f, "school", 1, "A"), {},
        ["'school'", "'A'"])
    add("radon", "predictor as group_predictor", lambda f: f,
        {"variant": "group_predictor", "predictor": "log_uranium", "group_predictor": "log_uranium"},
        ["'log_uranium'", "predictor", "group_predictor"])
    add("radon", "group_predictor as outcome", lambda f: f,
        {"variant": "group_predictor", "group_predictor": "log_radon"}, ["'log_radon'", "distinct"])
    add("multigroup", "1e300 predictor", lambda f: spoil(f, "x1", 9, -1e300).astype({"x1": float}), {},
        ["'x1'", "row(s) 9"])
    add("thai", "every msesc missing", _with("msesc", lambda f: np.nan), {"variant": "covariates"},
        ["'msesc'", "every pupil", "no complete row"])
    add("thai", "1e300 msesc", lambda f: spoil(f, "msesc", 7, 1e300).astype({"msesc": float}),
        {"variant": "covariates"}, ["'msesc'", "row(s) 7", "rescale"])
    add("thai", "True in object pped", lambda f: spoil(f, "pped", 5, True), {}, ["'pped'", "row(s) 5"])
    add("thai", "sex shared with msesc", lambda f: f, {"variant": "covariates", "sex": "msesc"},
        ["'msesc'", "sex", "msesc"])
    add("exam", "1e300 lrt (squared: inf)", lambda f: spoil(f, "lrt", 6, 1e300).astype({"lrt": float}), {},
        ["'lrt'", "row(s) 6"])
    add("exam", "mixed schools only", lambda f: f[f["school_gender"] == "mixed"], {},
        ["'school_gender'", "boys_school", "sd is 0"])
    add("exam", "girl constant", _with("girl", lambda f: 0), {}, ["'girl'", "sd is 0"])
    add("exam", "lrt constant", _with("lrt", lambda f: 2.0), {}, ["'lrt'", "sd is 0"])
    add("exam", "True as vr_band 1", lambda f: spoil(f, "vr_band", 0, True), {}, ["'vr_band'", "row(s) 0"])
    add("exam", "school_gender as outcome", lambda f: f, {"school_gender": "score"}, ["'score'", "distinct"])
    add("eight_schools", "sigma named like a prior setting",
        lambda f: f.rename(columns={"sigma": "mu_scale"}), {"sigma": "mu_scale"}, ["'mu_scale'", "rename"])
    add("radon", "predictor named like the group index",
        lambda f: f.rename(columns={"floor": "county_index"}), {"predictor": "county_index"},
        ["'county_index'", "rename"])
    add("thai", "pped named like the group index", lambda f: f.rename(columns={"pped": "school_id_index"}),
        {"pped": "school_id_index"}, ["'school_id_index'", "rename"])
    for label, formula, fragments in (
            ("unknown column", "log_radon ~ floors + (1 | county)", ["'floors'", "missing column"]),
            ("unknown function", "log_radon ~ scale(floor) + (1 | county)", ["'scale'"]),
            ("term twice", "log_radon ~ floor + (1 | county) + (1 | county)", ["'1|county'", "twice"]),
            ("constant term", "log_radon ~ floor + one + (1 | county)", ["'one'", "constant"]),
            ("collinear term", "log_radon ~ floor + basement + (1 | county)",
             ["'basement'", "linear combination"]),
            ("factor per row", "log_radon ~ floor + (1 | idnum)", ["'idnum'", "a level per row"]),
            ("no tilde", "log_radon + floor", ["formula must be text"]),
            ("does not parse", "log_radon ~ floor + (1 | county", ["does not parse"])):
        add("glmm", label, lambda f: f.assign(one=1.0, basement=1 - f["floor"]), {"formula": formula},
            fragments)
    add("glmm", "counts not integers", lambda f: f, {"likelihood": "poisson"}, ["'log_radon'", "counts"])
    add("glmm", "missing floor", lambda f: spoil(f, "floor", 4, np.nan), {}, ["'floor'", "row(s) 4"])
    add("mathtest", "1e300 score (squared: inf)",
        lambda f: spoil(f, "mathscore", 8, 1e300).astype({"mathscore": float}), {},
        ["'mathscore'", "row(s) 8"])
    return cases


CASES = _cases()


@pytest.fixture
def no_compiling(monkeypatch, tmp_path):
    """fit may only prepare: the engine lookup (the step before compiling) fails the test."""
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        pytest.fail("fit reached the engine: bad input must be refused before anything is compiled")

    monkeypatch.setattr(hierstan.fitting, "get_engine", refuse)


@pytest.mark.filterwarnings("ignore::hierstan.DataWarning")  # thai covariates: msesc rows dropped
@pytest.mark.parametrize("name, make, kwargs, fragments, error", CASES)
def test_bad_input_is_refused_before_compiling(no_compiling, name, make, kwargs, fragments, error):
    frame = make(FAMILIES[name].load_data())
    before, dtypes, index = frame.copy(deep=True), frame.dtypes.copy(), frame.index.copy()
    with pytest.raises(error) as raised:
        FAMILIES[name].fit(frame, **kwargs)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_series_equal(frame.dtypes, dtypes)
    pd.testing.assert_index_equal(frame.index, index, exact=True)


def test_case_counts():
    """Every family gets every class of case (the report quotes these counts)."""
    counts = Counter(case.values[0] for case in CASES)
    assert set(counts) == set(FAMILIES) and min(counts.values()) >= 30, counts


# --- what must keep working ---------------------------------------------------------------------

def _numeric_arrays(prepared) -> dict:
    found = {**{f"data.{k}": v for k, v in prepared.data.items()},
             **{f"constant.{k}": v for k, v in prepared.constant.items()}, "observed": prepared.observed}
    return {k: np.array(v, copy=True) for k, v in found.items() if isinstance(v, (np.ndarray, list))}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_editing_the_frame_after_prepare_changes_nothing(name):
    frame = FAMILIES[name].load_data()
    prepared = FAMILIES[name].prepare(frame)
    snapshot, rows = _numeric_arrays(prepared), prepared.rows.copy(deep=True)
    for position, column in enumerate(frame.columns):  # in place, through the frame's own blocks
        if pd.api.types.is_numeric_dtype(frame[column]):
            frame.iloc[:, position] = frame.iloc[:, position].to_numpy() * 0 + 7
    for key, values in _numeric_arrays(prepared).items():
        np.testing.assert_array_equal(values, snapshot[key], err_msg=key)
    pd.testing.assert_frame_equal(prepared.rows, rows)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_prepared_arrays_do_not_share_the_frames_memory(name):
    frame = FAMILIES[name].load_data()
    prepared = FAMILIES[name].prepare(frame)
    arrays = {**prepared.data, **{f"constant {k}": v for k, v in prepared.constant.items()},
              "observed": prepared.observed}
    for column in frame.columns:
        values = frame[column].to_numpy()
        for key, array in arrays.items():
            if isinstance(array, np.ndarray):
                assert not np.shares_memory(array, values), (key, column)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_multiindex_rows_become_positions(name):
    frame = FAMILIES[name].load_data()
    frame.index = pd.MultiIndex.from_arrays([frame.index % 3, frame.index], names=["a", "b"])
    before = frame.copy(deep=True)
    prepared = FAMILIES[name].prepare(frame)
    pd.testing.assert_frame_equal(frame, before)
    for dim, labels in prepared.coords.items():
        assert np.asarray(labels).ndim == 1, dim
    dims = prepared.dims[prepared.outcome]
    # what InferenceData does with them: fails if a coordinate's length is not the data's
    xr.DataArray(prepared.observed, dims=dims, coords={d: prepared.coords[d] for d in dims})
    for dim in (d for d in dims if d != prepared.attrs["group_dim"]):  # the rows' dim, if any
        assert list(prepared.coords[dim]) == list(range(len(frame)))


@pytest.mark.parametrize("name", ["radon", "exam", "mathtest", "thai"])
def test_a_flat_unique_index_labels_the_rows(name):
    frame = FAMILIES[name].load_data()
    frame.index = [f"r{i}" for i in range(len(frame))]
    prepared = FAMILIES[name].prepare(frame)
    dim = prepared.dims[prepared.outcome][0]
    assert prepared.coords[dim][:2] == ["r0", "r1"]


def test_thai_numbers_written_as_text_are_the_numbers():
    thai = FAMILIES["thai"]
    frame = thai.load_data()
    text = frame.astype({"repeat": float, "pped": float}).astype({"repeat": str, "pped": str})
    assert text["repeat"].iloc[0] == "0.0"
    prepared, reference = thai.prepare(text), thai.prepare(frame)
    np.testing.assert_array_equal(prepared.data["y"], reference.data["y"])
    np.testing.assert_array_equal(prepared.data["pped"], reference.data["pped"])
    assert prepared.data["y"].dtype.kind == "i"


@pytest.mark.parametrize("variant", ["pooled", "unpooled"])
def test_radon_without_a_population_accepts_one_county(variant):
    frame = FAMILIES["radon"].load_data()
    prepared = FAMILIES["radon"].prepare(frame[frame["county"] == "AITKIN"], variant=variant)
    assert prepared.data["J"] == 1


def test_radon_keeps_the_county_predictor_out_of_other_variants():
    """Only the group_predictor variant records it: others would store zeros under its name."""
    prepared = FAMILIES["radon"].prepare(variant="varying_intercept", predictor="log_uranium")
    np.testing.assert_array_equal(prepared.constant["log_uranium"],
                                  FAMILIES["radon"].load_data()["log_uranium"].to_numpy())


def test_the_limit_itself_is_accepted():
    frame = FAMILIES["eight_schools"].load_data().astype({"y": float})
    frame.loc[0, "y"] = -MAX_MAGNITUDE
    assert FAMILIES["eight_schools"].prepare(frame).data["y"][0] == -MAX_MAGNITUDE


def test_messages_quote_rows_by_the_frames_labels():
    frame = FAMILIES["mathtest"].load_data()
    frame.index = [f"s{i}" for i in range(len(frame))]
    frame["mathscore"] = frame["mathscore"].astype(object)
    frame.loc["s4", "mathscore"] = complex(1, 1)
    with pytest.raises(DataError, match=re.escape("row(s) s4")):
        FAMILIES["mathtest"].prepare(frame)


def test_exam_predictions_may_name_one_school():
    """Two schools at least for a fit; new data to predict for may hold one."""
    from hierstan.models import exam

    frame = exam.load_data()
    table, schools = exam.design(frame[frame["school"] == 1])
    assert list(schools) == ["1"] and len(table) == (frame["school"] == 1).sum()


@pytest.mark.parametrize("options, name", [({"chains": 0}, "chains"), ({"draws": "10"}, "draws"),
                                           ({"seed": 1.5}, "seed")])
def test_mathtest_gibbs_checks_its_sampler_arguments(options, name):
    from hierstan.models import mathtest

    with pytest.raises(DataError, match=name):
        mathtest.gibbs(**options)


# --- messages a person reads to the end (issue 33) ----------------------------------------------

@pytest.mark.parametrize("name, variant", [("radon", "varying_intercept_slope"),
                                           ("radon", "group_predictor"), ("multigroup", "hierarchical")])
def test_unused_categories_of_the_group_column_are_left_out_with_a_note(name, variant):
    """A filtered frame keeps its categorical column's categories: the fit is of the groups left,
    as if the column had never had the others (here 79 or 20 of them, named in a short note)."""
    family = FAMILIES[name]
    group = family.columns["group"]
    frame = family.load_data()
    labels = list(dict.fromkeys(frame[group]))
    kept = frame[frame[group].isin(labels[:6])]
    extra = [f"closed_{i}" for i in range(20)]  # groups of a design that this data set lacks
    categories = list(dict.fromkeys([*labels, *extra]))
    filtered = kept.assign(**{group: pd.Categorical(kept[group], categories=categories)})
    unused = len(categories) - min(6, len(labels))
    with pytest.warns(DataWarning) as said:
        prepared = family.prepare(filtered, variant=variant)
    [note] = [str(w.message) for w in said if "no rows" in str(w.message)]
    assert f"column {group!r} has {unused} categories with no rows, left out of the fit: " in note
    assert note.endswith(f" (and {unused - 5} more)") and len(note) < 250, note
    assert prepared.coords[group] == [str(label) for label in labels[:6]]  # the categories' order
    never = kept.assign(**{group: pd.Categorical(kept[group], categories=labels[:6])})
    plain = family.prepare(never, variant=variant)
    assert prepared.data.keys() == plain.data.keys()
    for key, value in plain.data.items():
        np.testing.assert_array_equal(prepared.data[key], value, err_msg=key)


def test_a_long_list_in_a_message_is_cut_to_a_few_and_a_count():
    frame = FAMILIES["mathtest"].load_data()
    wide = pd.concat([frame, pd.DataFrame({f"extra_{i}": 0.0 for i in range(60)}, index=frame.index)],
                     axis=1)
    with pytest.raises(DataError) as found:
        FAMILIES["mathtest"].prepare(wide, outcome="score")
    message = str(found.value)
    assert "missing column(s) 'score'; the DataFrame has 'school', 'mathscore', 'extra_0'" in message
    assert "(and 42 more)" in message and len(message) < 500, message
