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
run_id = None  # a finished segml run to study (id, prefix or "latest"); None: compute one now

# %% [markdown]
# # 06 · Value tiers: policies, overrides, playbooks and migration
#
# **Question.** Tiers (客户分级) decide who gets a relationship manager and preferential
# pricing. How do the built-in tier policies split customers and value, what do the override
# rules change and why, what service does each tier receive, and how much do tiers move from
# one year to the next?
#
# **What we do.** Study a finished `segml run` (`run_id`, opened with `segml.open_run`, nothing
# recomputed; without one, `nb.study_run` runs the pipeline on the config with the value model
# and its explanations and opens that run). Tier its active customers on a value score
# column (`value`: current annual profit here; `segml run` tiers on the explained value score
# model, see docs/explain.md) with `segml.tiers.assign_tiers` under each built-in policy,
# apply the config's override rules (`tiers.rules`), read the tier table with its playbooks,
# and read how the run's tiers moved against a year earlier (migration matrix and PSI). On
# the synthetic bank we check the tiers against the true ones.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from segml import notebook as nb
from segml.tiers import BUILTIN_POLICIES, PLAYBOOK_COLUMNS, assign_tiers, tier_table

overrides = nb.given({"tiers.policy": policy, "tiers.migration_months": migration_months})
root = nb.study_root(config)  # relative paths: this project's, wherever the kernel runs
cfg = nb.study_config(
    config, customers=customers, seed=seed, as_of=as_of, overrides=overrides, root=root
)
studied = nb.study_run(cfg, run_id, steps=("value", "explain"), data_dir=data_dir, root=root)
run_cfg = studied.config
policy, migration_months, seed = run_cfg.tiers.policy, run_cfg.tiers.migration_months, run_cfg.seed
population = studied.active_features()
print(studied.describe())
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
pol = BUILTIN_POLICIES[policy]
rules = run_cfg.tiers.tier_rules()
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
# channel, pricing, the retention action and the retention capacity: the share of the tier's
# customers flagged, by expected loss = P(churn) × value, among those above the mean churn risk).

# %% tags=["tier-table"]
table = tier_table(tiers)
numbers = ["tier", "customers", "customer_share", "value_share", "mean_value", "median_value"]
display(table[numbers].round(3))
table.set_index("tier")[list(PLAYBOOK_COLUMNS)]

# %% [markdown]
# ## Migration against a year earlier
#
# The run's tiers (its policy and rules, on the measure the run ranks) against the tiers of an
# earlier as-of date; rows are the earlier tier (`new`: not yet a customer), columns the later
# one (`lost`: no longer active). The PSI measures how much the distribution of the ranked
# measure moved (< 0.1 stable, 0.1–0.25 moderate, > 0.25 major).

# %% tags=["migration"]
tiering = studied.tiering
migration = tiering.migration
if migration is None:  # as segml run does: no migration without a year of history before it
    print(
        f"skipped: the run compared with no earlier tiers (the history is too short for tiers "
        f"{migration_months} months before {studied.as_of}, or tiers.migration_months is 0)"
    )
else:
    fig_migration, ax = plt.subplots(figsize=(7, 4.5))
    title = f"{migration.earlier} → {studied.as_of}"
    nb.plot_heatmap(tiering.migration_rates(), ax, cmap="Blues", center=None, title=title)
    fig_migration.tight_layout()
    print(
        f"of {migration.n_both:,} customers tiered at both dates {migration.stay_rate:.0%} kept "
        f"their tier, {migration.upgrade_rate:.0%} moved up, {migration.downgrade_rate:.0%} "
        f"down; {migration.n_new:,} are new, {migration.n_lost:,} left; PSI of "
        f"{tiering.measure.get('measure')} {migration.psi:.3f} ({migration.psi_label})"
    )
    display(tiering.migration_counts().rename_axis(index="before", columns="after"))

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
truth = nb.ground_truth(studied.data_dir)
if truth is None or policy != "pyramid" or value != "profit_12m":
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
# value, which is why `segml run` tiers on the value score, current profit plus a model of
# next year's change (below).

# %% [markdown]
# ## Why each customer has its tier: the explained value score
#
# `segml run` tiers on the **value score** rather than last year's profit: current profit by its
# accounting lines plus an xgboost model of next year's change, trained out of time, its size
# chosen by validation against the cost of explaining it (docs/explain.md). The run tiered on
# it and decomposed every customer's score exactly with TreeSHAP: base value + contributions =
# the score the policy ranks. We read the model's selection, its test and its explanations.

# %% tags=["value-model"]
value_model, explained = studied.value, studied.explanations
print(
    f"depth {value_model.max_depth}, {value_model.trees} trees; additivity error ≤ "
    f"{explained.additivity_max_error:.2g} on scores up to "
    f"{explained.contributions['value_score'].abs().max():,.0f}"
)
tested = value_model.test()  # empty when the data end at the as-of date
if not tested.empty:
    display(tested.round(3))
value_model.candidates().round(3)

# %% tags=["drivers"]
nb.show_figures(explained.figures("importance") + explained.figures("tier_drivers"))

# %% [markdown]
# **What we see.** The accounting lines dominate the score — net interest and AUM income above
# all, expected credit loss against it — and the trees add the expected change. Contributions
# are measured from the average customer, so ordinary customers' income lines are negative: the
# average is pulled up by the few customers who hold most of the value.

# %% tags=["reason-codes"]
codes = explained.examples(tiering.labels)  # each tier's median customer
reasons = [f"reason_{j}" for j in range(1, run_cfg.explain.top_k + 1)]
columns = ["tier_by_value", "value_score", "threshold_below", "gap_to_next", "lifted_by",
           "held_back_by", *reasons]  # fmt: skip
codes.set_index("customer_id")[[c for c in columns if c in codes]]

# %% tags=["waterfalls"]
nb.show_figures(explained.figures("waterfall"))

# %% [markdown]
# **What we see.** Each example customer — the median customer of each tier — is explained in
# the bank's words, with the customer's own values and units, and the threshold report says how
# far the customer is from the tier below and the next one up and which drivers made the
# difference. `segml explain --run-id … --customer …` prints the same for any customer of a run.

# %% [markdown]
# ## Record the run

# %%
params = {"customers": customers, "seed": seed, "policy": policy, "run_id": studied.run_id}
params["migration_months"] = migration_months
with nb.research_run("06_tiers", cfg, params, root=root) as run:
    run.json(pol.to_dict(), "tier_policy.json")
    run.json([r.to_dict() for r in rules], "tier_rules.json")
    run.table(table, "tier_table.csv")
    run.metrics({"overridden": int(moved.sum())})
    if migration is not None:
        run.table(tiering.migration_counts(), "tier_migration_counts.csv")
        run.metrics(migration.summary(), prefix="migration.")
        run.figure(fig_migration, "migration.png")
    run.metrics(agreement, prefix="agreement.")
    run.metrics({"additivity_max_error": explained.additivity_max_error}, prefix="explain.")
    run.metrics(value_model.metrics.under("test").to_dict(), prefix="value.test.")
    run.table(codes, "example_reason_codes.csv")
    run.figure(fig_policies, "policies.png")
print(f"logged run {run.run_id} to {run.tracking_uri}")
