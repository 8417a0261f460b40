"""What ``segml run`` reports: where the run is tracked, its outputs, metrics and a summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunResult:
    """What ``segml run`` reports: where the run is tracked and where its outputs are."""

    run_id: str
    tracking_uri: str
    output_dir: str
    data_dir: str
    as_of: str
    status: str
    metrics: dict[str, float]
    stage_seconds: dict[str, float]
    warnings: list[str]
    model: dict[str, Any] | None = None
    step_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    stage_memory_mb: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``segml run --json`` prints)."""
        return asdict(self)

    def _tier_lines(self) -> list[str]:
        shares = {
            k.split(".")[-1]: v
            for k, v in self.metrics.items()
            if k.startswith("tiers.positive_value_share.")
        }
        if not shares:
            return []
        text = ", ".join(f"{t} {v:.0%}" for t, v in shares.items())
        gini = self.metrics.get("tiers.concentration.gini_positive", float("nan"))
        return [f"  tiers:     share of profit by tier: {text} (Gini {gini:.2f})"]

    def _model_lines(self) -> list[str]:
        m, lines = self.metrics, []
        spend = {
            k.split(".")[3]: v
            for k, v in m.items()
            if k.startswith("clv.holdout.spend.") and k.endswith(".spearman")
        }
        if spend:
            text = ", ".join(f"{k} {v:.2f}" for k, v in spend.items())
            lines.append(f"  clv:       holdout spend Spearman: {text}")
        if "value.test.spearman" in m:
            lines.append(
                f"  value:     next-year profit Spearman {m['value.test.spearman']:.3f} "
                f"(last year's profit {m.get('value.naive_profit_12m.spearman', float('nan')):.3f}),"
                f" tier agreement {m.get('value.test.tier_agreement', float('nan')):.1%}"
            )
        if "explain.explained" in m:
            lines.append(
                f"  explain:   {int(m['explain.explained']):,} customers, additivity error "
                f"{m.get('explain.value.additivity_max_error', float('nan')):.2g}, segment "
                f"surrogate fidelity {m.get('explain.segments.surrogate_fidelity', float('nan')):.1%}"
            )
        if "churn.test.roc_auc" in m:
            lines.append(
                f"  churn:     test ROC AUC {m['churn.test.roc_auc']:.3f} "
                f"(P(alive) baseline {m.get('churn.baseline_p_alive.roc_auc', float('nan')):.3f}),"
                f" PR AUC {m.get('churn.test.pr_auc', float('nan')):.3f}, "
                f"Brier {m.get('churn.test.brier', float('nan')):.4f}"
            )
        return lines

    def summary(self) -> str:
        """A short human summary."""
        m = self.metrics
        lines = [
            f"segml run {self.run_id} {self.status}",
            f"  data:      {self.data_dir}",
            f"  as of:     {self.as_of}",
            f"  customers: {int(m.get('rows.customers', 0)):,} "
            f"({int(m.get('customers.active_at_as_of', 0)):,} active at the as-of date), "
            f"transactions: {int(m.get('rows.transactions', 0)):,}",
            f"  validation: passed; {len(self.warnings)} warning(s) in the run",
            f"  features:  {int(m.get('features.rows', 0)):,} customers × "
            f"{int(m.get('features.columns', 0))} columns; labels: "
            f"{int(m.get('labels.rows', 0)):,} customers, churn rate "
            f"{m.get('labels.churn_rate', float('nan')):.1%}",
            *self._model_lines(),
            *self._tier_lines(),
            f"  outputs:   {self.output_dir}",
            f"  tracking:  {self.tracking_uri}  (make ui)",
        ]
        if self.model:
            lines.insert(
                -1, f"  model:     {self.model['model_uri']} (alias {self.model['alias']})"
            )
        lines += [f"  stage {k}: {v:.1f} s" for k, v in self.stage_seconds.items()]
        lines += [f"  warning: {w[:200]}" for w in self.warnings[:8]]
        return "\n".join(lines)
