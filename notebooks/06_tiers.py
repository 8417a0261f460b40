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
policy = None  # studied in detail: pyramid | abc | customer_pyramid (None: tiers.policy)
migration_months = None  # compare with the tiers this long before (None: tiers.migration_months)
value = "profit_12m"  # value column: a feature (segml run uses value_score, docs/explain.md)

# %% [markdown]
# # 06 · Value tiers: policies, overrides, playbooks and migration
#
# **Question.** Tiers (客户分级) decide who gets a relationship manager and preferential
# pricing. How do the built-in tier policies split customers and value, what do the override
# rules change and why, what service does each tier receive, and how much do tiers move from
# one year to the next?
#
# **What we do.** Tier the active customers on a value score column (`value`: current annual
# profit here; `segml run` tiers on the explained value score model, see docs/explain.md) with `segml.tiers.assign_tiers` under each built-in policy,
# apply the config's override rules (`tiers.rules`), read the tier table with its playbooks,
# and compare with the tiers a year earlier (`tier_migration`: migration matrix and PSI). On
# the synthetic bank we check the tiers against the true ones.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from segml import notebook as nb
from segml.explain.plots import example_customers, plot_global, plot_tier_drivers, plot_waterfalls
from segml.explain.reasons import reason_codes
from segml.explain.thresholds import threshold_report
from segml.explain.value_stage import value_stage
from segml.profile import profile_bank
from segml.run_steps import earlier_features
from segml.stages import active
from segml.tiers import (
    BUILTIN_POLICIES,
    PLAYBOOK_COLUMNS,
    assign_tiers,
    tier_migration,
    tier_table,
)

overrides = nb.given({"tiers.policy": policy, "tiers.migration_months": migration_months})
cfg = nb.study_config(config, customers=customers, seed=seed, as_of=as_of, overrides=overrides)
policy, migration_months, seed = cfg.tiers.policy, cfg.tiers.migration_months, cfg.seed
study = nb.open_bank(cfg, data_dir)
population = active(study.features())
print(study.describe())
print(f"{len(population):,} active customers tiered on {value!r}")

# %% [markdown]
# ## Three policies side by side
#
# * `pyramid` ranks customers: top 1%, next 19%, next 30%, last 50%;
# * `abc` cuts by cumulative share of positive value: A holds 80%, B the next 15%;
# * `customer_pyramid` ranks the profitable customers (5% / 15% / 80%) and puts every
#   loss-maker in `lead`.

# %% tags=["policies"]
tables = {
    name: tier_table(assign_tiers(population, pol, value_col=value))
    for name, pol in BUILTIN_POLICIES.items()
}
compared = pd.concat(tables, names=["policy", "row"]).droplevel("row")
compared[["tier", "customers", "customer_share", "value_share", "positive_value_share"]].round(3)

# %% tags=["policies-figure"]
fig_policies, axes = plt.subplots(1, len(tables), figsize=(13, 3.5), sharey=True)
for ax, (name, table) in zip(axes, tables.items(), strict=True):
    shares = table.set_index("tier")[["customer_share", "positive_value_share"]]
    shares.plot.bar(ax=ax, title=name, rot=30, legend=ax is axes[0])
fig_policies.tight_layout()

# %% [markdown]
# **What we see.** A rank pyramid fixes the share of *customers* in each tier, so the value a
# tier holds follows from how concentrated value is; ABC fixes the share of *value*, so the
# number of A customers follows instead — on concentrated value, A is a small elite. The
# customer pyramid is the only one that separates the loss-makers, who otherwise sit at the
# bottom of the last tier next to customers who simply bring little.

# %% [markdown]
# ## The chosen policy with the config's overrides
#
# Rules override the value tier where their conditions hold (`flag` records only; `cap`,
# `floor` and `set` move the tier) and every customer keeps the reasons that applied.

# %% tags=["rules"]
pol = BUILTIN_POLICIES[cfg.tiers.policy]
rules = cfg.tiers.tier_rules()
tiers = assign_tiers(population, pol, rules, value_col=value)
moved = tiers["tier"] != tiers["tier_by_value"]
rule_counts = pd.DataFrame(
    {
        "action": [r.action for r in rules],
        "matched": [int(tiers["reasons"].map(lambda rs, n=r.name: n in rs).sum()) for r in rules],
        "reason": [r.reason for r in rules],
    },
    index=pd.Index([r.name for r in rules], name="rule"),
)
print(f"{len(rules)} rules; {int(moved.sum())} customers moved from their value tier")
display(rule_counts)
examples = tiers.loc[tiers["reason"] != "", ["customer_id", "tier_by_value", "tier", "reason"]]
examples.assign(moved=moved).sort_values("moved", ascending=False, kind="stable").head(8)

# %% [markdown]
# ## Tier table and playbooks
#
# Per tier: customers, value, and the service playbook (relationship manager, contact cadence,
# channel, pricing, the retention action for a customer at high churn risk and the threshold).

# %% tags=["tier-table"]
table = tier_table(tiers)
numbers = ["tier", "customers", "customer_share", "value_share", "mean_value", "median_value"]
display(table[numbers].round(3))
table.set_index("tier")[list(PLAYBOOK_COLUMNS)]

# %% [markdown]
# ## Migration against a year earlier
#
# The same policy and rules at an earlier as-of date; rows are the earlier tier (`new`: not
# yet a customer), columns the later one (`lost`: no longer active). The PSI measures how
# much the distribution of the value score moved (< 0.1 stable, 0.1–0.25 moderate, > 0.25
# major).

# %% tags=["migration"]
start = profile_bank(study.bank, study.as_of).history_start
earlier_date, earlier = earlier_features(study.bank, study.as_of, cfg, start)
migration = None
if earlier is None:  # as segml run does: no migration without a year of history before it
    print(
        f"skipped: the history from {start} is too short for features "
        f"{migration_months} months before {study.as_of} (or tiers.migration_months is 0)"
    )
else:
    before = assign_tiers(active(earlier), pol, rules, value_col=value)
    migration = tier_migration(before, tiers, order=list(pol.labels))
    fig_migration, ax = plt.subplots(figsize=(7, 4.5))
    rates = migration.transition_rates()
    nb.plot_heatmap(rates, ax, cmap="Blues", center=None, title=f"{earlier_date} → {study.as_of}")
    fig_migration.tight_layout()
    print(
        f"of {migration.n_both:,} customers tiered at both dates {migration.stay_rate:.0%} kept "
        f"their tier, {migration.upgrade_rate:.0%} moved up, {migration.downgrade_rate:.0%} "
        f"down; {migration.n_new:,} are new, {migration.n_lost:,} left; "
        f"PSI of {value} {migration.psi:.3f} ({migration.psi_label})"
    )
    display(migration.counts.rename_axis(index="before", columns="after"))

# %% [markdown]
# **What we see.** The diagonal of the transition rates holds most customers: tiers are
# persistent from one year to the next, and the printed rates say how many move; moves
# happen mostly between neighbouring tiers. A policy that moved many customers
# every year would make the playbooks hard to run, so migration is a design criterion of a
# policy, not only a report.

# %% [markdown]
# ## Against the true tiers (synthetic bank only)
#
# The ground truth holds each customer's tier under the default pyramid by *true* current
# profit (`current_value_tier`) and by the *next* year's true profit (`value_tier`). Tiering
# on the measured `profit_12m` should match the first closely; the second shows how well
# today's value predicts next year's.

# %% tags=["truth"]
truth = study.ground_truth()
if truth is None or cfg.tiers.policy != "pyramid" or value != "profit_12m":
    print("skipped: needs the synthetic ground truth, the pyramid policy and profit_12m")
    agreement = {}
else:
    check = tiers.merge(truth, on="customer_id", validate="one_to_one")
    agreement = {
        "current_value_tier": float((check["tier_by_value"] == check["current_value_tier"]).mean()),
        "value_tier": float((check["tier_by_value"] == check["value_tier"]).mean()),
    }
    print(
        f"tier by measured profit = true current tier for {agreement['current_value_tier']:.0%} "
        f"of customers, = true next-year tier for {agreement['value_tier']:.0%}"
    )
    display(pd.crosstab(check["tier_by_value"], check["value_tier"], margins=True))

# %% [markdown]
# **What we see.** Where the ground truth exists, the measured profit reproduces the true
# current tiers for most customers (the features are built from the same records), while the
# agreement with next year's true tier is lower: current value is an imperfect guide to future
# value, which is what the CLV notebook addresses by tiering on predicted value.

# %% [markdown]
# ## Why each customer has its tier: the explained value score
#
# `segml run` tiers on the **value score** rather than last year's profit: current profit by its
# accounting lines plus an xgboost model of next year's change, trained out of time, its size
# chosen by validation against the cost of explaining it (docs/explain.md). We fit it as the run
# does, tier on it, and decompose every customer's score exactly with TreeSHAP: base value +
# contributions = the score the policy ranks.

# %% tags=["value-model"]
labels_after = study.labels()  # None when the data end at the as-of date: no test metrics
value_run = value_stage(
    study.bank, study.features(), labels_after, study.as_of, cfg.labels.horizon_months,
    cfg.value, pol, seed, config=cfg.features.feature_config(),
    max_train_rows=cfg.compute.max_train_rows,
)  # fmt: skip
value_model = value_run.models["value"]
scored = population.merge(value_run.tables["value_scores"], on="customer_id", validate="1:1")
explained = value_model.explain(scored)
value_tiers = pol.assign(explained.score)
print(
    f"depth {value_model.max_depth}, {int(value_run.metrics['model.trees'])} trees; "
    f"additivity error ≤ {explained.additivity.max_abs_error:.2g} on scores up to "
    f"{explained.additivity.scale:,.0f}"
)
metrics_doc = value_run.documents["value_metrics.json"]
if "test" in metrics_doc:
    display(pd.DataFrame({k: metrics_doc[k] for k in ("test", "naive_profit_12m")}).T.round(3))
pd.DataFrame(value_run.documents["value_selection.json"]["candidates"]).round(3)

# %% tags=["drivers"]
drivers_dir = Path(tempfile.mkdtemp(prefix="segml-06-"))
plot_global(explained, drivers_dir, max_display=12)
plot_tier_drivers(explained, value_tiers, list(pol.labels), drivers_dir)
nb.show_figures(drivers_dir)

# %% [markdown]
# **What we see.** The accounting lines dominate the score — net interest and AUM income above
# all, expected credit loss against it — and the trees add the expected change. Contributions
# are measured from the average customer, so ordinary customers' income lines are negative: the
# average is pulled up by the few customers who hold most of the value.

# %% tags=["reason-codes"]
codes = reason_codes(explained, scored, k=cfg.explain.top_k)
thresholds = threshold_report(explained, pol)
examples_rows = [i for rows in example_customers(explained.score, value_tiers, list(pol.labels)).values() for i in rows]  # fmt: skip
columns = ["tier_by_value", "threshold_below", "gap_to_next", "lifted_by", "held_back_by"]
example_table = pd.concat(
    [thresholds.loc[examples_rows, ["customer_id", *columns]],
     codes.loc[examples_rows, [f"reason_{j}" for j in range(1, cfg.explain.top_k + 1)]]], axis=1,
)  # fmt: skip
example_table.assign(value_score=explained.score[examples_rows]).set_index("customer_id")

# %% tags=["waterfalls"]
waterfall_dir = Path(tempfile.mkdtemp(prefix="segml-06-"))
plot_waterfalls(explained, value_tiers, list(pol.labels), waterfall_dir, per_tier=1)
nb.show_figures(waterfall_dir)

# %% [markdown]
# **What we see.** Each example customer — the median customer of each tier — is explained in
# the bank's words, with the customer's own values and units, and the threshold report says how
# far the customer is from the tier below and the next one up and which drivers made the
# difference. `segml explain --run-id … --customer …` prints the same for any customer of a run.

# %% [markdown]
# ## Record the run

# %%
params = {"customers": customers, "seed": seed, "policy": policy}
with nb.research_run("06_tiers", cfg, params | {"migration_months": migration_months}) as run:
    run.json(pol.to_dict(), "tier_policy.json")
    run.json([r.to_dict() for r in rules], "tier_rules.json")
    run.table(table, "tier_table.csv")
    run.metrics({"overridden": int(moved.sum())})
    if migration is not None:
        run.table(migration.counts, "tier_migration_counts.csv")
        run.metrics(migration.summary(), prefix="migration.")
        run.figure(fig_migration, "migration.png")
    run.metrics(agreement, prefix="agreement.")
    run.metrics({"additivity_max_error": explained.additivity.max_abs_error}, prefix="explain.")
    run.metrics(
        {k: v for k, v in value_run.metrics.items() if k.startswith("test.")}, prefix="value."
    )
    run.table(codes.loc[examples_rows], "example_reason_codes.csv")
    run.figure(fig_policies, "policies.png")
print(f"logged run {run.run_id} to {run.tracking_uri}")
