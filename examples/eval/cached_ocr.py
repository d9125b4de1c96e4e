"""A worker context whose OCR is cached in a pickle beside the outputs, for the offline tools
here (``offline_todos.py``, ``kind_features.py``): the second run of a tool reads no picture."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any


class CachedOcr:
    """``host``, and ``ctx`` (a ``WorkerContext``) whose ``ocr`` reads ``cache_file`` first;
    ``save()`` writes what was read back, once, at the end."""

    def __init__(self, cache_file: Path):
        from mustelid.config import load_config
        from mustelid.host import Host
        from mustelid.worker import WorkerContext

        config = load_config()
        self.host = Host(config.plugins_path)
        self.ctx = WorkerContext(config, self.host)
        self.file = cache_file
        self.lines: dict[str, list[Any]] = (pickle.loads(cache_file.read_bytes())
                                            if cache_file.exists() else {})
        self._read = self.ctx.ocr
        self.ctx.ocr = self.ocr

    def ocr(self, path: str) -> list[Any]:
        key = str(Path(path).resolve())
        if key not in self.lines:
            self.lines[key] = list(self._read(path))
        return self.lines[key]

    def save(self) -> None:
        self.file.write_bytes(pickle.dumps(self.lines))
