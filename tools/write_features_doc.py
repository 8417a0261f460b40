"""Write docs/features.md from segml.features.catalogue (the catalogue is the doc).

Run `python tools/write_features_doc.py` after changing a feature; tests fail while they differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from segml.features.catalogue import CATALOGUE, FEATURES_VERSION

ROOT = Path(__file__).resolve().parents[1]

INTRO = f"""\
# Customer features

`segml features --data DIR --as-of DATE --out FILE.parquet` (or
`segml.features.build_features(bank, as_of)`) builds one row per customer whose relationship
began on or before the as-of date *t*, keyed by `customer_id`. Feature version
{FEATURES_VERSION}.

## Point in time

A feature at *t* uses only what the bank knew at *t*:

* transactions and interactions dated before the midnight after *t*;
* balances of months complete by *t* (`month` < first day of the month after *t*'s last
  complete month);
* accounts and products open at *t* (`open_date` ≤ *t* and not closed by *t*);
* complaints count as resolved only if `resolved_at` is before the midnight after *t* (an extract
  without `resolved_at` falls back to its `resolved` flag, which reflects the extraction date —
  supply `resolved_at` to avoid that leak);
* corporate statements whose `report_date` is ≤ *t* (fiscal year end + 120 days when the
  statement has no report date).

Appending later records to the data never changes a feature at *t* (tested). Labels and holdout
targets come from `segml.features.labels.build_labels`, from the window after *t* only.

## Engine

One definition, written as SQL in the portable subset of DuckDB's dialect
(`src/segml/features/families.py`): DuckDB runs it out of core over the Parquet files, and
`segml.features.spark` runs the same query, transpiled by sqlglot, on Spark — a test checks the
two give identical tables. See [architecture.md](architecture.md). Every amount of money in
the features and labels is summed exactly: amounts from the data as `DECIMAL(38, 6)` (to the
millionth of a unit, `features.spec.exact_sum`), computed ones (a balance times a rate) as
rounded millionths (`computed_sum`, which DuckDB and Spark round alike); the gaps' standard
deviation comes from integer sums. So two builds of the same data are identical to the bit
however many threads aggregate them (tested; summed as doubles, 11 columns moved in the last
bits between builds on 4 threads, and the window amounts, fees and NII on the 100k bank).

Money is in the reporting currency (CNY in the synthetic bank). Windows are the defaults
(30/90/365 days); `FeatureConfig.windows` changes them.

Profit (family *profitability*, and the next-year profit labels) follows the bank's unit
economics, `segml.economics.BankEconomics`: product spreads, LGD and PDs, channel, account and
service costs. The defaults are the synthetic bank's; set the bank's own in the run config,
whose maps update the defaults entry by entry (unknown products, channels or kinds and
out-of-range values are errors that name the key):

```yaml
features:
  economics:
    spread: {{mortgage: 0.012, credit_card: 0.07}}   # annual margin on the average balance
    lgd: {{consumer_loan: 0.55}}                     # loss given default, 0-1
    account_cost_retail: 3.5                       # per open account per month
    channel_cost: {{branch: 11.0}}                   # per transaction
```

**A purchase log is valued by its purchases.** A shop's order log (CDNOW, Online Retail, any
log converted with `transaction_log_to_bank`) holds no balances and no product income: under
the bank's economics every customer would only cost channel fees, so the most active buyers
would look the least profitable. `economics.kind` says which economics apply: `auto` (the
default) follows the data — the `dataset.json` that `segml convert` writes beside the tables
(`{{"kind": "purchase_log"}}` or `{{"kind": "bank"}}`), or, without one, the data themselves (no
positive balance and no `fee` or `interest` transaction: a purchase log); `bank` or
`purchase_log` force one. For a purchase log the bank's lines (`nii_12m`, `fee_income_12m`,
`ecl_12m`, the costs) are 0 and `purchase_margin_12m` = `purchase_margin` × the customer's
purchases (customer-initiated debits) of the last 12 complete months; `profit_12m` and the
next-year profit labels (`holdout_profit`) are that margin, so the value model, its
explanations and the exported model work unchanged. `purchase_margin` (default 0.3) is the
retailer's gross margin on sales: 0.3 is typical of a non-food retailer (gift and music
retail run at 25–50%); set the shop's own. Tiers rank customers, and a margin that is the same
for everyone does not change the ranking, so it changes the money figures, not the tiers.

```yaml
features:
  economics:
    kind: auto               # auto | bank | purchase_log
    purchase_margin: 0.35    # a purchase log's gross margin on sales, 0-1
```

Demographic columns are kept apart (family *demographic*) so that fairness checks can exclude
or audit them.
"""


def render() -> str:
    """The whole document."""
    out = [INTRO]
    families: dict[str, list] = {}
    for f in CATALOGUE.values():
        families.setdefault(f.family, []).append(f)
    for fam, docs in families.items():
        out.append(f"## {fam}\n")
        out.append("| feature | unit | display name | definition |\n|---|---|---|---|")
        out += [f"| `{f.name}` | {f.unit} | {f.display} | {f.definition} |" for f in docs]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    path = ROOT / "docs" / "features.md"
    path.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {path}\n")
