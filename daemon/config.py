"""Configuration: a TOML file validated by pydantic, with per-OS defaults.

Where things live:
- ``MUSTELID_HOME`` set: everything under it (config.toml, data/, inbox/, outbox/, models/).
  Tests and CI use this.
- otherwise platformdirs: config in the user config dir, data in the user data dir, models in
  the user cache dir (they can be rebuilt), the inbox and outbox under ``~/mustelid``.
- ``MUSTELID_MODELS_DIR`` overrides only where models are kept, so many homes can share one copy.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path, PurePath
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

APP = "mustelid"
log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A config problem, worded as one line that names the key."""


class _Section(BaseModel):
    # allow_inf_nan=False: `timeout_seconds = inf` (TOML has inf and nan) is a typo, not a wish
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def folder_route(relpath: str, config: Any, folder: str, task: str) -> list[str] | None:
    """A plugin's default route (for its ``route_file`` hook): a file under ``<inbox>/folder/``
    goes to ``task``, unless the user routed that folder in ``[inbox.routes]``, which wins."""
    parts = PurePath(relpath).parts
    if len(parts) > 1 and parts[0] == folder and folder not in config.inbox.routes:
        return [task]
    return None


class InboxConfig(_Section):
    path: Path | None = Field(None, description="folder to watch; default ~/mustelid/inbox")
    stable_seconds: float = Field(2.0, ge=0, description="size+mtime unchanged this long = written")
    rescan_seconds: float = Field(300, gt=0, description="full scan period; the watcher is a hint")
    routes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="subfolder -> task names, no model involved; wins over the plugins' own "
        "folders (route_file)")
    default_tasks: list[str] = Field(
        default_factory=list,
        description="tasks for files no route or plugin claims; unset: the plugins decide (the "
        "router's auto)",
    )
    ignore: list[str] = Field(default_factory=list, description="extra glob patterns to ignore")
    max_file_mb: float = Field(50, gt=0, description="larger files are refused with a reason")
    done_folder: Path | None = Field(
        None, description="move processed files here (default: never touch the inbox)")


class ModelConfig(_Section):
    backend: str = Field("llama_cpp", description="backend plugin name")
    name: str = Field("qwen2.5-coder-0.5b", description="catalog name (mustelid models list)")
    path: Path | None = Field(None, description="any local GGUF; overrides name")
    sha256: str | None = Field(None, description="expected sha256 of `path`, checked before use")
    mmproj: Path | None = Field(
        None, description="vision projector GGUF of the model (llama.cpp mmproj): it sees images")
    mmproj_sha256: str | None = Field(
        None, description="expected sha256 of `mmproj`, checked before use")
    threads: int = Field(2, ge=1, le=256, description="CPU threads for generation")
    idle_release: float = Field(300, ge=0, description="seconds idle before paging weights out")
    idle_unload: float = Field(1800, ge=0, description="seconds idle before the worker exits")
    prewarm: bool = Field(True, description="read the weights back in before a job needs them")
    memory_margin_mb: float = Field(
        256, ge=0, description="free memory to leave beside model + KV before starting a job")
    ocr_aside: bool = Field(True, description="weights out of the worker's RSS (still in the "
                            "page cache) while OCR runs: the two never peak together")
    small_heap: bool = Field(
        False, description="fix glibc's mmap threshold in the worker: ~250-350 MiB less peak "
        "memory, OCR and jobs ~20-45 % slower (docs/BENCHMARKS.md, P7)")


# Keys that lived under [model] until the backends got tables of their own: (backend, new key);
# backend None is the configured ``model.backend``. Old config files keep working.
_MOVED_MODEL_KEYS: dict[str, tuple[str | None, str]] = {
    **{key: ("llama_cpp", key) for key in (
        "n_ctx", "n_ctx_min", "kv_type", "flash_attn", "prefix_reuse", "choice_decoding")},
    "url": ("remote", "url"),
    "remote_model": ("remote", "model"),
    "api_key_env": ("remote", "api_key_env"),
    "remote_timeout": ("remote", "timeout"),
    "seed": (None, "seed"),
}


def _move_backend_keys(data: Any) -> Any:
    """Move the keys of ``_MOVED_MODEL_KEYS`` from [model] to their [backend.NAME] table, with
    a deprecation warning each. A key already in the new table wins over the old one."""
    model = data.get("model") if isinstance(data, dict) else None
    tables = data.get("backend", {}) if isinstance(data, dict) else None
    if not isinstance(model, dict) or not _MOVED_MODEL_KEYS.keys() & model.keys() \
            or not isinstance(tables, dict) or not isinstance(model.get("backend", ""), str):
        return data   # nothing moved, or not tables: validation names the bad key
    data, model = dict(data), dict(model)
    tables = {name: dict(table) if isinstance(table, dict) else table
              for name, table in tables.items()}
    for old in [k for k in model if k in _MOVED_MODEL_KEYS]:
        name, new = _MOVED_MODEL_KEYS[old]
        name = name or model.get("backend", "llama_cpp")
        table = tables.setdefault(name, {})
        value = model.pop(old)
        if not isinstance(table, dict):
            continue   # not a table: validation names [backend.NAME]
        ignored = new in table
        table.setdefault(new, value)
        log.warning("model.%s is deprecated; write it as [backend.%s] %s%s", old, name, new,
                    " (ignored: that key is set)" if ignored else "")
    data["model"], data["backend"] = model, tables
    return data


class OcrConfig(_Section):
    engine: str = Field("rapidocr", description="OCR plugin name")


class JobsConfig(_Section):
    max_attempts: int = Field(4, ge=1, le=100, description="attempts before a job is dead")
    lease_seconds: float = Field(60, gt=0, description="a claimed job is owned this long per beat")
    timeout_seconds: float = Field(300, gt=0, description="one attempt may run this long")
    backoff_seconds: float = Field(5, ge=0, description="first retry delay; doubles each attempt")
    backoff_max_seconds: float = Field(600, ge=0)
    worker_memory_mb: int = Field(
        0, ge=-1, description="address-space cap on the model worker, MiB; 0 = automatic "
        "(model file + 4 GiB + 128 MiB per CPU), -1 = no cap",
    )


class ScheduleConfig(_Section):
    task: str
    cron: str = Field(description="crontab expression, local time")
    params: dict[str, Any] = Field(default_factory=dict)


class Config(_Section):
    inbox: InboxConfig = Field(default_factory=InboxConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    ocr: OcrConfig = Field(default_factory=OcrConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    schedules: dict[str, ScheduleConfig] = Field(
        default_factory=dict,
        description="recurring jobs; any [schedules] table replaces the plugins' default "
        "schedules (an empty one turns them off) and a plugin's schedule of the same name",
    )
    plugins_dir: Path | None = Field(None, description="folder of *.py plugins")
    # plugin settings live under [plugin.NAME]; validated by the plugin itself
    plugin: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # backend settings live under [backend.NAME]; validated by the backend plugin (its factory
    # gets the table through mustelid.backend.BackendContext)
    backend: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # Paths resolved at load time (not written in the file).
    home: Path | None = Field(None, exclude=True)
    config_path: Path | None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        return _move_backend_keys(data)

    @property
    def data_dir(self) -> Path:
        return _home_or(self.home, "data", platformdirs.user_data_path(APP))

    @property
    def db_path(self) -> Path:
        return self.data_dir / "mustelid.db"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def inbox_dir(self) -> Path:
        if self.inbox.path:
            return self.inbox.path.expanduser()
        return _home_or(self.home, "inbox", Path.home() / APP / "inbox")

    @property
    def outbox_dir(self) -> Path:
        return _home_or(self.home, "outbox", Path.home() / APP / "outbox")

    @property
    def models_dir(self) -> Path:
        env = os.environ.get("MUSTELID_MODELS_DIR")
        if env:
            return Path(env).expanduser()
        return _home_or(self.home, "models", platformdirs.user_cache_path(APP) / "models")

    @property
    def prompts_dir(self) -> Path:
        """User overrides of shipped prompts: a file here wins over mustelid/prompts/."""
        return self.config_dir / "prompts"

    @property
    def config_dir(self) -> Path:
        if self.config_path:
            return self.config_path.parent
        return _home_or(self.home, ".", platformdirs.user_config_path(APP))

    @property
    def plugins_path(self) -> Path:
        return (self.plugins_dir or self.config_dir / "plugins").expanduser()


def _home_or(home: Path | None, sub: str, default: Path) -> Path:
    return (home / sub).resolve() if home else default


def home_from_env() -> Path | None:
    value = os.environ.get("MUSTELID_HOME")
    return Path(value).expanduser().resolve() if value else None


def default_config_path() -> Path:
    home = home_from_env()
    if home:
        return home / "config.toml"
    return platformdirs.user_config_path(APP) / "config.toml"


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of the config file at ``path`` as written (no defaults): {} if there is no
    file, ``ConfigError`` naming it if it is not valid TOML."""
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the config file as UTF-8") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file; remove it or point "
                          "MUSTELID_HOME elsewhere") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config; a missing file means all defaults."""
    path = path or default_config_path()
    try:
        cfg = Config.model_validate(read_toml(path))
    except ValidationError as e:
        raise ConfigError(_one_line(path, e)) from None
    cfg.home = home_from_env()
    cfg.config_path = path
    return cfg


# A key whose name says it holds a secret, and any key mustelid does not know (a misplaced
# `api_key = "sk-..."`), never has its value printed: errors and `mustelid config` say
# "(hidden)" instead (issue 13).
_SECRET_NAME = re.compile(r"key|token|secret|passw|credential|auth", re.I)


def redact(value: Any, name: str = "") -> Any:
    """``value`` with the values of secret-named keys replaced by "(hidden)", at any depth."""
    if name and _SECRET_NAME.search(name) and not name.endswith("_env") and value is not None:
        return "(hidden)"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    return value


def _one_line(path: Path, e: ValidationError) -> str:
    err = e.errors()[0]
    key = ".".join(str(x) for x in err["loc"])
    value = err.get("input")
    secret = err.get("type") == "extra_forbidden" or _SECRET_NAME.search(key.split(".")[-1])
    shown = "" if isinstance(value, dict) or secret else f" (got {value!r})"
    more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{path}: {key}: {err['msg']}{shown}{more}"


def get_key(cfg: Config, key: str, backend: dict[str, dict[str, Any]] | None = None) -> Any:
    """``config get inbox.path`` style lookup, including the derived paths. ``backend``: the
    [backend.NAME] tables with their plugins' defaults (``mustelid.backend.backend_tables``)."""
    derived = {
        "inbox.path": cfg.inbox_dir,
        "data_dir": cfg.data_dir,
        "db_path": cfg.db_path,
        "models_dir": cfg.models_dir,
        "outbox_dir": cfg.outbox_dir,
        "archive_dir": cfg.archive_dir,
        "config_path": cfg.config_path,
    }
    if key in derived:
        return derived[key]
    node: Any = cfg.model_dump(mode="json")
    if backend is not None:
        node["backend"] = backend
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"unknown config key: {key}")
        node = redact(node[part], part)
    return node


def effective(cfg: Config, backend: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The whole effective config, with the derived paths spelled out (and ``backend`` as in
    ``get_key``)."""
    out = cfg.model_dump(mode="json")
    if backend is not None:
        out["backend"] = backend
    out["backend"] = redact(out.get("backend", {}))
    out["plugin"] = redact(out.get("plugin", {}))
    out["inbox"]["path"] = str(cfg.inbox_dir)
    out["paths"] = {
        "config": str(cfg.config_path),
        "data_dir": str(cfg.data_dir),
        "db": str(cfg.db_path),
        "archive": str(cfg.archive_dir),
        "models": str(cfg.models_dir),
        "outbox": str(cfg.outbox_dir),
        "prompts": str(cfg.prompts_dir),
        "plugins": str(cfg.plugins_path),
    }
    return out


ANNOTATED_CONFIG = """\
# mustelid configuration. Every key is optional; the values below are the defaults.
# `mustelid config` prints the effective values, `mustelid config get KEY` one of them.

[inbox]
# path = "~/mustelid/inbox"     # the folder you drop images into (MUSTELID_HOME/inbox if set)
stable_seconds = 2.0            # a file counts as written once size+mtime hold still this long
rescan_seconds = 300            # full rescan period: the file watcher can miss events
# default_tasks = ["auto"]      # files no route or plugin claims (the inbox root): unset, the
                                # router plugin takes them and the model chooses the task (or
                                # ignores the file); [] leaves them alone
max_file_mb = 50                # bigger files are refused, with a reason, and left alone
# done_folder = "~/mustelid/done"  # move processed files here; by default the inbox is never touched

# [inbox.routes]                # subfolder -> tasks, decided without asking the model. Unset,
# receipts = ["receipts"]       # the task plugins claim their own folders as shown here; a
# screenshots = ["screenshots"] # route written here wins over a plugin's
# notes = ["todos"]

[model]
backend = "llama_cpp"           # which backend plugin runs the model
name = "qwen2.5-coder-0.5b"     # from `mustelid models list`
# path = "/path/to/any.gguf"    # a local GGUF instead of a catalog model
# sha256 = "..."                # checked before the file at `path` is used
threads = 2
idle_release = 300              # seconds idle before the weights are paged back to the file
idle_unload = 1800              # seconds idle before the model worker exits entirely
prewarm = true                  # read the weights back sequentially when a job is on its way
ocr_aside = true                # weights out of RSS while OCR runs (page cache keeps them)
memory_margin_mb = 256          # jobs wait (memory_budget) unless model + KV + this fits
# backend = "remote"            # an OpenAI-compatible server (llama-server, vLLM, Ollama): see
#                               # [backend.remote] below
# (with backend = "mlx" on Apple Silicon, `path` is a local MLX model folder)

# Each backend reads its own table, [backend.NAME]; the plugin checks it.
[backend.llama_cpp]
n_ctx = 4096
n_ctx_min = 2048                # the context starts this small and doubles (up to n_ctx) on need
kv_type = "f16"                 # KV cache type: f16, q8_0 or q4_0 (quantized needs flash_attn)
flash_attn = false
prefix_reuse = true             # a task's shared prompt prefix is evaluated once, not per job
choice_decoding = true          # the model is asked only where the schema leaves a choice

# [backend.remote]
# url = "http://127.0.0.1:8080/v1"
# model = "qwen2.5-coder"       # the name the server knows the model by
# api_key_env = "MUSTELID_API_KEY"  # the key is read from this variable, never from this file
# timeout = 120                 # seconds per request

[ocr]
engine = "rapidocr"

[jobs]
max_attempts = 4                # transient failures retry with exponential backoff, then `dead`
lease_seconds = 60
timeout_seconds = 300           # a job running longer is killed and retried
backoff_seconds = 5
backoff_max_seconds = 600
worker_memory_mb = 0            # address-space cap (RLIMIT_AS) on the model worker, in MiB: a task
                                # that eats memory fails `out_of_memory` instead of starving the
                                # machine. 0 = model file + 4 GiB + 128 MiB per CPU; -1 = no cap

# Recurring jobs. cron is a crontab line in local time: minute hour day month day-of-week
# (0 or 7 = Sunday). A fire only queues a job keyed by its period, so it runs once per period
# however often it fires; a fire missed while the machine slept or the daemon was stopped runs
# once at the next start. `mustelid schedules` shows next and last fires. Plugins bring default
# schedules (the summaries plugin's daily_summary, shown below): writing any [schedules.NAME]
# table replaces that default set; an empty [schedules] table turns it off.
# [schedules.daily_summary]
# task = "summaries"            # spending, todos and screenshots of the day, as Markdown in outbox/
# cron = "0 18 * * *"           # every day at 18:00
# params = { period = "day" }   # "day" or "week" (Monday to Sunday) containing the fire
# [schedules.weekly_summary]
# task = "summaries"
# cron = "0 18 * * 0"           # Sundays at 18:00
# params = { period = "week" }
"""


def model_key(config: Config) -> str:
    """The model part of idempotency keys, known without loading (or hashing) the model: the
    catalog name, or the configured sha256 / path of a custom GGUF."""
    m = config.model
    if m.path:
        return f"{m.backend}:{m.sha256 or Path(m.path).expanduser().resolve()}"
    return f"{m.backend}:{m.name}"
