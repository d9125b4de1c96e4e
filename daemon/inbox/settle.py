"""When a file is fully written: its size and mtime held still for long enough."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable, Iterable


@dataclasses.dataclass
class _Seen:
    signature: tuple[int, int]       # (size, mtime_ns)
    since: float                     # clock() when this signature was first seen
    reported: bool = False
    closed: bool = False             # its writer closed it at this signature: ready now


class StabilityTracker:
    """Decides when a file is fully written: its (size, mtime_ns) held still for
    ``stable_seconds`` on a monotonic clock (paperless-ngx's FileStabilityTracker, fed by scans).

    Any change restarts the timer. ``ready()`` reports each stable version of a file once, so a
    periodic rescan does not re-ingest the same file every time; a later change (new size or
    mtime) makes it a new version that is reported again. Call ``forget(path)`` when a file is
    gone, or after a transient ingest failure so that the next scan reports it again.

    An empty file is almost always one that is about to be written, so it must hold still for
    ``empty_seconds`` (default: ten times ``stable_seconds``, at least 5 s) before it is reported.
    It is reported in the end, so that ingest can refuse it with a reason: a file that stays
    empty (or a FIFO or socket, whose size is 0) would otherwise sit in the inbox unexplained,
    and keep ``mustelid run --once`` from ever finishing.

    A file whose writer closed it after writing (``closed``) is ready at once, without the
    wait, as long as its signature stays the one seen at the close; any later change makes it an
    ordinary file again that must hold still. An empty file never takes this shortcut (an empty
    file closed is usually a placeholder about to be reopened and written).

    The clock is injected so tests and the daemon's loop(now) can drive time. Not thread-safe:
    call it from the daemon's loop only.
    """

    def __init__(self, stable_seconds: float, clock: Callable[[], float] = time.monotonic,
                 empty_seconds: float | None = None):
        self.stable_seconds = stable_seconds
        self.empty_seconds = (max(5.0, 10 * stable_seconds) if empty_seconds is None
                              else empty_seconds)
        self._clock = clock
        self._seen: dict[Hashable, _Seen] = {}

    def observe(self, path: Hashable, size: int, mtime_ns: int) -> None:
        signature = (size, mtime_ns)
        seen = self._seen.get(path)
        if seen is None or seen.signature != signature:
            self._seen[path] = _Seen(signature, self._clock())

    def closed(self, path: Hashable, size: int, mtime_ns: int) -> None:
        """The writer closed ``path`` at (size, mtime_ns): ready now unless empty."""
        self.observe(path, size, mtime_ns)
        self._seen[path].closed = size > 0

    def closed_at(self, path: Hashable) -> tuple[int, int] | None:
        """The signature a file was closed at, if it is ready by its close (not by waiting)."""
        seen = self._seen.get(path)
        return seen.signature if seen is not None and seen.closed else None

    def ready(self, limit: int | None = None) -> list[Hashable]:
        """Paths whose current version held still for ``stable_seconds`` and was not reported
        yet, oldest first. ``limit`` caps how many are reported (and marked reported) per call,
        so a caller can ingest a burst in slices and still answer signals between them; the rest
        are reported by later calls."""
        now = self._clock()
        out: list[Hashable] = []
        for path, seen in sorted(self._seen.items(), key=lambda item: item[1].since):
            if limit is not None and len(out) >= limit:
                break
            if seen.reported:
                continue
            if seen.closed or now - seen.since >= self._wait(seen):
                seen.reported = True
                out.append(path)
        return out

    def counts(self) -> dict[str, int]:
        """For `mustelid status`: tracked paths still settling (being written, or not yet still
        for long enough) and those ready but not yet handed out (an ingest backlog)."""
        now, settling, ready = self._clock(), 0, 0
        for seen in self._seen.values():
            if seen.reported:
                continue
            if seen.closed or now - seen.since >= self._wait(seen):
                ready += 1
            else:
                settling += 1
        return {"tracking": len(self._seen), "settling": settling, "ready": ready}

    def _wait(self, seen: _Seen) -> float:
        return self.empty_seconds if seen.signature[0] == 0 else self.stable_seconds

    def forget(self, path: Hashable) -> None:
        self._seen.pop(path, None)

    def retain(self, present: Iterable[Hashable]) -> None:
        """Forget every path not in ``present`` (the paths the latest full scan found), so files
        deleted from the inbox do not pile up in memory."""
        keep = set(present)
        for path in [p for p in self._seen if p not in keep]:
            del self._seen[path]

    def __contains__(self, path: Hashable) -> bool:
        return path in self._seen

    def __len__(self) -> int:
        return len(self._seen)
