"""The ``cards`` task: read a business card and call ``record_contact``.

The method is the one mustelid's receipts task uses, for the same reason: a 0.5B model cannot be
trusted to copy an e-mail address or a phone number character by character. Code finds every
e-mail address, phone number and web address printed on the card; the per-job JSON schema makes
those three fields *enums of what was found* (or null), so the model only chooses. The free-text
fields (name, title, company) are bounded strings, and ``check`` makes sure each appears on the
card; a miss is sent back to the model once, then the job fails instead of inventing a contact.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mustelid import Evidence, JobInput, PermanentError, Task, rows_as_text

# Patterns are written for llama.cpp's grammar converter as well as for pydantic: bounded
# repeats only, and no regex escapes (\. \d reach the grammar verbatim and are rejected there).
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}([.][A-Za-z0-9-]{1,63}){1,4}$"
PHONE_PATTERN = r"^[+]?[0-9][0-9 ().-]{5,24}$"
WEBSITE_PATTERN = (r"^(https?://)?[A-Za-z0-9-]{1,63}([.][A-Za-z0-9-]{1,63}){1,4}"
                   r"(/[A-Za-z0-9._~/-]{0,40})?$")
NAME_PATTERN = r"^[^0-9@]{1,60}$"     # a person's name: no digits, not an e-mail address


class Contact(BaseModel):
    """The function's arguments, in generation order. Every field is bounded: a small model left
    an unbounded string can loop until it runs out of tokens."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, max_length=60)
    title: str | None = Field(None, max_length=60)
    company: str | None = Field(None, max_length=60)
    email: str | None = Field(None, pattern=EMAIL_PATTERN, max_length=120)
    phone: str | None = Field(None, pattern=PHONE_PATTERN, max_length=26)
    website: str | None = Field(None, pattern=WEBSITE_PATTERN, max_length=120)


# The same shapes, unanchored, to find candidates in running OCR text.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:[.][A-Za-z0-9-]{1,63}){1,4}")
_PHONE = re.compile(r"(?<![\w+])[+]?[0-9][0-9 ().-]{5,24}[0-9]")
_WEBSITE = re.compile(
    r"(?<![\w@.])(?:https?://|www[.])[A-Za-z0-9-]{1,63}(?:[.][A-Za-z0-9-]{1,63}){1,4}")
MAX_CANDIDATES = 4


def find_emails(text: str) -> list[str]:
    return _unique(m.group(0).strip(".") for m in _EMAIL.finditer(text))


def find_phones(text: str) -> list[str]:
    """Digit runs that look like a phone number: 7 to 15 digits (E.164 allows 15)."""
    found = []
    for m in _PHONE.finditer(text):
        number = " ".join(m.group(0).split())
        if 7 <= sum(c.isdigit() for c in number) <= 15:
            found.append(number)
    return _unique(found)


def find_websites(text: str) -> list[str]:
    return _unique(m.group(0).strip(".") for m in _WEBSITE.finditer(text))


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(values))[:MAX_CANDIDATES]


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


class BusinessCards(Task):
    name = "cards"
    function = "record_contact"
    description = "A business card: record the person, their company and how to reach them."
    version = "1"
    input_kind = "image"
    Output = Contact
    prompt = "cards"
    # Worst case of the grammar: three 60-character strings, three enum choices, JSON syntax.
    max_tokens = 320

    def prepare(self, job: JobInput, ctx: Any) -> Evidence:
        if not job.path:
            raise PermanentError("no_input", "cards need an image file")
        ctx.load_image(job.path)   # the host's hardened decoder: PermanentError if unreadable
        rows = rows_as_text(ctx.ocr(job.path))
        text = "\n".join(rows)
        if not text.strip():
            raise PermanentError("not_a_card", "no text found on the image")
        emails, phones, websites = find_emails(text), find_phones(text), find_websites(text)
        if not (emails or phones or websites):
            raise PermanentError("not_a_card", "no e-mail address, phone number or web address")
        return Evidence(
            text=text,
            variables={
                "ocr_text": text,
                "emails": "\n".join(emails) or "(none: use null)",
                "phones": "\n".join(phones) or "(none: use null)",
                "websites": "\n".join(websites) or "(none: use null)",
            },
            data={"rows": rows, "emails": emails, "phones": phones, "websites": websites},
        )

    def messages(self, job: JobInput, evidence: Evidence, ctx: Any) -> list[dict[str, str]]:
        # prompts/cards.txt ships in this package; a user's <config dir>/prompts/cards.txt wins.
        return ctx.prompts.render(self.prompt, package=__package__, **evidence.variables)

    def schema(self, evidence: Evidence) -> dict[str, Any]:
        """The static schema, narrowed to this card: contact details only as printed on it."""
        schema = Contact.model_json_schema()
        props = schema["properties"]
        for field in ("email", "phone", "website"):
            found = evidence.data.get(f"{field}s", [])
            props[field] = ({"anyOf": [{"type": "string", "enum": found}, {"type": "null"}]}
                            if found else {"type": "null"})
        schema["required"] = list(props)   # no field left to a default: the model fills each
        return schema

    def check(self, result: Contact, evidence: Evidence) -> list[str]:
        card = _squash(evidence.text)
        problems = []
        for field in ("name", "title", "company"):
            value = getattr(result, field)
            if value is not None and _squash(value) not in card:
                problems.append(f"{field} {value!r} is not printed on the card")
        return problems

    def persist(self, db: Any, job: dict[str, Any], result: Contact) -> None:
        db["contacts"].insert({"job_id": job["id"], "file_sha256": job.get("input_sha256"),
                               **result.model_dump()})
