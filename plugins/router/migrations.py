"""The router's own migration of stored results."""

from __future__ import annotations

import json

from sqlite_utils.migrations import Migrations

from mustelid.records import select

from .task import NAME
from .ignore import IGNORE


def migrations() -> Migrations:
    router = Migrations("router")

    @router()
    def m001_results_filed_as(db):
        # Results stored before the host's results.filed_as column (its migration m008) name
        # the task they were filed as only in their data: copy it over, so that `mustelid
        # search --task receipts` keeps finding receipts the router filed before the upgrade.
        for row in select(db, "results", {"task": NAME, "filed_as": None}):
            try:
                data = json.loads(row["data"])
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("name") != IGNORE and data.get("task"):
                db["results"].update(row["id"], {"filed_as": data["task"]})

    return router
