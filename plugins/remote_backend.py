"""Backend ``remote``: an OpenAI-compatible server (llama.cpp's llama-server, vLLM, Ollama,
llama-cpp-python's server) on this machine or the user's network.

Servers differ in how they take a JSON schema, and some silently ignore the way they do not
understand (llama-cpp-python ignores the OpenAI ``json_schema`` envelope and generates free
text). So nothing is assumed: at startup the backend *probes* each way of sending a schema with a
question an unconstrained model would answer differently (an enum of two nonsense words), keeps
the first way the server proves it enforces, and otherwise refuses to run jobs
(``WaitingError("remote_schema_not_enforced")``: the jobs wait, visible, until the server is
fixed). Every answer is still validated by the host afterwards.

Config: ``[model] backend = "remote"``, and ``[backend.remote]`` (``RemoteSettings``): ``url``,
``model``, ``api_key_env`` (the name of an environment variable holding the key: keys never
live in the config file), ``timeout``, ``vision``. stdlib HTTP only: one JSON POST per
generation needs no client library.

Images (``vision = true``): sent as OpenAI ``image_url`` parts with data URLs. Whether the model
behind the server sees them is probed at start too: a red and a blue picture with the same
question must get the two right, different answers (a model that does not see answers both
alike). A server that fails is ``WaitingError("remote_vision_unavailable")``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from mustelid import hookimpl
from mustelid.backend import (
    BackendContext,
    BackendFactory,
    Capabilities,
    Generation,
    PermanentError,
    TransientError,
    WaitingError,
    model_images,
    refuse_images,
)

# The ways servers take a schema, most standard first.
STYLES: dict[str, Any] = {
    # OpenAI structured outputs: llama-server, vLLM, Ollama >= 0.5
    "json_schema": lambda schema: {"response_format": {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True}}},
    # llama-cpp-python's server
    "json_object": lambda schema: {"response_format": {"type": "json_object", "schema": schema}},
}

PROBE_WORDS = ("zqx-vormit", "plemb-utarq")
PROBE_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": list(PROBE_WORDS)}},
    "required": ["answer"],
    "additionalProperties": False,
}
PROBE_MESSAGES = [
    {"role": "system", "content": "Answer in JSON."},
    {"role": "user", "content": 'What is the capital of France? Reply as {"answer": "..."}.'},
]


class RemoteSettings(BaseModel):
    """``[backend.remote]``"""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="OpenAI-compatible base URL (http://host:port/v1)")
    model: str | None = Field(None, description="model name to request")
    api_key_env: str | None = Field(None, description="environment variable holding the API key")
    timeout: float = Field(120, gt=0, description="seconds per request")
    seed: int = Field(0, description="sampling seed; generation is greedy anyway")
    vision: bool = Field(False, description="send images to the model (image_url parts); "
                         "probed at start")
    image_max_side: int = Field(1024, ge=32, le=8192,
                                description="images are scaled to at most this many pixels a side")


COLOURS = ("red", "blue", "green", "yellow")
COLOUR_SCHEMA = {
    "type": "object",
    "properties": {"colour": {"type": "string", "enum": list(COLOURS)}},
    "required": ["colour"],
    "additionalProperties": False,
}
COLOUR_QUESTION = [
    {"role": "system", "content": "Answer in JSON."},
    {"role": "user", "content": 'What colour is this picture? Reply as {"colour": "..."}.'},
]


@hookimpl
def register_backends(register: Callable[[str, BackendFactory], None]) -> None:
    register("remote", RemoteBackend)


class RemoteBackend:
    """Satisfies ``mustelid.Backend``; fail-closed unless the server enforces schemas."""

    settings_model = RemoteSettings

    def __init__(self, ctx: BackendContext):
        s = ctx.parse_settings(RemoteSettings)
        if not s.url:
            raise WaitingError("remote_not_configured", 'model.backend = "remote" needs '
                               "[backend.remote] url (the server base URL)")
        self.url = s.url.rstrip("/")
        self.model = s.model
        self.timeout = s.timeout
        self.seed = s.seed
        self.api_key = None
        if s.api_key_env:
            self.api_key = os.environ.get(s.api_key_env)
            if not self.api_key:
                raise WaitingError("remote_api_key_missing",
                                   f"environment variable {s.api_key_env} "
                                   "(backend.remote.api_key_env) is not set")
        host = urllib.parse.urlsplit(self.url).netloc
        self.model_id = f"remote:{self.model or 'default'}@{host}"
        self.style = self.probe()
        self.image_max_side = s.image_max_side
        self.vision = False
        if s.vision:
            self.probe_vision()
            self.vision = True

    def capabilities(self) -> Capabilities:
        return Capabilities(vision=self.vision)

    def probe_vision(self) -> None:
        """The model must tell a red picture from a blue one: the same question, only the image
        differs, so a model that does not see gives both the same answer."""
        from PIL import Image

        answers = []
        for colour in ("red", "blue"):
            try:
                body = self._chat(_with_images(COLOUR_QUESTION, model_images(
                    [Image.new("RGB", (64, 64), colour)])), COLOUR_SCHEMA, 24, self.style)
                answers.append(json.loads(_content(body)).get("colour"))
            except (PermanentError, TransientError) as e:
                answers.append(f"rejected: {e.message[:120]}")
            except (ValueError, AttributeError):
                answers.append("not JSON")
        if answers != ["red", "blue"]:
            raise WaitingError(
                "remote_vision_unavailable",
                f"{self.url}: backend.remote.vision is on, but the model did not tell a red "
                f"picture from a blue one (answered {answers}); set vision = false or serve a "
                "model that sees")

    def probe(self) -> str:
        """The first schema style the server provably enforces, else WaitingError."""
        seen = []
        for style in STYLES:
            try:
                # 48 tokens: byte-level vocabularies spend one token a character
                body = self._chat(PROBE_MESSAGES, PROBE_SCHEMA, 48, style)
            except (PermanentError, TransientError) as e:  # rejects this way of asking
                seen.append(f"{style}: rejected ({e.message[:120]})")
                continue
            text = _content(body)
            try:
                answer = json.loads(text).get("answer")
            except (ValueError, AttributeError):
                answer = None
            if answer in PROBE_WORDS:
                return style
            seen.append(f"{style}: answered {text[:60]!r}")
        raise WaitingError(
            "remote_schema_not_enforced",
            f"{self.url} does not enforce JSON schemas (probe with a two-word enum: "
            f"{'; '.join(seen)}); refusing to run jobs on unconstrained output",
        )

    def generate(self, messages: list[dict[str, str]], schema: dict[str, Any],
                 max_tokens: int, *, images: list[Any] | None = None) -> Generation:
        if images:
            if not self.vision:
                refuse_images("remote", images)
            messages = _with_images(messages, model_images(images, self.image_max_side))
        started = time.perf_counter()
        body = self._chat(messages, schema, max_tokens, self.style)
        choice = (body.get("choices") or [{}])[0]
        usage = body.get("usage") or {}
        return Generation(
            text=_content(body),
            finish_reason=choice.get("finish_reason") or "",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            seconds=time.perf_counter() - started,
            model_id=self.model_id,
        )

    def _chat(self, messages, schema, max_tokens, style) -> dict[str, Any]:
        payload = {"messages": messages, "max_tokens": max_tokens, "temperature": 0.0,
                   "seed": self.seed, "stream": False, **STYLES[style](schema)}
        if self.model:
            payload["model"] = self.model
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.url}/chat/completions",
                                         data=json.dumps(payload).encode(), headers=headers)
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            if 300 <= e.code < 400:    # fail closed, the probe at start included
                raise WaitingError("remote_redirected", f"{self.url}: HTTP {e.code} to "
                                   f"{e.headers.get('Location', '?')}; redirects are not "
                                   "followed: set backend.remote.url to the final address")
            detail = e.read()[:500].decode("utf-8", "replace")
            if e.code in (401, 403):
                raise WaitingError("remote_unauthorized", f"{self.url}: HTTP {e.code} {detail}")
            if 400 <= e.code < 500:
                reason = "input_too_long" if "context" in detail.lower() else "remote_rejected"
                raise PermanentError(reason, f"{self.url}: HTTP {e.code} {detail}") from None
            raise TransientError("remote_error", f"{self.url}: HTTP {e.code} {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise WaitingError("remote_unreachable",
                               f"{self.url}: {getattr(e, 'reason', e)}") from None
        except ValueError as e:
            raise TransientError("remote_error", f"{self.url}: not JSON: {e}") from None

    def close(self) -> None:
        pass


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the API key (and the user's text) to another address: never
    followed. urllib then raises the 3xx as an HTTPError, which ``_chat`` reports."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _content(body: dict[str, Any]) -> str:
    choices = body.get("choices") or [{}]
    return ((choices[0].get("message") or {}).get("content")) or ""


def _with_images(messages: list[dict[str, Any]], images: list[bytes]) -> list[dict[str, Any]]:
    """The last user message's text after ``images`` as OpenAI ``image_url`` parts."""
    import base64

    last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    parts: list[dict[str, Any]] = [
        {"type": "image_url",
         "image_url": {"url": "data:image/png;base64," + base64.b64encode(f).decode("ascii")}}
        for f in images]
    parts.append({"type": "text", "text": messages[last].get("content") or ""})
    out = [dict(m) for m in messages]
    out[last]["content"] = parts
    return out
