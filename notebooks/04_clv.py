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

# %% [markdown]
# # 04 · Customer lifetime value: probabilistic vs supervised, on a holdout year
#
# **Question.** How well can we predict next year's activity and value of each customer, and
# does a supervised model on the point-in-time features beat the classic BG/NBD + Gamma-Gamma?
#
# **What we do.** `segml.clv.stage.clv_stage` fits the purchase model and Gamma-Gamma on
# customer-initiated transactions up to the as-of date (weeks as the time unit, an explicit
# annual discount rate), trains xgboost out of time (features a year before the as-of date,
# target = the following year), and scores both on the horizon after the as-of date
# (`labels.horizon_months`, 12 by default), which no model saw. Method and metric
# definitions: `docs/clv.md`.

# %%
import json
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import display

from segml import notebook as nb
from segml.clv.stage import clv_stage

overrides = nb.given({"clv.model": model, "clv.annual_discount_rate": annual_discount_rate})
cfg = nb.study_config(config, customers=customers, seed=seed, as_of=as_of, overrides=overrides)
model, annual_discount_rate, seed = cfg.clv.model, cfg.clv.annual_discount_rate, cfg.seed
study = nb.open_bank(cfg, data_dir)
features = study.features()
figures = Path(tempfile.mkdtemp(prefix="segml-clv-"))
result = clv_stage(
    study.bank,
    features,
    study.as_of,
    cfg.labels.horizon_months,
    model,
    annual_discount_rate,
    seed,
    figures,
    config=cfg.features.feature_config(),
)
print(study.describe())

# %% [markdown]
# ## Fitted parameters
#
# The purchase model's parameters (r, α, a, b for BG/NBD) and the Gamma-Gamma's (p, q, γ), with
# the convergence retries and the frequency–spend independence check Gamma-Gamma assumes.

# %% tags=["params"]
params = {k[len("params.") :]: v for k, v in result.metrics.items() if k.startswith("params.")}
checks = {k: v for k, v in result.metrics.items() if k.startswith(("retries.", "independence."))}
pd.Series({**params, **checks}, name="value").round(4).to_frame()

# %% [markdown]
# ## Holdout: predicted vs actual
#
# Purchases (distinct active days) and value (spend, and profit for the supervised model),
# per predictor: aggregate error, MAE, RMSE, Spearman, normalised Gini, decile MAPE.

# %% tags=["holdout"]
holdout = result.documents["clv_evaluation.json"].get("holdout", {})
rows = {("purchases", model): holdout["purchases"]} if "purchases" in holdout else {}
for target in ("spend", "profit"):
    for name, metrics in holdout.get(target, {}).get("metrics", {}).items():
        rows[(target, name)] = metrics
holdout = pd.DataFrame.from_dict(rows, orient="index")
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
pngs = nb.show_figures(figures)

# %% [markdown]
# ## Customers
#
# Per customer: P(alive), expected purchases and spend over the horizon, discounted CLV, and
# the supervised predictions of value and profit.

# %% tags=["customers"]
clv = result.tables["clv"]
clv.describe().T.round(2)

# %%
with nb.research_run("04_clv", cfg, {"customers": customers, "seed": seed, "model": model}) as run:
    run.metrics(result.metrics)
    run.json(json.loads(json.dumps(result.documents, default=str)), "clv_documents.json")
    run.figures(figures)
print(f"logged run {run.run_id} to {run.tracking_uri}")
