#!/usr/bin/env python3
"""Writes the price data of the `genai-prices` PyPI package as JSON for `tokenledger prices import`.

    pip install genai-prices
    python3 scripts/prices/export_genai_prices.py > genai-prices.json
    tokenledger prices import --from genai-prices genai-prices.json

Shape: {"source": "genai-prices <version>", "providers": [{"id", "models": [{"id", "name",
"prices": [{"start_date": "YYYY-MM-DD" | null, "prices": {"input_mtok": "3", ...}}]}]}]}.
Prices are decimal strings in USD per million tokens; a tiered price is written as its base tier;
a time-of-day price carries "time_window": {"from": "HH:MM", "to": "HH:MM"} (UTC).
"""
import json
import sys
from decimal import Decimal

import genai_prices
from genai_prices import data


def plain(price):
    if isinstance(price, Decimal):
        return str(price)
    base = getattr(price, "base", None)  # TieredPrices
    return str(base) if isinstance(base, Decimal) else None


def price_set(model_price):
    values = {}
    for key, value in vars(model_price).items():
        if key.startswith("_") or value is None:
            continue
        text = plain(value)
        if text is not None:
            values[key] = text
    return values


def versions(prices):
    if isinstance(prices, list):  # ConditionalPrice entries
        result = []
        for conditional in prices:
            constraint = getattr(conditional, "constraint", None)
            start = getattr(constraint, "start_date", None)
            entry = {"start_date": start.isoformat()[:10] if start else None, "prices": price_set(conditional.prices)}
            if hasattr(constraint, "start_time"):  # a time-of-day price
                entry["time_window"] = {"from": constraint.start_time.strftime("%H:%M"), "to": constraint.end_time.strftime("%H:%M")}
            result.append(entry)
        return result
    return [{"start_date": None, "prices": price_set(prices)}]


providers = []
for provider in data.providers:
    models = [{"id": model.id, "name": getattr(model, "name", None), "prices": versions(model.prices)} for model in provider.models]
    providers.append({"id": provider.id, "models": models})
json.dump({"source": f"genai-prices {genai_prices.__version__}", "providers": providers}, sys.stdout, indent=1)
sys.stdout.write("\n")
