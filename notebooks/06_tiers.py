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
config = "experiments/configs/default.yaml"  # run config: tier policy, value column, overrides
customers = 5000  # size of the synthetic bank
seed = 7  # its seed
as_of = "2024-12-31"  # features use records up to this date
data_dir = None  # a folder of contract tables to study instead of the synthetic bank
policy = "pyramid"  # tiers.policy studied in detail: pyramid | abc | customer_pyramid
migration_months = 12  # compare with the tiers this many months earlier
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
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from segml import notebook as nb
from segml.profile import profile_bank
from segml.stages import active
from segml.tiers import (
    BUILTIN_POLICIES,
    PLAYBOOK_COLUMNS,
    assign_tiers,
    tier_migration,
    tier_table,
)

overrides = {"tiers.policy": policy}
cfg = nb.study_config(config, customers=customers, seed=seed, as_of=as_of, overrides=overrides)
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
earlier_date = nb.months_before(study.as_of, migration_months)
start = profile_bank(study.bank, study.as_of).history_start
if start is None or nb.months_before(earlier_date, 12) < start:
    raise ValueError(f"the history from {start} is too short for features at {earlier_date}")
before = assign_tiers(active(study.features(earlier_date)), pol, rules, value_col=value)
migration = tier_migration(before, tiers, order=list(pol.labels))
fig_migration, ax = plt.subplots(figsize=(7, 4.5))
rates = migration.transition_rates()
nb.plot_heatmap(rates, ax, cmap="Blues", center=None, title=f"{earlier_date} → {study.as_of}")
fig_migration.tight_layout()
print(
    f"of {migration.n_both:,} customers tiered at both dates {migration.stay_rate:.0%} kept "
    f"their tier, {migration.upgrade_rate:.0%} moved up, {migration.downgrade_rate:.0%} down; "
    f"{migration.n_new:,} are new, {migration.n_lost:,} left; "
    f"PSI of {value} {migration.psi:.3f} ({migration.psi_label})"
)
migration.counts.rename_axis(index="before", columns="after")

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
#
# Explanations of why a customer sits in a tier (SHAP reason codes) will be added here when
# issue #6 lands.

# %% [markdown]
# ## Record the run

# %%
params = {"customers": customers, "seed": seed, "policy": policy}
with nb.research_run("06_tiers", cfg, params | {"migration_months": migration_months}) as run:
    run.json(pol.to_dict(), "tier_policy.json")
    run.json([r.to_dict() for r in rules], "tier_rules.json")
    run.table(table, "tier_table.csv")
    run.table(migration.counts, "tier_migration_counts.csv")
    run.metrics({"overridden": int(moved.sum())})
    run.metrics(migration.summary(), prefix="migration.")
    run.metrics(agreement, prefix="agreement.")
    run.figure(fig_policies, "policies.png")
    run.figure(fig_migration, "migration.png")
print(f"logged run {run.run_id} to {run.tracking_uri}")
