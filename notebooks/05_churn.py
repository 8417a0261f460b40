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
definition = None  # closure | inactivity | balance_runoff (None: labels.churn_definition)
search = None  # hyper-parameter candidates tried on validation (None: churn.search)
run_id = None  # a finished segml run to study (id, prefix or "latest"); None: compute one now

# %% [markdown]
# # 05 · Churn: an honestly validated model, its calibration, and the P(alive) baseline
#
# **Question.** Which active customers will close their relationship in the next year, how
# well can we rank them, and are the probabilities right?
#
# **What we do.** We study the churn step of a finished `segml run` (`run_id`, opened with
# `segml.open_run`, nothing recomputed; without one, `nb.study_run` runs the pipeline on the
# config with the churn step only and opens that run). The step trains xgboost on the
# snapshot two years before the as-of date (labels from the year after it), stops early and
# calibrates on the snapshot one year before (labels ending at the as-of date), and tests on
# the as-of date's customers against the year after it — no label window used for fitting
# reaches past the as-of date. BG/NBD 1 − P(alive) is scored on the same customers as a
# baseline. On the synthetic bank, the true churn probability gives the best AUC any model
# could reach.
# Details: `docs/churn.md`.

# %%
import pandas as pd
from IPython.display import display

from segml import notebook as nb
from segml.churn.evaluate import bayes_reference

overrides = nb.given({"labels.churn_definition": definition, "churn.search": search})
root = nb.study_root(config)  # relative paths: this project's, wherever the kernel runs
cfg = nb.study_config(
    config, customers=customers, seed=seed, as_of=as_of, overrides=overrides, root=root
)
studied = nb.study_run(cfg, run_id, steps=("churn",), data_dir=data_dir, root=root)
churn = studied.churn
definition, search, seed = churn.definition, studied.config.churn.search, studied.config.seed
tested = studied.has("labels")  # False when the data end before the test window does
if not tested:
    print("The model is trained and scored, not tested.")
print(studied.describe())

# %% [markdown]
# ## Validation metrics: model vs P(alive), train / validation / test
#
# ROC AUC and PR AUC (ranking), Brier and log loss (probabilities), lift and capture in the
# riskiest decile (what a retention campaign gets), expected calibration error.

# %% tags=["metrics"]
churn.metrics_table().round(4)

# %% [markdown]
# ## Calibration
#
# Mean predicted probability vs observed churn rate per bin on the test customers.

# %% tags=["calibration"]
print(f"calibration: {churn.calibration_method}")
display(churn.calibration.round(4))
nb.show_figures(churn.figures())

# %% [markdown]
# ## Against the truth (synthetic bank only)
#
# The generator knows each customer's true churn probability; its AUC on the same customers is
# the Bayes-optimal reference.

# %% tags=["bayes"]
truth = nb.ground_truth(studied.data_dir)
if truth is None or not tested:
    print("No ground truth for this bank (or no test labels): skipped.")
    reference = None
elif definition != "closure":  # the generator's churn probability is of closure
    print(f"The ground truth's churn is closure, not {definition!r}: skipped.")
    reference = None
else:
    reference = bayes_reference(truth, churn.scores)
    display(pd.Series(reference.__dict__, name="value").to_frame())

# %%
params = {"customers": customers, "seed": seed, "definition": definition, "search": search}
with nb.research_run("05_churn", cfg, params | {"run_id": studied.run_id}, root=root) as run:
    run.metrics(churn.metrics.to_dict())
    run.table(churn.metrics_table(), "churn_metrics.csv")
    if reference is not None:
        run.metrics({"auc_bayes": reference.auc_bayes, "auc_gap": reference.auc_gap})
    run.figures(churn.figure_dir)
print(f"logged run {run.run_id} to {run.tracking_uri}")
