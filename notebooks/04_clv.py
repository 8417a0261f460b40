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
model = None  # bgnbd | pareto | mbgnbd (None: clv.model)
annual_discount_rate = None  # for the discounted CLV (None: clv.annual_discount_rate)
run_id = None  # a finished segml run to study (id, prefix or "latest"); None: compute one now

# %% [markdown]
# # 04 · Customer lifetime value: probabilistic vs supervised, on a holdout year
#
# **Question.** How well can we predict next year's activity and value of each customer, and
# does a supervised model on the point-in-time features beat the classic BG/NBD + Gamma-Gamma?
#
# **What we do.** We study the CLV step of a finished `segml run` (`run_id`, opened with
# `segml.open_run`, nothing recomputed; without one, `nb.study_run` runs the pipeline on the
# config with the CLV step only and opens that run). The step fits the purchase model and
# Gamma-Gamma on customer-initiated transactions up to the as-of date (weeks as the time unit,
# an explicit annual discount rate), trains xgboost out of time (features a year before the
# as-of date, target = the following year), and scores both on the horizon after the as-of
# date (`labels.horizon_months`, 12 by default), which no model saw. Method and metric
# definitions: `docs/clv.md`.

# %%
import pandas as pd
from IPython.display import display

from segml import notebook as nb

overrides = nb.given({"clv.model": model, "clv.annual_discount_rate": annual_discount_rate})
root = nb.study_root(config)  # relative paths: this project's, wherever the kernel runs
cfg = nb.study_config(
    config, customers=customers, seed=seed, as_of=as_of, overrides=overrides, root=root
)
studied = nb.study_run(cfg, run_id, steps=("clv",), data_dir=data_dir, root=root)
clv = studied.clv
model, seed = clv.model_name, studied.config.seed
annual_discount_rate = studied.config.clv.annual_discount_rate
print(studied.describe())

# %% [markdown]
# ## Fitted parameters
#
# The purchase model's parameters (r, α, a, b for BG/NBD) and the Gamma-Gamma's (p, q, γ), with
# the convergence retries and the frequency–spend independence check Gamma-Gamma assumes.

# %% tags=["params"]
pd.concat([clv.params(), clv.checks()]).round(4).to_frame()

# %% [markdown]
# ## Holdout: predicted vs actual
#
# Purchases (distinct active days) and value (spend, and profit for the supervised model),
# per predictor: aggregate error, MAE, RMSE, Spearman, normalised Gini, decile MAPE.

# %% tags=["holdout"]
holdout = clv.holdout()
if holdout.empty:
    print("The data end at the as-of date: no holdout to score (predictions only).")
else:
    display(holdout.round(3))

# %% [markdown]
# ## Diagnostics
#
# The lifetimes-style figures: calibration vs holdout purchases, the expected purchases and
# P(alive) by frequency and recency, and predicted vs actual value by decile.

# %% tags=["figures"]
pngs = nb.show_figures(clv.figures())

# %% [markdown]
# ## Customers
#
# Per customer: P(alive), expected purchases and spend over the horizon, discounted CLV, and
# the supervised predictions of value and profit.

# %% tags=["customers"]
clv.scores.describe().T.round(2)

# %%
params = {"customers": customers, "seed": seed, "model": model, "run_id": studied.run_id}
with nb.research_run("04_clv", cfg, params, root=root) as run:
    run.metrics(clv.metrics.to_dict())
    run.json(clv.evaluation, "clv_evaluation.json")
    run.figures(clv.figure_dir)
print(f"logged run {run.run_id} to {run.tracking_uri}")
