"""Value tiers (客户分级): policies, overrides, playbooks, concentration and migration.

A frozen, versioned :class:`TierPolicy` maps a value score to tiers — the rank pyramid
(:data:`DEFAULT_POLICY`, used by the synthetic bank's ground truth), ABC by cumulative value
share (:data:`ABC_POLICY`) or the customer pyramid with a ``lead`` tier for loss-makers
(:data:`CUSTOMER_PYRAMID`). :func:`assign_tiers` applies it to a feature table with
:class:`TierRule` overrides and each tier's :class:`Playbook`; :func:`tier_table`,
:func:`concentration` and :func:`tier_migration` describe the result;
:func:`choose_value_measure` and :func:`check_value_measure` choose the value to rank and check
it against observed behaviour; :func:`calibrate_retention` sizes each playbook's retention capacity
by expected loss and :func:`retention_flags` applies it. See docs/tiers.md.
"""

from segml.tiers.assign import SERVICE_COLUMNS, assign_tiers, tier_table
from segml.tiers.concentration import Concentration, concentration, gini, lorenz_curve, top_share
from segml.tiers.measure import (
    ValueMeasure,
    ValueMeasureError,
    check_value_measure,
    choose_value_measure,
)
from segml.tiers.migration import TierMigration, psi, psi_label, tier_migration
from segml.tiers.playbooks import (
    DEFAULT_PLAYBOOKS,
    PLAYBOOK_COLUMNS,
    Playbook,
    playbooks_from_json,
    playbooks_to_json,
)
from segml.tiers.plot import plot_lorenz
from segml.tiers.policy import (
    ABC_POLICY,
    BUILTIN_POLICIES,
    CUSTOMER_PYRAMID,
    DEFAULT_POLICY,
    TierPolicy,
    abc_policy,
    customer_pyramid_policy,
    pyramid_policy,
)
from segml.tiers.retention import (
    calibrate_retention,
    expected_loss,
    retention_flags,
    retention_summary,
    retention_table,
)
from segml.tiers.rules import (
    OPERATORS,
    Condition,
    TierRule,
    apply_rules,
    rules_from_json,
    rules_to_json,
)
from segml.tiers.value import blend_value, rank_normalise

__all__ = [
    "ABC_POLICY",
    "BUILTIN_POLICIES",
    "CUSTOMER_PYRAMID",
    "DEFAULT_PLAYBOOKS",
    "DEFAULT_POLICY",
    "OPERATORS",
    "PLAYBOOK_COLUMNS",
    "SERVICE_COLUMNS",
    "Concentration",
    "Condition",
    "Playbook",
    "TierMigration",
    "TierPolicy",
    "TierRule",
    "ValueMeasure",
    "ValueMeasureError",
    "abc_policy",
    "apply_rules",
    "assign_tiers",
    "blend_value",
    "calibrate_retention",
    "check_value_measure",
    "choose_value_measure",
    "concentration",
    "customer_pyramid_policy",
    "expected_loss",
    "gini",
    "lorenz_curve",
    "playbooks_from_json",
    "playbooks_to_json",
    "plot_lorenz",
    "psi",
    "psi_label",
    "pyramid_policy",
    "rank_normalise",
    "retention_flags",
    "retention_summary",
    "retention_table",
    "rules_from_json",
    "rules_to_json",
    "tier_migration",
    "tier_table",
    "top_share",
]
