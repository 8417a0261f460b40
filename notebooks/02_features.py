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
history_quarters = 8  # as-of dates compared, one per quarter back from as_of

# %% [markdown]
# # 02 · Features: distributions, redundancy, and point-in-time windows
#
# **Question.** What do the ~100 point-in-time customer features (`docs/features.md`) look
# like on this bank, which of them carry the same information, and do they behave as the
# point-in-time rules promise when the as-of date moves?
#
# **What we do.** Build the feature table at the as-of date (`segml.features.build_features`),
# summarise it by family, plot the distributions of one or two features per family, measure
# rank correlations, rebuild the table at earlier quarter ends, and set the features against
# the labels of the year *after* the as-of date (`segml.features.labels.build_labels`).

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from segml import notebook as nb
from segml.features.catalogue import CATALOGUE
from segml.grades import roc_auc

root = nb.study_root(config)  # relative paths: this project's, wherever the kernel runs
cfg = nb.study_config(config, customers=customers, seed=seed, as_of=as_of, root=root)
study = nb.open_study(cfg, data_dir, run_id, root=root)  # a run's: bank, as-of, features, labels
cfg, seed = study.config, study.config.seed
features = study.features()
active = features[features["is_active"] == 1]
print(study.describe())
print(
    f"{len(features):,} customers known at {study.as_of}, {len(active):,} active; "
    f"{features.shape[1]} columns"
)

# %% [markdown]
# ## The families
#
# Every column is documented in `segml.features.catalogue` (family, unit, definition). Missing
# values are part of the definitions: `T` is empty for a customer with no activity, statement
# ratios (`fin_*`) exist only for corporate clients with a known statement.

# %% tags=["families"]
catalogue = pd.DataFrame(
    [(c, CATALOGUE[c].family, CATALOGUE[c].unit) for c in features.columns],
    columns=["column", "family", "unit"],
)
catalogue["missing"] = features.isna().mean().to_numpy()
catalogue.groupby("family").agg(
    columns=("column", "size"), mean_missing=("missing", "mean"), max_missing=("missing", "max")
).round(3)

# %% tags=["missing"]
most_missing = catalogue.sort_values("missing", ascending=False).head(12).set_index("column")
most_missing["definition"] = [CATALOGUE[c].definition[:90] for c in most_missing.index]
most_missing.round(3)

# %% [markdown]
# ## Distributions
#
# One or two features per family, over the active customers. Money and counts are heavily
# skewed, so strongly skewed columns are drawn on a signed log10 scale (the title says so).

# %% tags=["distributions"]
shown = [
    "n_tx_365d",
    "monetary_value",
    "days_since_last_tx",
    "digital_share",
    "aum_last",
    "bal_lending_last",
    "profit_12m",
    "n_products",
    "tenure_months",
    "complaints_365d",
    "satisfaction_avg_365d",
    "fin_leverage",
]
fig_dist, axes = plt.subplots(3, 4, figsize=(14, 8))
nb.plot_distributions(active, shown, axes.ravel())
fig_dist.tight_layout()

# %% [markdown]
# ## Which features say the same thing?
#
# Spearman (rank) correlations, robust to the skew. The heatmap shows a readable subset; the
# table lists every pair of numeric features whose |correlation| is at least 0.9.

# %% tags=["correlations"]
subset = [
    "n_tx_30d",
    "n_tx_90d",
    "n_tx_365d",
    "frequency",
    "amount_365d",
    "monetary_value",
    "days_since_last_tx",
    "digital_share",
    "branch_share",
    "bal_deposit_avg_12m",
    "aum_last",
    "relationship_balance",
    "nii_12m",
    "profit_12m",
    "n_products",
]
corr = active[subset].corr(method="spearman")
fig_corr, ax = plt.subplots(figsize=(9, 7.5))
nb.plot_heatmap(corr, ax, title="Spearman correlation, active customers")
fig_corr.tight_layout()

# %% tags=["correlated-pairs"]
numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
pairs = nb.correlated_pairs(active, numeric, threshold=0.9)
print(f"{len(pairs)} pairs of numeric features with |rho| >= 0.9 among {len(numeric)} columns")
pairs.head(15).round(3)

# %% [markdown]
# **What we see.** Most strongly correlated pairs are aggregates of one quantity: a balance's
# last month, averages and peak; counts over nested windows; tenures of the first product and
# of the relationship; flags that exclude each other (retail and corporate current accounts).
# Many columns are near-duplicates, which is why the segmentation (`03_segmentation`) clusters a
# short behavioural subset (`segml.segments.BEHAVIOURAL_COLUMNS`) rather than all columns.

# %% [markdown]
# ## Point in time: the same features at earlier as-of dates
#
# A feature at *t* uses only what the bank knew at *t*. Rebuilding the table at earlier quarter
# ends shows the population and its activity through time; the windows must nest at every
# date (no customer has more transactions in 30 days than in 90, or in 90 than in 365).

# %% tags=["windows"]
counts = [f"n_tx_{w}d" for w in sorted(cfg.features.windows)]  # the config's windows
rows = []
for q in range(history_quarters):
    t = nb.months_before(study.as_of, 3 * q)
    f = study.features(t)
    a = f[f["is_active"] == 1]
    pairs_of_windows = zip(counts[:-1], counts[1:], strict=True)
    nested = np.logical_and.reduce([a[short] <= a[long] for short, long in pairs_of_windows])
    rows.append(
        {
            "as_of": t,
            "customers": len(f),
            "active": len(a),
            f"median_{counts[-1]}": a[counts[-1]].median(),
            f"share_active_{counts[0]}": (a[counts[0]] > 0).mean(),
            "median_profit_12m": a["profit_12m"].median(),
            "windows_not_nested": int((~nested).sum()),
        }
    )
over_time = pd.DataFrame(rows).set_index("as_of").sort_index()
over_time.round(3)

# %% tags=["windows-figure"]
fig_time, axes = plt.subplots(1, 3, figsize=(13, 3.5))
over_time[["customers", "active"]].plot(ax=axes[0], marker="o", title="customers known / active")
over_time[f"median_{counts[-1]}"].plot(ax=axes[1], marker="o", title=f"median {counts[-1]}")
over_time[f"share_active_{counts[0]}"].plot(ax=axes[2], marker="o", title=f"share {counts[0]} > 0")
fig_time.tight_layout()
print(f"windows not nested at any date: {int(over_time['windows_not_nested'].sum())}")

# %% [markdown]
# ## Features at *t* against what happened after *t*
#
# Labels come from the window after the as-of date only (`build_labels`: churn by the config's
# definition, holdout spend and profit), never mixed into the features. How much does each
# feature at *t* say about churn in the following year? We measure it by the feature's ROC AUC
# for churn (0.5 = no information, below 0.5 = higher values mean less churn) and compare it
# with the AUCs that shuffled labels give, the noise band of a bank this size.

# %% tags=["labels"]
labels = study.labels()  # None when the data end before the label window does
signal = None
if labels is not None:
    joined = active.merge(labels.to_pandas(), on="customer_id", validate="one_to_one")
    churned = joined["churned"].to_numpy(dtype=int)
    print(
        f"{len(joined):,} active customers labelled over the {cfg.labels.horizon_months} "
        f"months after {study.as_of}: {churned.sum()} churned ({churned.mean():.1%}, "
        f"{cfg.labels.churn_definition})"
    )
if labels is not None and 0 < churned.sum() < len(churned):
    candidates = [
        "days_since_last_tx",
        "tx_trend_90d",
        "n_tx_365d",
        "n_products",
        "tenure_months",
        "aum_last",
        "complaints_365d",
        "satisfaction_avg_365d",
        "profit_12m",
    ]
    rng = np.random.default_rng(seed)
    auc = pd.Series(
        {c: roc_auc(churned, joined[c].fillna(joined[c].median()).to_numpy()) for c in candidates}
    )
    x = joined["days_since_last_tx"].fillna(0).to_numpy()
    shuffled = [abs(roc_auc(rng.permutation(churned), x) - 0.5) for _ in range(200)]
    band = float(np.quantile(shuffled, 0.95))
    signal = auc.to_frame("auc").assign(distance=(auc - 0.5).abs()).sort_values("distance")
    signal["beyond_noise"] = signal["distance"] > band
    print(f"95% of shuffled-label AUCs lie within 0.5 ± {band:.3f}")
    display(signal.iloc[::-1].round(3))
elif labels is not None:
    print("every labelled customer has the same outcome: no AUC to measure")

# %% tags=["labels-figure"]
if signal is not None:
    strongest = signal.index[-2:]
    rates = pd.DataFrame(
        {
            c: joined.groupby(pd.qcut(joined[c].rank(method="first"), 5, labels=range(1, 6)))[
                "churned"
            ].mean()
            for c in strongest
        }
    ).rename_axis("quintile at t (low to high)")
    fig_labels, ax = plt.subplots(figsize=(7, 3.5))
    rates.plot.bar(ax=ax, title="churn rate in the next year by quintile of a feature at t")
    ax.axhline(churned.mean(), color="grey", linestyle="--", linewidth=1)
    ax.set_ylabel("churn rate")
    fig_labels.tight_layout()
    print(f"features beyond the noise band: {int(signal['beyond_noise'].sum())} of {len(signal)}")
else:
    print("no labels after the as-of date: the features are not set against outcomes here")

# %% [markdown]
# **What we see.** The AUCs place each feature against the noise band of shuffled labels:
# the features beyond it carry information about the following year although they are
# computed from records up to *t* only, and the quintile chart shows the shape of the
# relation for the two strongest. How many clear the band depends on the size of the bank
# (the band narrows as churners accumulate); the churn notebook models them jointly.

# %% [markdown]
# ## Record the run

# %%
params = {"customers": customers, "seed": seed, "history_quarters": history_quarters}
with nb.research_run("02_features", cfg, params, root=root) as run:
    run.metrics({"rows": len(features), "columns": features.shape[1], "active": len(active)})
    run.metrics({"correlated_pairs_0.9": len(pairs)})
    if labels is not None:
        run.metrics({"churn_rate": churned.mean()})
    if signal is not None:
        run.metrics(auc.to_dict(), prefix="churn_auc.")
        run.table(signal, "churn_signal.csv")
    run.metrics({"windows_not_nested": over_time["windows_not_nested"].sum()})
    run.table(over_time, "features_over_time.csv")
    for name, fig in {"distributions": fig_dist, "correlations": fig_corr}.items():
        run.figure(fig, f"{name}.png")
    run.figure(fig_time, "features_over_time.png")
print(f"logged run {run.run_id} to {run.tracking_uri}")
