"""Writes the demo's data files (all committed, all written for this project, no third-party text):

- `demo/data/demo_train.csv`: labelled headlines and posts that fine-tune the demo model on a
  fresh machine. Built from hand-written templates with fictional companies.
- `demo/data/demo_train_events.csv`: the event type of each of those texts (the template's), plus
  event-only texts from further templates, for the demo model's event-type head.
- `demo/data/sample_feed.jsonl`: the embedded mode's feed: four simulated hours of news and posts
  on ten real tickers, from a *different* set of hand-written templates, with one negative burst
  (Boeing, 60 items in 20 minutes, 2 h 30 min in) and a few malformed records for the dead-letter path.

Run `python -m finsent.demo.make_data` to regenerate them (deterministic: fixed seed).
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

FICTIONAL = [
    ("Norvale Systems", "NRVL"),
    ("Quenton Bank", "QNTB"),
    ("Harlow Energy", "HRLW"),
    ("Bexley Pharma", "BXLY"),
    ("Carrow Motors", "CRRW"),
    ("Dunmore Foods", "DNMR"),
    ("Eastlake Semiconductors", "ESMC"),
    ("Fairhaven Airlines", "FHAV"),
    ("Glenrock Mining", "GLRK"),
    ("Ivers Retail", "IVRS"),
    ("Kestrel Software", "KSTL"),
    ("Lumen Ridge Insurance", "LMRG"),
]

TRAIN_TEMPLATES = {
    "negative": [
        "{c} shares plunge {p}% after profit warning",
        "{c} cuts full-year guidance as demand weakens",
        "{c} reports quarterly loss, misses analyst estimates",
        "{c} to lay off {n} workers amid falling sales",
        "Regulators open fraud probe into {c}",
        "{c} recalls {n} vehicles over safety defect",
        "{c} operating profit fell {p}% year on year",
        "{c} suspends dividend after weak results",
        "Credit agency downgrades {c} to junk",
        "{c} warns of liquidity shortfall, shares tumble",
        "${t} getting crushed today, down {p}% on the miss",
        "Selling my ${t}, guidance was a disaster",
        "{c} net sales decreased by {p}% in the third quarter",
        "{c} faces class action over misleading statements",
        "{c} CEO resigns amid accounting scandal",
        "Pretax loss widened to EUR {n} million at {c}",
        "{c} misses revenue forecast for a third straight quarter",
        "{c} hit by cyberattack, operations halted",
        "Analysts slash price target on {c} after dismal outlook",
        "{c} files for bankruptcy protection",
        "${t} breaking down, bears in control",
        "{c} order intake dropped sharply in the period",
    ],
    "neutral": [
        "{c} to announce quarterly results on Thursday",
        "{c} appoints new chief financial officer",
        "{c} will hold its annual general meeting in {m}",
        "{c} completes previously announced share buyback",
        "{c} opens new office in Frankfurt",
        "{c} publishes its sustainability report",
        "{c} board proposes unchanged dividend",
        "{c} shares were flat in early trading",
        "{c} announces date of capital markets day",
        "{c} signs lease for headquarters building",
        "Watching ${t} into earnings next week",
        "${t} trading sideways, waiting for the Fed",
        "{c} is headquartered in Helsinki and employs {n} people",
        "{c} changes its auditor",
        "The company said {c} will report in euros from next year",
        "{c} to present at investor conference in {m}",
        "{c} rebrands its consumer unit",
        "{c} said the transaction is expected to close in {m}",
        "Trading volume in ${t} was in line with its average",
        "{c} names {n} managers to its extended leadership team",
    ],
    "positive": [
        "{c} shares jump {p}% on record quarterly profit",
        "{c} raises full-year outlook after strong demand",
        "{c} beats estimates, revenue up {p}%",
        "{c} wins {n} million contract from government",
        "{c} operating profit rose {p}% to EUR {n} million",
        "{c} increases dividend by {p}%",
        "Analysts upgrade {c} to buy",
        "{c} net sales increased by {p}% year on year",
        "{c} secures major order worth EUR {n} million",
        "${t} ripping higher, great quarter",
        "Loading up on ${t}, guidance looks excellent",
        "{c} posts strongest growth in a decade",
        "{c} expands margins for the fifth straight quarter",
        "{c} receives regulatory approval for new drug",
        "{c} order book grew {p}% in the period",
        "{c} announces buyback after bumper results",
        "Strong cash flow lets {c} cut debt ahead of schedule",
        "${t} breaking out to all time highs",
        "{c} lands partnership with leading automaker",
        "{c} profit doubles as costs fall",
    ],
}

# The event type (contracts/event_type.py) of each training template, in TRAIN_TEMPLATES order. As in
# the twitter topic set: results and guidance are "Financials", a results date is "Earnings".
TRAIN_EVENT_TYPES = {
    "negative": [
        "Stock Movement", "Financials", "Financials", "Company | Product News", "Legal | Regulation",
        "Company | Product News", "Financials", "Dividend", "Analyst Update", "Treasuries | Corporate Debt",
        "Stock Commentary", "Stock Commentary", "Financials", "Legal | Regulation", "Personnel Change",
        "Financials", "Financials", "Company | Product News", "Analyst Update", "Treasuries | Corporate Debt",
        "Stock Commentary", "Financials",
    ],
    "neutral": [
        "Earnings", "Personnel Change", "Company | Product News", "Company | Product News",
        "Company | Product News", "Company | Product News", "Dividend", "Stock Movement",
        "Company | Product News", "Company | Product News", "Stock Commentary", "Stock Commentary",
        "Company | Product News", "Company | Product News", "Company | Product News",
        "Company | Product News", "Company | Product News", "M&A | Investments", "Stock Commentary",
        "Personnel Change",
    ],
    "positive": [
        "Stock Movement", "Financials", "Financials", "Company | Product News", "Financials", "Dividend",
        "Analyst Update", "Financials", "Company | Product News", "Stock Commentary", "Stock Commentary",
        "Financials", "Financials", "Legal | Regulation", "Financials", "Company | Product News",
        "Financials", "Stock Commentary", "M&A | Investments", "Financials",
    ],
}  # fmt: skip

# Event-only texts (no sentiment label): more of the types a risk desk triages by.
EVENT_TEMPLATES = {
    "Legal | Regulation": [
        "Regulators fine {c} EUR {n} million over reporting breaches",
        "{c} settles lawsuit with former distributors",
        "Court rules against {c} in patent dispute",
        "Antitrust authority reviews {c} pricing practices",
        "{c} receives subpoena from securities regulator",
        "Safety regulator opens inquiry into {c} products",
        "Authorities order inspections at {c} plants",
        "{c} under investigation for possible export violations",
    ],
    "Company | Product News": [
        "{c} launches new product line in {m}",
        "{c} halts production at two plants",
        "{c} recalls products over manufacturing flaw",
        "{c} delays deliveries of its new model",
        "Customers cancel orders with {c} after quality problems",
    ],
    "M&A | Investments": [
        "{c} agrees to acquire rival for EUR {n} million",
        "{c} takes {p}% stake in start-up",
        "{c} explores sale of its consumer unit",
    ],
    "Personnel Change": ["{c} names new chief executive", "{c} chairman to step down in {m}"],
    "Analyst Update": [
        "Broker raises price target on {c}",
        "Analysts cut {c} to neutral",
        "{c} rated overweight in new coverage",
        "Analysts downgrade {c} after the results",
    ],
    "Stock Movement": ["{c} shares rise {p}% in early trading", "{c} stock falls {p}% at the open"],
    "Fed | Central Banks": [
        "Central bank holds rates steady in {m}",
        "Fed officials signal patience on rates",
    ],
    "Macro": ["Inflation slows to {p}% in {m}", "Factory orders fall for a third month"],
    "Energy | Oil": ["Oil prices rise {p}% on supply worries", "Crude falls as inventories build"],
}

FEED_COMPANIES = [
    ("Apple", "AAPL", "technology"),
    ("Microsoft", "MSFT", "technology"),
    ("Nvidia", "NVDA", "semiconductors"),
    ("JPMorgan", "JPM", "banks"),
    ("Exxon Mobil", "XOM", "energy"),
    ("Pfizer", "PFE", "healthcare"),
    ("Tesla", "TSLA", "autos"),
    ("Amazon", "AMZN", "retail"),
    ("Boeing", "BA", "aerospace"),
    ("Coca-Cola", "KO", "consumer staples"),
]

FEED_TEMPLATES = {
    "negative": [
        "{c} stock slides {p}% as quarterly earnings disappoint",
        "{c} lowers its sales forecast by {p}%, citing weak orders",
        "Investigation launched into {c} over ${n} million reporting irregularities",
        "{c} posts unexpected loss of ${n} million in latest quarter",
        "${t} down {p}% after the guidance cut, dumping hard",
        "{c} announces {n} job cuts as profit falls",
    ],
    "neutral": [
        "{c} schedules earnings call, {p} analysts expected to dial in",
        "{c} names new head of investor relations after {p} years",
        "{c} shares unchanged at ${n} ahead of economic data",
        "${t} holding steady at ${n} this morning",
        "{c} to attend industry conference in {m}",
        "{c} files routine {n}-page quarterly report with regulator",
    ],
    "positive": [
        "{c} stock climbs {p}% after earnings beat",
        "{c} lifts annual profit outlook by {p}%",
        "{c} wins multi-year supply deal worth ${n} million",
        "${t} up {p}%, numbers were fantastic",
        "{c} revenue grows {p}% on strong demand",
        "{c} raises dividend {p}% and expands buyback",
    ],
}

BURST_TEMPLATES = [
    "{c} grounds fleet after {m} incident, shares fall {p}%",
    "Regulator orders emergency inspections of {c} jets",
    "{c} faces mounting safety questions after new defect report",
    "${t} collapsing, this safety news is terrible",
    "Airlines cancel {c} orders after safety scare",
    "{c} halts deliveries as defect probe widens",
    "{c} downgraded by analysts on safety crisis",
    "Selling all my ${t}, the defect news keeps getting worse",
]

MONTHS = ["March", "April", "May", "June", "September", "October", "November"]


def _fill(template: str, rng: random.Random, company: str, ticker: str) -> str:
    return template.format(
        c=company, t=ticker, p=rng.randint(2, 35), n=rng.randint(20, 900), m=rng.choice(MONTHS)
    )


def make_train(rng: random.Random, per_template: int = 6) -> list[tuple[str, str]]:
    return [(text, label) for text, label, _ in make_train_with_events(rng, per_template)]


def make_train_with_events(rng: random.Random, per_template: int = 6) -> list[tuple[str, str, str]]:
    """(text, sentiment, event type) rows; the same texts and order as make_train with the same rng."""
    rows = []
    for label, templates in TRAIN_TEMPLATES.items():
        for template, event_type in zip(templates, TRAIN_EVENT_TYPES[label], strict=True):
            for company, ticker in rng.sample(FICTIONAL, per_template):
                rows.append((_fill(template, rng, company, ticker), label, event_type))
    rng.shuffle(rows)
    return rows


def make_event_only(rng: random.Random, per_template: int = 6) -> list[tuple[str, str]]:
    rows = []
    for event_type, templates in EVENT_TEMPLATES.items():
        for template in templates:
            for company, ticker in rng.sample(FICTIONAL, per_template):
                rows.append((_fill(template, rng, company, ticker), event_type))
    rng.shuffle(rows)
    return rows


def make_feed(rng: random.Random, start: datetime, hours: float = 4.0, n_background: int = 520) -> list[str]:
    events: list[tuple[datetime, dict[str, object]]] = []
    span = hours * 3600
    for i in range(n_background):
        company, ticker, sector = rng.choice(FEED_COMPANIES)
        label = rng.choices(["negative", "neutral", "positive"], weights=[0.15, 0.5, 0.35])[0]
        at = start + timedelta(seconds=rng.uniform(0, span))
        events.append(
            (at, _item(f"bg-{i:04d}", rng, FEED_TEMPLATES[label], label, company, ticker, sector, at))
        )
    burst_start = start + timedelta(hours=2.5)
    for i in range(60):
        at = burst_start + timedelta(seconds=rng.uniform(0, 20 * 60))
        events.append(
            (at, _item(f"burst-{i:03d}", rng, BURST_TEMPLATES, "negative", "Boeing", "BA", "aerospace", at))
        )
    events.sort(key=lambda e: e[0])
    lines = [json.dumps(obj, ensure_ascii=False) for _, obj in events]
    # A few broken records, as real feeds have: they must reach the dead-letter topic, not stop the stream.
    lines.insert(37, '{"id": "broken-1", "text": "Nvidia unveils new chip", ')  # truncated JSON
    lines.insert(211, json.dumps({"id": "broken-2", "source": "wire"}))  # no text
    lines.insert(402, json.dumps({"id": "broken-3", "text": "   ", "source": "wire"}))  # blank text
    return lines


def _item(
    item_id: str,
    rng: random.Random,
    templates: list[str],
    label: str,
    company: str,
    ticker: str,
    sector: str,
    at: datetime,
) -> dict[str, object]:
    text = _fill(rng.choice(templates), rng, company, ticker)
    social = text.startswith("$")
    item: dict[str, object] = {
        "id": item_id,
        "text": text,
        "source": "social" if social else rng.choice(["newswire", "reuters-sim", "blog"]),
        "published_at": at.isoformat().replace("+00:00", "Z"),
        # The label the template was written with: lets the demo model be measured on the feed.
        "meta": {"template_label": label},
    }
    if not social:  # posts carry cashtags in their text; wire items name their topics
        item["topics"] = [ticker, sector]
    return item


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261125)
    train = make_train_with_events(rng)
    with (DATA / "demo_train.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows((text, label) for text, label, _ in train)
    start = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
    (DATA / "sample_feed.jsonl").write_text("\n".join(make_feed(rng, start)) + "\n", encoding="utf-8")
    # Its own generator, so the two files above stay as they were before the event head.
    events = [(text, event_type) for text, _, event_type in train] + make_event_only(
        random.Random(2026_11_27)
    )
    with (DATA / "demo_train_events.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(events)


if __name__ == "__main__":
    main()
