"""What ``segml run`` reports: where the run is tracked, its outputs, metrics and a summary."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

#: Written in the summary for a metric the run could not compute (absent, NaN or infinite).
NA = "n/a"


def shorten(text: str, limit: int = 200) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with "…" when cut."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # else one long token (a path): cut inside it
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def fmt_metric(value: Any, spec: str, why: str | None = None) -> str:
    """``value`` formatted with ``spec``, or ``n/a`` (with ``why`` in brackets) when it is
    missing or not a finite number, so a summary never shows ``nan%``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"{NA} ({why})" if why else NA
    if not math.isfinite(float(value)):
        return f"{NA} ({why})" if why else NA
    return format(float(value), spec)


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
    #: per stage: ``end``, ``peak``, ``peak_so_far`` (MB) and ``steps`` (each step's peak)
    stage_memory_mb: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: What the tiers rank and why, and the check against observed behaviour
    #: (:func:`segml.tiers.check_value_measure`).
    value_measure: dict[str, Any] | None = None

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
        text = ", ".join(f"{t} {fmt_metric(v, '.0%')}" for t, v in shares.items())
        gini = fmt_metric(self.metrics.get("tiers.concentration.gini_positive"), ".2f")
        noun = (self.value_measure or {}).get("noun", "value")
        return [f"  tiers:     share of {noun} by tier: {text} (Gini {gini})"]

    def _measure_lines(self) -> list[str]:
        vm = self.value_measure
        if not vm:
            return []
        lines = [
            f"  measure:   {vm['measure']}: {vm['description']}",
            f"             why: {vm['reason']}",
        ]
        check = vm.get("check") or {}
        figures = ", ".join(
            f"{fmt_metric(r.get('spearman'), '.2f')} with {r['what']}"
            for r in (check.get("observed") or {}).values()
        )
        if check.get("passed"):
            lines.append(f"  check:     passed; Spearman {figures}")
        elif check.get("passed") is False:
            problems = "; ".join(check.get("problems") or [])
            lines.append(
                f"  check:     FAILED, tiered anyway (tiers.value_check: warn): {problems}"
            )
        else:
            lines.append(f"  check:     skipped ({check.get('skipped', 'not run')})")
        return lines

    def _model_lines(self) -> list[str]:
        m, lines = self.metrics, []
        spend = {
            k.split(".")[3]: v
            for k, v in m.items()
            if k.startswith("clv.holdout.spend.") and k.endswith(".spearman")
        }
        scoring = "no test labels after the as-of date (a scoring run)"
        if spend:
            text = ", ".join(f"{k} {fmt_metric(v, '.2f')}" for k, v in spend.items())
            lines.append(f"  clv:       holdout spend Spearman: {text}")
        elif "clv.customers" in m:
            lines.append(f"  clv:       fitted on {int(m['clv.customers']):,} customers; {scoring}")
        if "value.test.spearman" not in m and "value.validation.spearman" in m:
            lines.append(
                "  value:     validation Spearman "
                f"{fmt_metric(m['value.validation.spearman'], '.3f')}, tier agreement "
                f"{fmt_metric(m.get('value.validation.tier_agreement'), '.1%')}; {scoring}"
            )
        if "value.test.spearman" in m:
            rho = fmt_metric(m["value.test.spearman"], ".3f")
            naive = fmt_metric(m.get("value.naive_profit_12m.spearman"), ".3f")
            noun = "purchase margin" if (self.value_measure or {}).get("economics") == "purchase_log" else "profit"  # fmt: skip
            lines.append(
                f"  value:     next-year {noun} Spearman {rho}"
                f" (last year's {noun} {naive}),"
                f" tier agreement {fmt_metric(m.get('value.test.tier_agreement'), '.1%')}"
            )
        if "explain.explained" in m:
            fid = m.get("explain.segments.surrogate_fidelity")
            why = "no segments in the run" if fid is None else "too few customers to hold out"
            lines.append(
                f"  explain:   {int(m['explain.explained']):,} customers, additivity error "
                f"{fmt_metric(m.get('explain.value.additivity_max_error'), '.2g')}, segment "
                f"surrogate fidelity {fmt_metric(fid, '.1%', why)}"
            )
        if "churn.test.roc_auc" in m:
            lines.append(
                f"  churn:     test ROC AUC {fmt_metric(m['churn.test.roc_auc'], '.3f')} "
                f"(P(alive) baseline {fmt_metric(m.get('churn.baseline_p_alive.roc_auc'), '.3f')}),"
                f" PR AUC {fmt_metric(m.get('churn.test.pr_auc'), '.3f')}, "
                f"Brier {fmt_metric(m.get('churn.test.brier'), '.4f')}"
            )
        elif "churn.validation.roc_auc" in m:
            how = "out of time" if m.get("churn.split.out_of_time", 1.0) else "a customer split"
            months = m.get("churn.horizon_months")
            lines.append(
                f"  churn:     validation ROC AUC {fmt_metric(m['churn.validation.roc_auc'], '.3f')}"
                f" ({how}{'' if months is None else f', {int(months)}-month horizon'}); {scoring}"
            )
        return lines

    def _label_text(self) -> str:
        m = self.metrics
        if "labels.rows" not in m:  # the labels stage was skipped: its warning says why
            why = next((w for w in self.warnings if w.startswith("no labels: ")), "")
            why = why.removeprefix("no labels: ")
            return f"{NA} ({shorten(why) or 'not computed'})"
        rows = fmt_metric(m["labels.rows"], ",.0f")
        why = "no labelled customers" if rows in ("0", NA) else None
        rate = fmt_metric(m.get("labels.churn_rate") if why is None else None, ".1%", why)
        return f"{rows} customers, churn rate {rate}"

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
            f"{int(m.get('features.columns', 0))} columns; labels: {self._label_text()}",
            *self._model_lines(),
            *self._measure_lines(),
            *self._tier_lines(),
            f"  outputs:   {self.output_dir}",
            f"  tracking:  {self.tracking_uri}  (make ui)",
        ]
        if self.model:
            lines.insert(
                -1, f"  model:     {self.model['model_uri']} (alias {self.model['alias']})"
            )
        lines += [f"  stage {k}: {v:.1f} s" for k, v in self.stage_seconds.items()]
        lines += [f"  warning: {shorten(w, 320)}" for w in self.warnings[:8]]
        if len(self.warnings) > 8:
            lines.append(f"  … and {len(self.warnings) - 8} more warning(s) in run.json")
        return "\n".join(lines)
