"""The bench's own tasks, a plugin like any other: ``mustelid bench`` copies this file into the
plugins folder of its throwaway home, and the model worker loads it from there.

Written as a third-party plugin: it imports only mustelid's public API, and nothing relative,
because the worker loads the copy as a lone file.

``bench_extract`` asks for free strings under patterns (the open schema); ``bench_choose`` asks
for the same receipts with every value chosen from candidates printed in the text (what the
receipts task does), so the daemon decodes it by choices.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel, Field

from mustelid import Evidence, Task, hookimpl

EXTRACT_TASK = "bench_extract"
CHOOSE_TASK = "bench_choose"
MAX_TOKENS = 160

SYSTEM = ("You read OCR text of shop receipts and record them as expenses by calling "
          "record_expense. Reply with one JSON object only. Copy values from the text; never "
          "invent them. The merchant is the shop name near the top; the total is the amount "
          "paid, labelled TOTAL or AMOUNT DUE; dates are written YYYY-MM-DD.")
SCHEMA = {
    "type": "object",
    "properties": {
        "merchant": {"type": "string", "maxLength": 40},
        "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "maxLength": 10},
        "total": {"type": "string", "pattern": "^[0-9]{1,6}[.][0-9]{2}$", "maxLength": 9},
        "items": {"type": "array", "maxItems": 2, "items": {
            "type": "object", "properties": {"name": {"type": "string", "maxLength": 24}},
            "required": ["name"]}},
    },
    "required": ["merchant", "date", "total", "items"],
}
CHOOSE_SYSTEM = ("You read OCR text of shop receipts and record them as expenses by calling "
                 "record_expense. Reply with one JSON object only. Choose each value from the "
                 "candidates listed under the text: the merchant is the shop name at the top; "
                 "the total is the amount paid, labelled TOTAL; the date is the purchase date.")


def choose_request(text: str) -> dict[str, Any]:
    """Messages and closed schema for one receipt text: candidates found by regular
    expressions, as the receipts task finds them in OCR text."""
    lines = text.splitlines()
    amounts = list(dict.fromkeys(re.findall(r"(?<![\d.])\d+[.]\d{2}(?![\d])", text)))
    dates = list(dict.fromkeys(f"{y}-{m}-{d}" for d, m, y in
                               re.findall(r"\b(\d{2})/(\d{2})/(\d{4})\b", text)))
    menus = (f"Merchant candidates: {'; '.join(lines[:2])}\n"
             f"Date candidates: {'; '.join(dates) or 'none'}\n"
             f"Total candidates: {'; '.join(amounts)}")
    schema = {
        "type": "object",
        "properties": {
            "merchant": {"type": "string", "enum": lines[:2]},
            "date": {"anyOf": [{"type": "string", "enum": dates}, {"type": "null"}]},
            "total": {"type": "string", "enum": amounts},
        },
        "required": ["merchant", "date", "total"],
    }
    return {"messages": [{"role": "system", "content": CHOOSE_SYSTEM},
                         {"role": "user", "content": f"{text}\n\n{menus}"}],
            "schema": schema, "max_tokens": MAX_TOKENS}


class Out(BaseModel):
    merchant: str = Field(max_length=40)
    date: str = Field(max_length=10)
    total: str = Field(max_length=9)
    items: list[dict] = Field(max_length=2)


class BenchExtract(Task):
    name = EXTRACT_TASK
    function = "record_expense"
    description = "benchmark job"
    input_kind = "text"
    Output = Out
    max_tokens = MAX_TOKENS

    def prepare(self, job, ctx):
        return Evidence(text=job.params["text"])

    def messages(self, job, evidence, ctx):
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": evidence.text}]

    def schema(self, evidence):
        return copy.deepcopy(SCHEMA)  # the caller's to keep or change


class ChooseOut(BaseModel):
    merchant: str
    date: str | None
    total: str


class BenchChoose(BenchExtract):
    name = CHOOSE_TASK
    Output = ChooseOut

    def prepare(self, job, ctx):
        return Evidence(text=job.params["text"], data=choose_request(job.params["text"]))

    def messages(self, job, evidence, ctx):
        return evidence.data["messages"]

    def schema(self, evidence):
        return evidence.data["schema"]


@hookimpl
def register_tasks(register):
    register(BenchExtract())
    register(BenchChoose())
