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

# %% [markdown]
# # 01 · The data: contract, quality, and how value is spread
#
# **Question.** What does the bank hand us — which tables, which rules — do the data keep
# those rules, and how concentrated is customer value? Everything later (features, segments,
# tiers) rests on these three answers.
#
# **What we do.** Open the bank through `segml.data.load_bank`, which validates every contract
# rule in DuckDB before anything else reads the data; look at the contract itself, at the
# validation report, and at a copy of the data with faults planted on purpose to see how the
# validator reports them; profile the bank at the as-of date (`segml.profile`); and draw the
# Lorenz curve of current annual profit (`segml.tiers.concentration`, `plot_lorenz`).

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from segml import notebook as nb
from segml.profile import profile_bank
from segml.tiers import concentration, plot_lorenz, top_share
from segml.validate import validate_folder

root = nb.study_root(config)  # relative paths: this project's, wherever the kernel runs
cfg = nb.study_config(config, customers=customers, seed=seed, as_of=as_of, root=root)
study = nb.open_study(cfg, data_dir, run_id, root=root)  # a run's: bank, as-of, features
seed = study.config.seed
print(study.describe())

# %% [markdown]
# ## The contract
#
# The contract (`segml.contract`, documented in `docs/data_contract.md`) names the tables a
# bank provides and which of them are required. Each row below is one table, with its key and
# its size in this bank.

# %% tags=["contract"]
nb.contract_overview(study.bank)

# %% [markdown]
# The transactions table is usually the largest and feeds most features. Its columns and the
# rules the validator enforces on each:

# %%
nb.contract_columns("transactions")

# %% [markdown]
# ## Quality checks
#
# `load_bank` refuses a folder that breaks any error-level rule, so reaching this cell means
# none is broken. Warnings (rules a bank may legitimately break, such as zero amounts) are
# listed here.

# %% tags=["validation"]
report = study.bank.report
print(report.summary())
pd.DataFrame([vars(i) for i in report.issues], columns=["table", "column", "rule", "count"])

# %% [markdown]
# Does the validator catch real faults, and does it say where they are? We copy the three
# required tables, plant a duplicated customer, two negative amounts and a transaction dated in
# 2099, and validate the copy.

# %% tags=["planted-faults"]
with tempfile.TemporaryDirectory() as tmp:
    customers_df = study.bank.to_pandas("customers")
    tx = study.bank.to_pandas("transactions")
    tx.loc[tx.index[:2], "amount"] = -tx["amount"].iloc[:2]
    tx.loc[tx.index[2], "timestamp"] = pd.Timestamp("2099-01-01")
    tables = {
        "customers": pd.concat([customers_df, customers_df.iloc[[0]]]),
        "accounts": study.bank.to_pandas("accounts"),
        "transactions": tx,
    }
    for name, frame in tables.items():
        frame.to_parquet(Path(tmp) / f"{name}.parquet", index=False)
    broken = validate_folder(tmp)
planted = pd.DataFrame(
    [(i.table, i.column, i.rule, i.count, "; ".join(i.examples)) for i in broken.errors],
    columns=["table", "column", "rule", "rows", "first offending rows"],
)
planted.set_index(["table", "column"])

# %% [markdown]
# Each planted fault comes back as an issue naming the table, the column, the rule, the number
# of rows and the first offending keys. One fault can break more than one rule: a transaction
# dated 2099 is in the future, and also after its account's closing day if the account closed.

# %% [markdown]
# ## Profile at the as-of date

# %% tags=["profile"]
profile = profile_bank(study.bank, study.as_of)
facts = pd.Series(profile.metrics(), name="value")
print(f"transactions from {profile.transactions_first} to {profile.transactions_last}")
facts.to_frame()

# %% tags=["profile-figure"]
fig_profile, axes = plt.subplots(1, 3, figsize=(13, 3.5))
pd.Series(profile.customers_by_type).plot.bar(ax=axes[0], title="customers by type")
pd.Series(profile.customers_by_region).sort_values().plot.barh(ax=axes[1], title="by region")
pd.Series(profile.products).sort_values().plot.barh(ax=axes[2], title="accounts by product")
fig_profile.tight_layout()

# %% [markdown]
# ## How concentrated is value?
#
# Value here is `profit_12m`, the current annual profit of each customer (net interest and
# AUM income plus fees, less expected credit loss and servicing costs; `docs/features.md`).
# Only relationships open at the as-of date are tiered, so we look at those.

# %% tags=["concentration"]
features = study.features()
active = features[features["is_active"] == 1]
conc = concentration(active["profit_12m"])
groups = {"all": active, **dict(tuple(active.groupby("customer_type")))}
by_type = pd.DataFrame({k: concentration(g["profit_12m"]).to_dict() for k, g in groups.items()})
by_type.T.round(3)

# %% tags=["lorenz"]
fig_lorenz, ax = plt.subplots(figsize=(5.5, 5.5))
plot_lorenz(active["profit_12m"], ax=ax, label="annual profit, all")
for kind, g in active.groupby("customer_type"):
    plot_lorenz(g["profit_12m"], ax=ax, label=f"annual profit, {kind}", linestyle=":")
plot_lorenz(active["aum_last"], ax=ax, label="assets under management, all")
legend = dict(zip(*ax.get_legend_handles_labels()[::-1], strict=True))  # one "equality"
ax.legend(legend.values(), legend.keys(), loc="upper left", fontsize=8)
ax.set_title("Lorenz curves of the active customers")
fig_lorenz.tight_layout()

# %%
shares = {p: top_share(active["profit_12m"], p) for p in (0.01, 0.05, 0.20, 0.50)}
print(
    "top 1% / 5% / 20% / 50% of customers hold "
    + " / ".join(f"{v:.0%}" for v in shares.values())
    + " of net annual profit"
)
print(
    f"{conc.loss_customer_share:.0%} of active customers lose money; together they give back "
    f"{conc.loss_value_ratio:.0%} of the profit the others make"
)

# %% [markdown]
# **What we see.** Value is far more concentrated than customers: the Lorenz curve of profit
# stays near the bottom axis for most customers and rises steeply at the end, and a small top
# share of customers holds most of the net profit (figures above). Where the curve first dips
# below zero, some customers are loss-making: the net total is then smaller than the
# profitable customers' sum, and a top share of *net* profit can pass 100%. Where corporate
# clients are few and large (as in the synthetic bank), mixing them with retail customers
# steepens the curve; within each type value is still concentrated (the dotted curves and the
# table by type). AUM is concentrated as well, but balances are not profit and rank customers
# differently. This is the picture behind tiering (`06_tiers`): service effort should follow
# value, and loss-makers need their own treatment.

# %% [markdown]
# ## Record the run

# %%
params = {"customers": customers, "seed": seed, "run_id": study.run and study.run.run_id}
with nb.research_run("01_data", cfg, params, root=root) as run:
    run.json(study.to_dict(), "bank.json")
    run.json(report.to_dict(), "validation.json")
    run.metrics(profile.metrics())
    for kind in by_type:
        run.metrics(by_type[kind].to_dict(), prefix=f"concentration.{kind}.")
    run.metrics({"planted_faults_found": len(broken.errors)})
    run.figure(fig_lorenz, "lorenz.png")
    run.figure(fig_profile, "profile.png")
print(f"logged run {run.run_id} to {run.tracking_uri}")
