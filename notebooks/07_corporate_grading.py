# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,title,-all
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# ruff: noqa: E402 (imports follow this parameters cell, papermill style)
config = "experiments/configs/notebooks.yaml"  # run config (relative to the project root).
#   Your bank: your own config, e.g. a copy of default.yaml with data.source: folder, data.path,
#   data.mapping and as_of (docs/loaders.md). A parameter left at None takes the config's.
data_dir = None  # or a folder of contract tables (Parquet or CSV; relative to the project root)
customers = None  # synthetic bank size (None: synthetic.customers)
seed = None  # None: the config's seed
as_of = None  # features use records up to this date (None: the config's, else the data's end)
run_id = None  # a finished segml run to study (id, prefix or "latest"): its bank, config, features
n_boot = 200  # bootstrap resamples for the interval of the AUC difference

# %% [markdown]
# # 07 · Corporate grading: the scorecard, its sub-scores, and a learned alternative
#
# **Question.** Corporate clients (对公客户) are graded AAA…CCC on a documented four-dimension
# scorecard: credit standing, financial condition, scale and industry, relationship. Does the
# grade order clients by credit risk, which dimension drives it, and would a model learned from
# the same inputs (xgboost) rank risk better?
#
# **What we do.** Grade the corporate clients with `segml.grades.grade_corporates` and the
# default scorecard (`docs/grades.md`), look at the grade distribution, the sub-scores and the
# reasons, then compare the scorecard with xgboost out of time
# (`compare_scorecard_model`: the model trains on the two years before the as-of date and both
# are evaluated on the credit events of the year after it).

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from scipy.stats import spearmanr

from segml import notebook as nb
from segml.grades import DEFAULT_SCORECARD, compare_scorecard_model, grade_corporates
from segml.profile import profile_bank

root = nb.study_root(config)  # relative paths: this project's, wherever the kernel runs
cfg = nb.study_config(config, customers=customers, seed=seed, as_of=as_of, root=root)
study = nb.open_study(cfg, data_dir, run_id, root=root)  # a run's: bank, as-of, features
seed = study.config.seed
grades = grade_corporates(study.features(), DEFAULT_SCORECARD)
print(study.describe())
print(
    f"{len(grades):,} corporate clients graded with {DEFAULT_SCORECARD.name} "
    f"v{DEFAULT_SCORECARD.version} ({DEFAULT_SCORECARD.digest()})"
)
if grades.empty:
    nb.skip_rest_of_notebook("this bank has no corporate clients: there is nothing to grade")

# %% [markdown]
# ## The scorecard
#
# Each factor maps one feature to 0–100 points; factors are weighted within their dimension
# and dimensions in the total. The scorecard is data (a frozen, versioned pydantic model,
# saved as JSON with every grading).

# %% tags=["scorecard"]
pd.DataFrame(
    [
        (d.label, d.weight, f.label, f.column, f.weight, d.weight * f.weight)
        for d in DEFAULT_SCORECARD.dimensions
        for f in d.factors
    ],
    columns=["dimension", "dim_weight", "factor", "feature", "factor_weight", "total_weight"],
).set_index(["dimension", "factor"]).round(3)

# %% [markdown]
# ## Grades and sub-scores

# %% tags=["grades"]
names = list(DEFAULT_SCORECARD.grade_names)
counts = grades["grade"].astype(str).value_counts().reindex(names, fill_value=0)
dims = [f"score_{d.name}" for d in DEFAULT_SCORECARD.dimensions]
fig_grades, axes = plt.subplots(1, 2, figsize=(13, 4))
counts.plot.bar(ax=axes[0], title="corporate clients by grade", rot=0)
by_grade = grades.groupby(grades["grade"].astype(str))[dims].mean().reindex(names)
by_grade.plot(ax=axes[1], marker="o", title="mean sub-score by grade", rot=0)
axes[1].set_ylabel("points (0-100)")
fig_grades.tight_layout()
by_grade.assign(clients=counts).round(1)

# %% [markdown]
# The `reasons` column says which dimension is weakest and which inputs cost it most points;
# `grading_flags` records missing inputs (scored neutral), stale or absent statements and the
# default override.

# %% tags=["reasons"]
weakest = grades["reasons"].str.extract(r"weakest: ([^(]+) \(")[0].str.strip()
flags = grades["grading_flags"].str.split("; ").explode()
flags = flags[flags != ""].str.split(":").str[0]
display(weakest.value_counts(normalize=True).rename("share weakest").round(3).to_frame())
display(flags.value_counts().rename("clients flagged").to_frame())
grades[["customer_id", "grade", "score_total", "reasons"]].head(5)

# %% [markdown]
# ## Does the grade follow the true default probability? (synthetic bank only)
#
# The ground truth holds each client's true probability of default (`pd`). A good score has a
# strongly negative Spearman correlation with it (a high score means low risk).

# %% tags=["truth"]
truth = study.ground_truth()
if truth is None:
    print("no ground truth in this bank: skipped")
    rho = {}
else:
    check = grades.merge(truth[["customer_id", "pd"]], on="customer_id", validate="one_to_one")
    rho = {c: float(spearmanr(check[c], check["pd"]).statistic) for c in ["score_total", *dims]}
    display(pd.Series(rho, name="Spearman with true PD").round(3).to_frame())
    display(check.groupby(check["grade"].astype(str))["pd"].mean().reindex(names).to_frame())

# %% [markdown]
# **What we see.** Where the truth exists, the total score falls as the true default
# probability rises, and the credit dimension is the one most aligned with it: relationship
# and scale measure the value and size of a client more than its risk, which a 分级 scorecard
# grades on purpose. Mean true PD by grade is noisy in thin grades on a small book.

# %% [markdown]
# ## Scorecard against xgboost, out of time
#
# The target: a statement that becomes known in the 12 months after a date reports 90+ days
# past due or a credit event. xgboost trains on the features and targets of the two years
# before the as-of date; both are evaluated at the as-of date on clients with a target.

# %% tags=["comparison"]
train = [nb.months_before(study.as_of, m) for m in (24, 12)]
start = profile_bank(study.bank, study.as_of).history_start
comparison, result = None, {}
if start is None or nb.months_before(train[0], 12) < start:  # as segml run: skipped
    print(f"skipped: the history from {start} is too short to train at {train[0]}")
else:
    try:
        comparison = compare_scorecard_model(
            study.bank, train, study.as_of, DEFAULT_SCORECARD, truth=truth, n_boot=n_boot,
            seed=seed,
        )  # fmt: skip
    except ValueError as exc:  # e.g. no credit events to learn from
        print(f"skipped: {exc}")
if comparison is not None:
    result = comparison.to_dict()
    events = pd.DataFrame(result.pop("events_by_grade"), index=["clients", "events"]).T
    result.pop("grade_counts")
    display(events.reindex(names).assign(rate=lambda e: e["events"] / e["clients"]).round(3))
    display(pd.Series(result, name="value").to_frame())

# %%
if comparison is not None:
    low, high = comparison.auc_diff_ci
    print(
        f"AUC scorecard {comparison.auc_scorecard:.3f}, xgboost {comparison.auc_model:.3f}, "
        f"rating alone {comparison.auc_rating:.3f}; {comparison.n_train_events} training "
        f"events, {comparison.n_eval_events} evaluation events; 95% interval of the "
        f"difference (xgboost - scorecard) {low:+.3f} … {high:+.3f}"
    )
    if comparison.n_eval_events < 30:
        print(
            f"only {comparison.n_eval_events} evaluation events: at this size the AUCs and the "
            "bootstrap interval are not reliable (a few events decide them); use a larger bank"
        )

# %% [markdown]
# **What we see.** Credit events are rare, so the comparison rests on few events (printed
# above): on a small book the AUCs swing with a handful of clients, and a bootstrap interval
# over so few events understates that uncertainty. Where the interval contains 0 the data
# cannot tell the two apart. A learned model needs hundreds of training
# events before it can beat a documented scorecard, which also explains every grade in words;
# `docs/grades.md` reports the comparison on larger banks.

# %% [markdown]
# ## Record the run

# %%
params = {"customers": customers, "seed": seed, "n_boot": n_boot}
with nb.research_run("07_corporate_grading", cfg, params, root=root) as run:
    run.json(DEFAULT_SCORECARD.model_dump(mode="json"), "scorecard.json")
    if comparison is not None:
        run.json(comparison.to_dict(), "grading_comparison.json")
    run.metrics({"graded": len(grades)})
    run.metrics((counts / max(len(grades), 1)).to_dict(), prefix="grade_share.")
    run.metrics(rho, prefix="spearman_pd.")
    run.metrics({k: v for k, v in result.items() if isinstance(v, int | float)})
    run.figure(fig_grades, "grades.png")
print(f"logged run {run.run_id} to {run.tracking_uri}")
