"""The ``screenshots`` task: numbered OCR lines, key lines and signs as evidence; a per-job
schema whose title is an enum of this screenshot's own lines and whose kind is the kinds code
allows; the model writes the summary. ``check`` grounds the summary and fills in what code
chose: title text, key lines, regions and entities with their OCR lines and boxes.

When the configured model can see (``mustelid.capabilities``), the screenshot itself goes to it
beside the same evidence, under the same schema and grounding: only the summary may say more,
and what it names must still be on the screen's text. A screen without text is then described
(title ``NO_TEXT_TITLE``, no regions, a summary naming nothing). Without a model that sees, it
is recorded as what code can say of it: kind ``other``, title ``NO_TEXT_TITLE``, a summary that
no text was found; every field is fixed by the schema, so nothing is invented (issue 12:
near-textless screens say so). It used to fail ``no_text``: a real screenshot of a game or a
desktop is not bad input, and a failed job kept it out of the screenshots table.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from mustelid import (Evidence, JobInput, OcrLine, PermanentError, Task, TaskContext,
                      capabilities, clean_text, image_facts, normalise_box, reading_order,
                      whole_screen)

from . import evaluate
from .candidates import find_candidates
from .grounding import echoed, instructions, picture_summary, ungrounded, without
from .kind_model import features, learned_kind
from .kinds import KIND_HELP, allowed_kinds, clear_kind, find_signs, likely_kind
from .salient import PROMPT_LINE_CHARS, SHOWN_KEY_LINES, context_lines, key_lines
from .titles import title_bar, title_lines
from .output import LINE_CHARS, MAX_LINES, SUMMARY_CHARS, Screenshot, ScreenshotCall
from .regions import entities, pick_entities, pick_regions

NO_TEXT_TITLE = "(no text)"    # the title of a screen without text, seen by a vision model


def describe_image(facts: dict[str, Any]) -> str:
    tone = "dark" if facts["brightness"] < 0.35 else "light"
    return f"{facts['width']}x{facts['height']} pixels, {facts['orientation']}, mostly {tone}"


class Screenshots(Task):
    name = "screenshots"
    function = "describe_screenshot"
    description = "A screenshot of an app, web page, chat, e-mail or error: describe what it shows."
    version = "2"       # 2: regions and entities are code's, the model writes title/summary/kind
    bench_inputs, bench_p50_s = "screens-dev", 4.0    # `mustelid bench` P10 (issue 12)
    input_kind = "image"
    Output = Screenshot
    prompt = "screenshots"
    # Worst case of the grammar: a copied line of up to 98 characters (~40 tokens), 120
    # characters of summary (~55), a kind (~4), keys and punctuation (~20): ~120 tokens. A
    # bounded answer must never be cut off, so leave headroom (odd OCR text tokenises long).
    max_tokens = 260

    def prepare(self, job: JobInput, ctx: TaskContext) -> Evidence:
        if not job.path:
            raise PermanentError("no_input", "screenshots need an image file")
        image = ctx.load_image(job.path)
        facts = image_facts(image)   # PermanentError for a bad image
        ocr = [OcrLine(clean_text(l.text), l.box, l.score) for l in ctx.ocr(job.path)]
        ordered = reading_order([l for l in ocr if l.text])[:MAX_LINES]
        sees = capabilities(ctx.backend).vision
        texts = [l.text[:LINE_CHARS] for l in ordered]
        candidates = find_candidates(texts)
        signs = find_signs(texts)
        width, height = facts["width"], facts["height"]
        lines = [{"text": t, "box": normalise_box(l.box, width, height), "score": l.score}
                 for t, l in zip(texts, ordered)]
        bar = title_bar(lines)
        picked = key_lines(texts, bar, [l["box"][3] - l["box"][1] for l in lines])
        keys, shown_keys = sorted(picked), sorted(picked[:SHOWN_KEY_LINES])
        shown = context_lines(texts, shown_keys, bar)
        choice = {n: c for c, n in line_choices(texts).items()}   # what the title enum holds
        described = describe_image(facts)
        kind_features = features(lines)
        # No text and no eyes: what the screen is, code says (``schema``: every field fixed).
        kinds = offered_kinds(texts, kind_features) if texts or sees else ["other"]
        kind = kinds[0] if len(kinds) == 1 else None
        if sees:
            described += "; the screenshot itself is attached: look at it with its text below"
        return Evidence(
            text="\n".join(texts),
            images=[image] if sees else [],
            variables={
                "image": described,
                # Unnumbered: nothing points at a line by number any more (tokens saved).
                "lines": "\n".join(_cut(choice[n]) for n in shown)
                or ("(none)" if shown_keys else "(none: no text was found on it)"),
                "key_lines": "\n".join(_cut(choice[n]) for n in shown_keys) or "(none)",
                "signs": "; ".join(f"{k}: {', '.join(v)}" for k, v in signs.items()) or "none",
                "likely": kind or likely_kind(texts) or "unclear",
                "kinds": ", ".join(f"{k} ({KIND_HELP[k]})" for k in kinds),
            },
            data={
                "image": {k: facts[k] for k in ("width", "height", "orientation", "brightness",
                                                "mean_color")},
                "whole_screen": whole_screen(image),
                "lines": lines,
                # The title is copied from a line the model was shown.
                "title_lines": [n for n in title_lines(lines, kind) if n in shown or n in shown_keys]
                or title_lines(lines, kind),
                "key_lines": keys,
                "candidates": candidates,
                "signs": signs,
                "kind_features": kind_features,
                "kinds": kinds,
                # The model saw the picture: its summary may describe it (still grounded).
                **({"seen": True} if sees else {}),
            },
        )

    def router_fit(self, evidence: Evidence) -> float:
        """For the inbox router: a capture of a whole display (``displays.whole_screen``) is
        likely a screenshot, but what it shows may be another task's (an e-receipt, a TODO file
        in an editor), and a task that reads the content as its own is surer of it. Any other
        picture with text could be a screen too (a window, a region), but says nothing against
        another task's likely reading, unless it shows a dialog's buttons (``OK``, ``Cancel``
        read alone): a window cut out of a screen, which a note's short text must not take."""
        if evidence.data.get("whole_screen"):
            return 0.8
        if not evidence.data.get("lines") and not evidence.data.get("seen"):
            # No text, no eyes, and not the size of a display: a photo, not a screen. Recorded
            # from the screenshots folder (a cut-out window of a game), but in the inbox root
            # the task says it is not its kind (0), and the router drops it like a refusal.
            return 0.0
        # The kind's features count them already (``kind_model.features``: "buttons").
        return 0.5 if (evidence.data.get("kind_features") or {}).get("buttons") else 0.4

    def router_hint(self, evidence: Evidence) -> str:
        """For the inbox router: what kind of screen the text suggests."""
        signs = evidence.data.get("signs", {})
        top = next(iter(signs.items()), None)
        return f"screen signs: {top[0]} ({', '.join(top[1][:2])})" if top else ""

    def schema(self, evidence: Evidence) -> dict[str, Any]:
        """The static schema narrowed to this screenshot: the title an enum of its own lines
        (only the title bar when code finds one), the kind an enum of the kinds code allows."""
        schema = ScreenshotCall.model_json_schema()
        props = schema["properties"]
        texts = _texts(evidence)
        kinds = evidence.data.get("kinds") or allowed_kinds(texts)
        props["kind"] = {"type": "string", "enum": kinds}
        if kinds == ["other"] and (not texts or clear_kind(texts) == "other") \
                and not evidence.data.get("seen"):
            # A picture with little or no text: the summary is code's (what little text there
            # is), not an invented description (issue 12: near-textless screens say so). A
            # model that sees the picture describes it; check() still grounds what it names.
            props["summary"] = {"type": "string", "enum": [picture_summary(texts)]}
        choices = line_choices(texts)
        if not choices:   # no text, seen by a vision model: nothing to copy
            props["title"] = {"type": "string", "enum": [NO_TEXT_TITLE]}
        else:
            titles = set(evidence.data.get("title_lines") or choices.values())
            props["title"] = {"type": "string",
                              "enum": [c for c, n in choices.items() if n in titles]}
        # Required everywhere: a model that may stop early on defaults often does.
        schema["required"] = list(props)
        return schema

    def messages(self, job: JobInput, evidence: Evidence, ctx: TaskContext) -> list[dict[str, str]]:
        messages = super().messages(job, evidence, ctx)
        # The request's own words, for ``check``: a summary must not copy them (not stored).
        evidence.variables["_asked"] = instructions(messages, evidence.variables)
        return messages

    def check(self, result: Screenshot, evidence: Evidence) -> list[str]:
        lines = evidence.data["lines"]
        choices = line_choices(_texts(evidence))
        candidates = evidence.data["candidates"]
        if not lines and result.title == NO_TEXT_TITLE:
            choices = {NO_TEXT_TITLE: 0}    # a screen without text, seen: its only title
        if result.title not in choices:
            return [f"{result.title!r} is not a line of the screenshot"]
        claimed = ungrounded(result.summary, evidence.text)
        copied = echoed(result.summary, evidence.variables.get("_asked", ""), evidence.text)
        unsupported = claimed + copied
        if unsupported and not evidence.data.get("summary_reasked"):
            evidence.data["summary_reasked"] = True        # one re-ask, then the claims go
            if copied:
                return [f"the summary copies the request ({copied[0]!r}); say in your own "
                        "words what the screen is and what it shows"]
            return [f"the summary says {', '.join(map(repr, claimed[:4]))}, which the "
                    "screen does not show; summarise only what its lines say"]
        if unsupported:
            result.ungrounded = unsupported
            result.summary = without(result.summary, unsupported) or (
                f"{KIND_HELP[result.kind.value].capitalize()}: {result.title}"[:SUMMARY_CHARS]
                if lines else picture_summary([]))
        # Copy, never trust: texts, numbers and boxes come from the OCR lines; whatever else a
        # reply held (regions, entities: not in the grammar) is replaced by code's choice.
        title_line = choices[result.title] if lines else None
        if title_line:
            result.title = lines[title_line - 1]["text"]
        result.key_lines = list(evidence.data.get("key_lines", []))
        result.key_text = [lines[n - 1]["text"] for n in result.key_lines]
        result.regions = pick_regions(lines, title_line, result.key_lines)
        result.entity_choices = pick_entities(candidates)
        result.entities = entities(candidates, result.entity_choices)
        return []

    # ``mustelid eval``: the screens-dev README's scoring (evaluate.py).
    def eval_truth(self, labels: dict[str, Any]) -> dict[str, Any]:
        return evaluate.truth(labels)

    def eval_score(self, truth: dict[str, Any], data: dict[str, Any] | None, *,
                   reason: str | None = None, evidence: Any = None) -> tuple[dict, dict]:
        # ``evidence`` is what the job stores (the evidence's data): its kind features too.
        return evaluate.judge(truth, data, reason, (evidence or {}).get("kind_features"))

    def persist(self, db: Any, job: dict[str, Any], result: Screenshot) -> None:
        db["screenshots"].insert({
            "job_id": job["id"],
            "file_sha256": job.get("input_sha256"),
            "kind": result.kind.value,
            "title": result.title,
            "summary": result.summary,
            "key_text": "\n".join(result.key_text),
            "entities": json.dumps([e.model_dump(exclude_none=True) for e in result.entities]),
            "regions": json.dumps([r.model_dump() for r in result.regions]),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        })


def offered_kinds(texts: list[str], kind_features: dict[str, float]) -> list[str]:
    """The kinds the schema offers: the fitted model's kind (``kind_model.py``), or without
    one, the kinds the signs allow (``kinds.allowed_kinds``)."""
    learned = learned_kind(kind_features) if texts else None
    return [learned[0]] if learned else allowed_kinds(texts)


def line_choices(texts: list[str]) -> dict[str, int]:
    """What the model may copy to point at a line -> that line's number (1-based). A text that
    occurs again (a page title in the tab and as the heading) gets its occurrence appended,
    "Summit 2P (2)", so that every line stays reachable and every choice names one line."""
    choices: dict[str, int] = {}
    for n, text in enumerate(texts, 1):
        choice, k = text, 1
        while choice in choices:
            k += 1
            choice = f"{text} ({k})"
        choices[choice] = n
    return choices


def _cut(text: str) -> str:
    return text if len(text) <= PROMPT_LINE_CHARS else text[:PROMPT_LINE_CHARS - 1] + "…"


def _texts(evidence: Evidence) -> list[str]:
    return [l["text"] for l in evidence.data["lines"]]
