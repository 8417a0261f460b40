"""Section 4 of the pack: validation of the value score, CLV and churn models on held-out data."""

from __future__ import annotations

from typing import Any

from segml.report.absent import not_available, run_warning
from segml.report.context import ReportContext
from segml.report.figures import embed_png, gains_chart
from segml.report.fmt import money, num, pct, signed
from segml.report.html import Section, esc, figure, figures, note, table
from segml.report.value import value_measure
from segml.stability import UNSTABLE, unstable

__all__ = ["validation_section"]

CHURN_SETS = {
    "test": "test snapshot",
    "validation": "validation snapshot",
    "train": "training snapshot",
    "baseline_p_alive": "baseline: 1 − P(alive)",
}


def _value_reading(ctx: ReportContext, sec: Section, vm: dict[str, Any]) -> None:
    """What the value score was trained on and how it ranks held-out customers: on the test
    (the year after the as-of date) or, when the data end at the as-of date, on validation."""
    test, naive = vm.get("test") or {}, vm.get("naive_profit_12m") or {}
    trained = (
        f"Value score: trained on features at {vm.get('train_as_of')} against the next year's "
        "profit"
    )
    if test:
        sec.reading.append(
            f"{trained} and tested on the {num(test.get('n'))} customers active at "
            f"{vm.get('predict_as_of')} against their actual profit afterwards. It ranks them "
            f"with Spearman {num(test.get('spearman'))} (last year's profit: "
            f"{num(naive.get('spearman'))}) and puts {pct(test.get('tier_agreement'), 1)} in the "
            f"tier their actual profit gives (last year's profit: "
            f"{pct(naive.get('tier_agreement'), 1)})."
        )
    else:
        why = run_warning(ctx.run, "no labels: ") or "the run has no profit after the as-of date"
        test = vm.get("validation") or {}
        naive = vm.get("validation_naive_profit_12m") or {}
        sec.reading.append(
            f"{trained}. Not tested: {why}. On a held-out validation share of the training "
            f"customers it ranks them with Spearman {num(test.get('spearman'))} (last year's "
            f"profit: {num(naive.get('spearman'))}) and puts "
            f"{pct(test.get('tier_agreement'), 1)} in the tier their actual profit gives (last "
            f"year's profit: {pct(naive.get('tier_agreement'), 1)})."
        )
    if (test.get("spearman") or 0) < (naive.get("spearman") or 0):
        sec.attention("the value score ranks next year's profit worse than last year's profit")


def _value(ctx: ReportContext, sec: Section) -> None:
    vm = ctx.run.json("value_metrics")
    measure = (ctx.run.run.get("value_measure") or {}).get("measure") or "value_score"
    ranks = "the score the tiers rank" if measure == "value_score" else f"the tiers rank {measure}"
    sec.blocks.append(f"<h3>Value score ({esc(ranks)})</h3>")
    if not vm:
        sec.blocks.append(note(not_available(ctx.run, "value")))
        return
    _value_reading(ctx, sec, vm)
    test, naive = vm.get("test") or {}, vm.get("naive_profit_12m") or {}
    # the validation baseline is a comparison of the model with it: its size and the
    # baseline's own metrics are inside it
    compared = vm.get("validation_naive_profit_12m") or {}
    n_val = {"n": compared["n"]} if "n" in compared else {}
    val_naive = (compared.get("naive") or {}).get("naive_profit_12m") or {}
    rows = [
        {"set": "test: value score", **test},
        {"set": "test: last year's profit (baseline)", **naive},
        {"set": "validation: value score", **n_val, **(vm.get("validation") or {})},
        {"set": "validation: last year's profit", **(n_val if val_naive else {}), **val_naive},
    ]
    rows = [r for r in rows if len(r) > 1]  # a set the run did not evaluate is left out
    sec.blocks.append(
        table(
            rows,
            [
                ("set", "model and data"),
                ("n", "customers"),
                ("spearman", "Spearman"),
                ("mae", "MAE (CNY)"),
                ("rmse", "RMSE (CNY)"),
                ("tier_agreement", "tier agreement"),
            ],
            fmt={"mae": money, "rmse": money, "tier_agreement": lambda v: pct(v, 1)},
        )
    )
    sec.blocks.append(
        note(
            f"xgboost depth {num(vm.get('max_depth'))}, trees: {num(vm.get('trees'))}; chosen on "
            "validation as the cheapest to explain within tolerance (value_selection.json)."
        )
    )


#: display names of the CLV stage's models
CLV_MODELS = {
    "probabilistic": "BG/NBD + Gamma-Gamma",
    "hurdle": "xgboost hurdle",
    "tweedie": "xgboost Tweedie",
    "naive_last_year": "last year's spend (baseline)",
    "naive_calibration_rate": "naive: calibration rate × holdout",
    "naive_last_window": "naive: last window",
    "absoluteerror": "xgboost, absolute error",
    "squarederror": "xgboost, squared error",
    "naive_profit_12m": "last year's profit (baseline)",
}


#: metrics whose verdict against the naive baselines makes a point for review
VERDICT_NAMES = {"spearman": "Spearman", "mae": "MAE"}

#: A model's holdout predictions are unusable beyond these: a total more than 100 % off the
#: actual one, an MAE ten times the best naive forecast's, deciles more than 100 % off.
UNUSABLE = {"aggregate_error": 1.0, "mae_vs_naive": 10.0, "decile_mape": 1.0}
#: The column of the CLV table each model's predictions fill (the others are only scored).
CLV_COLUMNS = {"probabilistic": "expected_value", "tweedie": "supervised_value",
               "absoluteerror": "clv_profit_pred"}  # fmt: skip


def _unusable_reasons(row: dict[str, Any], naive_mae: float | None) -> list[str]:
    """Why a model's holdout predictions are unusable (:data:`UNUSABLE`); empty if they are not."""
    out = []
    agg, mae, mape = row.get("aggregate_error"), row.get("mae"), row.get("decile_mape")
    if agg is not None and abs(agg) > UNUSABLE["aggregate_error"]:
        out.append(
            f"it predicts a total of {money(row.get('predicted_total'))} against "
            f"{money(row.get('actual_total'))} actual ({pct(agg, 0)})"
        )
    if mae is not None and naive_mae and mae > UNUSABLE["mae_vs_naive"] * naive_mae:
        out.append(f"its MAE is {num(mae)} against {num(naive_mae)} for the best naive forecast")
    if mape is not None and mape > UNUSABLE["decile_mape"]:
        out.append(f"its deciles are {pct(mape, 0)} off the actual means")
    return out


def _unstable(ctx: ReportContext, sec: Section) -> None:
    """A point for review for each model whose predictions depend on the seed (beyond
    :data:`segml.stability.UNSTABLE`): the supervised CLV models, the churn model and the value
    model, each refitted with the next seed by its stage."""
    m, p = ctx.run.metrics, "clv.stability."
    keys = sorted({tuple(k[len(p) :].split(".")[:2]) for k in m if k.startswith(p)})
    models = [(f"{p}{t}.{o}.", f"CLV: the {CLV_MODELS.get(o, o)} {t.removeprefix('holdout_')} model", "predicted total")  # fmt: skip
              for t, o in keys]  # fmt: skip
    models += [("churn.stability.", "Churn: the churn model", "expected number of churners"),
               ("value.stability.", "Value: the value score model", "total value score")]  # fmt: skip
    for prefix, name, total in models:
        change, rho = m.get(f"{prefix}total_change"), m.get(f"{prefix}spearman")
        if not unstable(change, rho):
            continue
        agree = m.get(f"{prefix}tier_agreement")
        tiers = "" if agree is None else f"; {pct(agree, 1)} of customers keep their tier"
        sec.attention(
            f"{name} is unstable across seeds: refitted with the next seed, its {total} moves "
            f"by {pct(change, 1)} and the two rankings correlate at {num(rho, 2)}{tiers} "
            f"(limits: {pct(UNSTABLE['total_change'])}, {UNSTABLE['spearman']:g})"
        )


def _unusable(ctx: ReportContext, sec: Section, rows: list[dict[str, Any]]) -> None:
    """The first points for review: each model whose holdout predictions are absurd, saying
    whether they feed a column of the CLV table and whether the tiers rank that column."""
    ranked = str(value_measure(ctx).get("measure") or "")
    for target in ("spend", "profit"):
        mine = [r for r in rows if r["target"] == target]
        naive = [r["mae"] for r in mine if r["key"].startswith("naive") and r.get("mae")]
        for row in mine:
            why = [] if row["key"].startswith("naive") else _unusable_reasons(row, min(naive, default=None))  # fmt: skip
            if not why:
                continue
            col = CLV_COLUMNS.get(row["key"])
            use = (
                f"its predictions are the CLV table's {col!r}"
                + (
                    ", which the tiers rank: do not use this run's tiers"
                    if col == ranked
                    else "; the tiers do not rank them"
                )  # fmt: skip
                if col
                else "its predictions are only scored, they feed no score or tier"
            )
            sec.attention(
                f"CLV: the {row['model']} {target} model is unusable on the holdout: "
                f"{'; '.join(why)}. {use[:1].upper() + use[1:]} (figure: value by decile)",
                first=True,
            )


def _clv_rows(m: dict[str, float], purchase_model: str = "BG/NBD") -> list[dict[str, Any]]:
    """Table rows of the CLV holdout metrics: spend and profit per model, purchase days of the
    purchase model (``clv.holdout.purchases.<metric>``) and of each naive baseline
    (``clv.holdout.purchases.<baseline>.<metric>``)."""
    rows = []
    for target in ("spend", "profit"):
        models = sorted({k.split(".")[3] for k in m if k.startswith(f"clv.holdout.{target}.")})
        for model in models:
            p = f"clv.holdout.{target}.{model}."
            rows.append(
                {
                    "target": target,
                    "key": model,
                    "model": CLV_MODELS.get(model, model),
                    **{k.removeprefix(p): v for k, v in m.items() if k.startswith(p)},
                }
            )
    p = "clv.holdout.purchases."
    parts = [(k.removeprefix(p).split("."), v) for k, v in m.items() if k.startswith(p)]
    own = {k[0]: v for k, v in parts if len(k) == 1}
    if own:
        rows.append({"target": "purchases", "key": "purchase_model", "model": purchase_model, **own})  # fmt: skip
    for base in sorted({k[0] for k, _ in parts if len(k) == 2}):
        rows.append(
            {
                "target": "purchases",
                "key": base,
                "model": CLV_MODELS.get(base, base),
                **{k[1]: v for k, v in parts if len(k) == 2 and k[0] == base},
            }
        )
    return rows


def _verdicts(ctx: ReportContext, sec: Section) -> bool:
    """Each model's verdict against the best naive baseline (``clv_evaluation.json``) as a
    reading; a point for review for each model that does not beat it on Spearman or on MAE.
    False when the run has no verdicts (runs before they were computed)."""
    holdout = (ctx.run.json("clv_evaluation") or {}).get("holdout") or {}
    verdicts = holdout.get("verdicts") or {}
    for v in verdicts.values():
        sec.reading.append(v["verdict"])
        metrics = v.get("metrics") or {}
        lost = [m for m in VERDICT_NAMES if (metrics.get(m) or {}).get("beats") is False]
        if lost:
            said = [
                f"{VERDICT_NAMES[m]} {num(metrics[m]['model'])} vs "
                f"{num(metrics[m]['best_naive'])} "
                f"({CLV_MODELS.get(metrics[m]['baseline'], metrics[m]['baseline'])})"
                for m in lost
            ]
            sec.attention(
                f"CLV: {v['model']} does not beat the best naive baseline on "
                f"{'purchase' if v['target'] == 'purchases' else v['target']} "
                f"{' and '.join(VERDICT_NAMES[m] for m in lost)}: {'; '.join(said)}"
            )
    return bool(verdicts)


def _clv(ctx: ReportContext, sec: Section) -> None:
    run, m = ctx.run, ctx.run.metrics
    sec.blocks.append("<h3>Customer lifetime value</h3>")
    config = run.json("clv_config") or {}
    model_names = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD", "mbgnbd": "MBG/NBD"}
    rows = _clv_rows(m, model_names.get(config.get("model"), "BG/NBD"))
    _unstable(ctx, sec)  # needs no holdout: two fits' predictions at the as-of date
    if not rows:
        no_labels = run_warning(run, "no labels: ")
        if no_labels and (run.config.get("clv") or {}).get("enabled") is not False:
            sec.blocks.append(note(f"Not available: no holdout window: {no_labels}."))
        else:
            sec.blocks.append(note(not_available(run, "clv")))
        return
    _unusable(ctx, sec, rows)
    window = config.get("window") or ["?", "?"]
    spend = [r for r in rows if r["target"] == "spend" and r.get("spearman") is not None]
    naives = [r for r in spend if r["key"].startswith("naive")]
    naive = max(naives, key=lambda r: r["spearman"]) if naives else None
    models = [r for r in spend if not r["key"].startswith("naive")]
    if models:
        best = max(models, key=lambda r: r["spearman"])
        prob = next((r for r in models if r["key"] == "probabilistic"), None)
        text = (
            f"CLV holdout ({window[0]} to {window[1]}): for next-year spend, the {best['model']} "
            f"model ranks customers best, Spearman {num(best['spearman'], 2)}"
        )
        if naive:
            name = naive["model"].removeprefix("naive: ")
            text += f" (best naive, {name}: {num(naive['spearman'], 2)})"
        if prob:
            text += (
                f"; the probabilistic model (BG/NBD + Gamma-Gamma) predicts total spend with an "
                f"error of {pct(prob.get('aggregate_error'), 1)}"
            )
        sec.reading.append(text + ".")
        has_verdicts = _verdicts(ctx, sec)
        if not has_verdicts and naive and best["spearman"] < naive["spearman"]:
            sec.attention("no CLV model ranks next-year spend better than the naive baseline")
    sec.blocks.append(
        table(
            rows,
            [
                ("target", "target"),
                ("model", "model"),
                ("n", "customers"),
                ("spearman", "Spearman"),
                ("gini_normalised", "normalised Gini"),
                ("decile_mape", "decile MAPE"),
                ("aggregate_error", "total error"),
                ("mae", "MAE"),
                ("rmse", "RMSE"),
            ],
            fmt={"decile_mape": pct, "aggregate_error": lambda v: pct(v, 1)},
            caption="Holdout: predictions at the as-of date against the next 12 months",
        )
    )
    sec.blocks.append(
        figures(
            figure(
                embed_png(run.figure("clv/calibration_holdout.png")),
                "CLV: predicted against actual purchases in the holdout",
            ),
            figure(
                embed_png(run.figure("clv/value_deciles.png")),
                "CLV: predicted and actual value by decile",
            ),
        )
    )


def _gains(ctx: ReportContext) -> str | None:
    scores, labels = ctx.run.table("churn_scores"), ctx.run.table("labels")
    if scores is None or labels is None or "churned" not in labels:
        return None
    df = scores.merge(labels[["customer_id", "churned"]], on="customer_id")
    if df.empty or df["churned"].sum() == 0:
        return None
    curves = {"churn model": df["churn_probability"].to_numpy()}
    if "p_alive" in df:
        base = 1 - df["p_alive"].fillna(df["p_alive"].median())
        curves["baseline: 1 − P(alive)"] = base.to_numpy()
    return gains_chart(df["churned"].to_numpy(), curves)


def _churn_reading(ctx: ReportContext, sec: Section, cm: dict[str, Any]) -> None:
    """Churn on the test snapshot or, without test labels (data that end at the as-of date), on
    the validation snapshot, against the P(alive) baseline; and the fall from training."""
    mets, split, cal = cm.get("metrics") or {}, cm.get("split") or {}, cm.get("calibration") or {}
    key = "test" if mets.get("test") else "validation"
    ev, base, train = (
        mets.get(key) or {},
        mets.get("baseline_p_alive") or {},
        mets.get("train") or {},
    )
    lead = f"Churn (definition: {cm.get('definition')}): "
    if key != "test":
        why = run_warning(ctx.run, "no labels: ") or "the run has no labels after the as-of date"
        lead += f"not tested ({why}); "
    sec.reading.append(
        f"{lead}on the {CHURN_SETS[key]} {split.get(f'{key}_as_of', '')} "
        f"({num(ev.get('n'))} customers, {pct(ev.get('positive_rate'), 1)} churned), ROC AUC "
        f"{num(ev.get('roc_auc'))} against {num(base.get('roc_auc'))} for the P(alive) "
        f"baseline; the 10% riskiest customers hold {pct(ev.get('capture_top10'))} of churners "
        f"(lift {num(ev.get('lift_top10'), 1)})."
    )
    sec.reading.append(
        f"Calibration ({cal.get('method', '?')}): mean predicted probability "
        f"{pct(ev.get('mean_prediction'), 1)} against {pct(ev.get('positive_rate'), 1)} "
        f"observed; expected calibration error {num(ev.get('ece'))}, Brier score "
        f"{num(ev.get('brier'))} (baseline {num(base.get('brier'))})."
    )
    auc, base_auc, train_auc = ev.get("roc_auc"), base.get("roc_auc"), train.get("roc_auc")
    if auc is not None and base_auc is not None and auc <= base_auc:
        sec.attention(
            f"the churn model does not beat the P(alive) baseline on the {CHURN_SETS[key]}"
        )
    if auc is not None and train_auc is not None and train_auc - auc > 0.1:
        sec.attention(
            f"churn ROC AUC falls from {num(train_auc)} on the training snapshot to {num(auc)} "
            f"on the {CHURN_SETS[key]} ({signed(auc - train_auc)})"
        )


def _churn(ctx: ReportContext, sec: Section) -> None:
    run = ctx.run
    cm = run.json("churn_metrics")
    sec.blocks.append("<h3>Churn</h3>")
    if not cm:
        sec.blocks.append(note(not_available(run, "churn")))
        return
    _churn_reading(ctx, sec, cm)
    mets, split = cm.get("metrics") or {}, cm.get("split") or {}
    rows = [{"set": label, **(mets.get(k) or {})} for k, label in CHURN_SETS.items() if mets.get(k)]
    sec.blocks.append(
        table(
            rows,
            [
                ("set", "data"),
                ("n", "customers"),
                ("positive_rate", "churn rate"),
                ("roc_auc", "ROC AUC"),
                ("pr_auc", "PR AUC"),
                ("brier", "Brier"),
                ("ece", "calibration error"),
                ("lift_top10", "lift, top 10%"),
                ("capture_top10", "churners in top 10%"),
            ],
            fmt={"positive_rate": lambda v: pct(v, 1), "capture_top10": pct},
        )
    )
    sec.blocks.append(note(split.get("note", "")))
    gains = _gains(ctx)
    sec.blocks.append(
        figures(
            figure(
                embed_png(run.figure("churn/churn_calibration.png")),
                f"Churn: calibration on the {'test' if mets.get('test') else 'validation'} snapshot",
            ),
            figure(
                gains,
                "Churn: share of churners found by contacting the riskiest customers first",
            )
            if gains
            else "",
        )
    )
    if gains is None:
        why = (
            run_warning(run, "no labels: ") or "no customer of the run churned after the as-of date"
        )
        sec.blocks.append(note(f"Not available: the churn gains chart — {why}."))


def validation_section(ctx: ReportContext) -> Section:
    """Held-out metrics, calibration, lift and baselines of the value, CLV and churn models."""
    sec = Section("validation", "Model validation: value score, CLV and churn")
    _value(ctx, sec)
    _clv(ctx, sec)
    _churn(ctx, sec)
    return sec
