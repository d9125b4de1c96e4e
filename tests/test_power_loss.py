"""Power loss: what an acknowledged commit is worth, and when a user's file may be moved.

1. A simulated power cut (an apsw VFS). Every write lands in a page cache; only ``xSync`` makes
   it durable; a cut throws the page cache away, keeping a random subset of the unsynced writes
   (a disk may have written some of them on its own, in any order). The workload is the real
   ledger code (``store.files.record_ingest``, ``Ledger.claim`` / ``complete`` / ``recover``, the
   real migrations) run through a thin sqlite3-compatible shim over an apsw connection in WAL
   mode. After each cut the database is reopened and every commit that had been acknowledged is
   looked for. ``synchronous=FULL`` must lose none; ``NORMAL`` is run too, to show that the
   harness does see losses (so this test can fail).
2. The product opens its database with ``synchronous=FULL`` (otherwise 1. proves nothing).
3. The done folder: the daemon is SIGKILLed right after it moved a file (the worst moment);
   after the restart the job of every moved file is ``done`` and has its result.

Fast tier: 100 cuts per mode. Slow tier: 1,000 cuts per mode.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time

import pytest
from conftest import write_config
from daemonproc import DaemonProcess, cli, cli_json, wait_for
from invariants import assert_invariants, running, watch_outside


@pytest.fixture
def outside(fake_home, tmp_path, monkeypatch):
    return watch_outside(fake_home, tmp_path, monkeypatch)


apsw = pytest.importorskip("apsw", reason="pip install -e '.[dev]' (apsw simulates power loss)")

DB_NAME = "ledger.db"


class PowerCut(Exception):
    pass


# --- a disk with a page cache ------------------------------------------------------------------


class SimFile:
    """One file's bytes: what is on the platter, and the writes still in the page cache."""

    def __init__(self, durable: bytes = b""):
        self.durable = bytearray(durable)
        self.current = bytearray(durable)
        self.pending: list[tuple[str, int, bytes]] = []     # ("w", offset, data) | ("t", size, b"")

    @staticmethod
    def _apply(buf: bytearray, op: tuple[str, int, bytes]) -> None:
        kind, offset, data = op
        if kind == "t":
            del buf[offset:]
            return
        if len(buf) < offset:
            buf.extend(b"\0" * (offset - len(buf)))
        buf[offset:offset + len(data)] = data

    def write(self, data: bytes, offset: int) -> None:
        op = ("w", offset, bytes(data))
        self._apply(self.current, op)
        self.pending.append(op)

    def truncate(self, size: int) -> None:
        op = ("t", size, b"")
        self._apply(self.current, op)
        self.pending.append(op)

    def sync(self) -> None:
        for op in self.pending:
            self._apply(self.durable, op)
        self.pending.clear()

    def after_cut(self, rng: random.Random) -> "SimFile":
        survived = bytearray(self.durable)
        for op in self.pending:          # the drive may have flushed any of them by itself
            if rng.random() < 0.5:
                self._apply(survived, op)
        return SimFile(bytes(survived))


class Disk:
    """Files by name, a countdown to the next power cut, and the cut itself."""

    def __init__(self, seed: int):
        self.files: dict[str, SimFile] = {}
        self.rng = random.Random(seed)
        self.countdown: int | None = None
        self.dead = False

    def tick(self) -> None:
        if self.dead:
            raise PowerCut("the power is off")
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown <= 0:
                self.dead = True
                raise PowerCut("power cut")

    def cut_and_reboot(self) -> None:
        # Names are treated as durable once created (SQLite fsyncs the directory when it makes a
        # journal); contents are not.
        self.files = {name: f.after_cut(self.rng) for name, f in self.files.items()}
        self.dead = False
        self.countdown = None


class SimHandle:
    """The VFS file object apsw calls. Locks are no-ops: one connection, locking_mode EXCLUSIVE
    (a Python VFS has no shared memory, and WAL then keeps its index on the heap)."""

    def __init__(self, disk: Disk, name: str):
        self.disk, self.name = disk, name
        self.file = disk.files.setdefault(name, SimFile())

    def xRead(self, amount, offset):
        if self.disk.dead:
            raise PowerCut("the power is off")
        return bytes(self.file.current[offset:offset + amount])   # short read: zero-filled

    def xWrite(self, data, offset):
        self.disk.tick()
        self.file.write(data, offset)

    def xTruncate(self, size):
        self.disk.tick()
        self.file.truncate(size)

    def xSync(self, flags):
        self.disk.tick()
        self.file.sync()

    def xFileSize(self):
        return len(self.file.current)

    def xLock(self, level):
        pass

    def xUnlock(self, level):
        pass

    def xCheckReservedLock(self):
        return False

    def xFileControl(self, op, ptr):
        return False

    def xSectorSize(self):
        return 4096

    def xDeviceCharacteristics(self):
        return 0          # promise nothing: no atomic writes, no safe append, no powersafe overwrite

    def xClose(self):
        pass


class SimVFS(apsw.VFS):
    def __init__(self, name: str, disk: Disk):
        self.disk = disk
        super().__init__(name, "")

    def xOpen(self, name, flags):
        if name is None:
            name = f"temp-{self.disk.rng.random()}"
        elif not isinstance(name, str):
            name = name.filename()
        flags[1] = flags[0]
        return SimHandle(self.disk, name)

    def xDelete(self, name, syncdir):
        self.disk.tick()
        self.disk.files.pop(name, None)

    def xAccess(self, name, flags):
        return name in self.disk.files

    def xFullPathname(self, name):
        return name


# --- sqlite3 manners over apsw, enough for sqlite-utils and the ledger --------------------------


_IMPLICIT_BEGIN = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class ShimCursor:
    def __init__(self, conn, sql, params):
        described: list = []

        def trace(cursor, statement, bindings):
            try:
                described.append(cursor.get_description())
            except Exception:
                described.append(())
            return True

        cur = conn.cursor()
        cur.exec_trace = trace
        cur.execute(sql, params if params is not None else ())
        self._rows = list(cur)
        desc = described[-1] if described else ()
        self.description = tuple((d[0],) + (None,) * 6 for d in desc) or None
        first = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        self.rowcount = conn.changes() if first in _IMPLICIT_BEGIN else -1
        self.lastrowid = conn.last_insert_rowid()
        self._i = 0

    def fetchone(self):
        if self._i >= len(self._rows):
            return None
        self._i += 1
        return self._rows[self._i - 1]

    def fetchall(self):
        rows, self._i = self._rows[self._i:], len(self._rows)
        return rows

    def __iter__(self):
        while (row := self.fetchone()) is not None:
            yield row

    def close(self):
        pass


class ShimConnection:
    """sqlite3's legacy transaction control: a DML statement outside a transaction opens one."""

    def __init__(self, conn):
        self._conn = conn

    @property
    def in_transaction(self):
        return self._conn.in_transaction

    def execute(self, sql, params=None):
        first = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if first in _IMPLICIT_BEGIN and not self._conn.in_transaction:
            self._conn.execute("BEGIN")
        return ShimCursor(self._conn, sql, params)

    def cursor(self):
        return self

    def commit(self):
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self):
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        self.commit() if kind is None else self.rollback()
        return False

    def create_function(self, *args, **kwargs):
        self._conn.create_scalar_function(args[0], args[2], args[1] if len(args) > 1 else -1)


# --- the workload ------------------------------------------------------------------------------


def _echo_migrations():
    from sqlite_utils.migrations import Migrations

    m = Migrations("powerloss-echo")

    @m()
    def m001_echoes(db):
        db["echoes"].create({"id": int, "job_id": str, "text": str}, pk="id")

    return m


class Harness:
    """Runs the ledger against the simulated disk and remembers every acknowledged commit."""

    def __init__(self, synchronous: str, seed: int):
        self.synchronous = synchronous
        self.disk = Disk(seed)
        self.vfs_name = f"powercut-{synchronous}-{seed}-{id(self)}"
        self.vfs = SimVFS(self.vfs_name, self.disk)
        self.rng = random.Random(seed + 1)
        self.acked_ingest: dict[str, str] = {}      # idempotency key -> sha256
        self.acked_done: set[str] = set()           # job ids whose complete() returned True
        self.acked_claim: set[str] = set()          # job ids whose claim returned them
        self.commits = 0
        self.lost = 0
        self.boots = 0
        self.next_file = 0
        self.conn = None

    def boot(self):
        from mustelid.store import migrate
        from mustelid.store.ledger import Ledger
        import sqlite_utils

        self.boots += 1
        conn = apsw.Connection(DB_NAME, vfs=self.vfs_name)
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
        assert mode == "wal"
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        self.conn = conn
        db = sqlite_utils.Database(ShimConnection(conn), execute_plugins=False)
        migrate(db, [_echo_migrations()])
        self.db = db
        self.ledger = Ledger(db)
        self.owner = f"boot-{self.boots}"
        self.ledger.recover()

    def ingest_one(self):
        from mustelid.store import files as store_files

        n = self.next_file
        self.next_file += 1
        sha = hashlib.sha256(f"file {n}".encode()).hexdigest()
        key = f"{sha}:echo:1:fake"
        store_files.record_ingest(
            self.ledger, sha256=sha, size=10, mime="text/plain",
            archived_path=f"/archive/{sha}.txt", original_path=f"/inbox/{n}.txt",
            original_name=f"{n}.txt", mtime_ns=n,
            jobs=[{"task": "echo", "task_version": "1", "idempotency_key": key,
                   "max_attempts": 1000, "model_id": "fake"}])
        self.acked_ingest[key] = sha
        self.commits += 1

    def work_one(self) -> bool:
        job = self.ledger.claim(self.owner, 60)
        if job is None:
            return False
        self.acked_claim.add(job["id"])
        self.commits += 1
        text = f"result of {job['idempotency_key'][:12]}"
        ok = self.ledger.complete(
            job["id"], self.owner, {"text": text}, stats={"model_id": "fake"},
            persist=lambda db, row: db["echoes"].insert({"job_id": row["id"], "text": text}))
        assert ok
        self.acked_done.add(job["id"])
        self.commits += 1
        return True

    def step(self):
        if self.rng.random() < 0.6:
            self.ingest_one()
        else:
            self.work_one()

    def check_after_boot(self) -> int:
        """Count acknowledged commits that did not survive; check integrity and uniqueness."""
        q = lambda sql, *a: self.db.execute(sql, list(a)).fetchall()
        assert q("PRAGMA integrity_check") == [("ok",)]
        keys = {k for (k,) in q("SELECT idempotency_key FROM jobs")}
        lost = sum(1 for k in self.acked_ingest if k not in keys)
        states = dict(q("SELECT id, state FROM jobs"))
        results = {j for (j,) in q("SELECT job_id FROM results")}
        echoes = {j for (j,) in q("SELECT job_id FROM echoes")}
        lost += sum(1 for j in self.acked_done
                    if states.get(j) != "done" or j not in results or j not in echoes)
        # A claim that was acknowledged left the job running (recover() requeues it, counted).
        attempts = dict(q("SELECT id, attempts FROM jobs"))
        lost += sum(1 for j in self.acked_claim if attempts.get(j, 0) < 1)
        assert q("SELECT j.idempotency_key FROM results r JOIN jobs j ON j.id = r.job_id"
                 " GROUP BY j.idempotency_key HAVING COUNT(*) > 1") == []
        assert q("SELECT job_id FROM echoes GROUP BY job_id HAVING COUNT(*) > 1") == []
        return lost

    def crash_and_recover(self):
        try:
            self.conn.close(True)
        except Exception:
            pass
        self.disk.cut_and_reboot()
        self.boot()             # reopening runs WAL recovery and ledger.recover()
        self.lost += self.check_after_boot()
        # Forget what is already counted as lost, so it is not counted again after the next cut.
        keys = {k for (k,) in self.db.execute("SELECT idempotency_key FROM jobs").fetchall()}
        self.acked_ingest = {k: v for k, v in self.acked_ingest.items() if k in keys}
        done = {j for (j,) in self.db.execute("SELECT id FROM jobs WHERE state = 'done'").fetchall()}
        self.acked_done &= done
        self.acked_claim = {j for j in self.acked_claim
                            if (self.db.execute("SELECT attempts FROM jobs WHERE id = ?", [j])
                                .fetchone() or (0,))[0] >= 1}

    def run(self, cuts: int) -> dict:
        self.boot()
        for _ in range(cuts):
            self.disk.countdown = self.rng.randint(1, 4000)
            while True:
                try:
                    self.step()
                except Exception:
                    if not self.disk.dead:
                        raise
                    break
            self.crash_and_recover()
        while self.work_one():           # power stays on: everything left gets done
            pass
        q = lambda sql: self.db.execute(sql).fetchall()
        final = dict(q("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
        assert set(final) <= {"done"}, final
        assert q("SELECT COUNT(*) FROM results")[0][0] == final.get("done", 0)
        self.conn.close()
        return {"cuts": cuts, "acked_commits": self.commits, "lost": self.lost,
                "jobs": final.get("done", 0)}


def power_cuts(cuts: int, seed: int) -> tuple[dict, dict]:
    full = Harness("FULL", seed).run(cuts)
    normal = Harness("NORMAL", seed).run(cuts)
    print(f"\n{cuts} power cuts, synchronous=FULL:   {full['acked_commits']} acknowledged "
          f"commits, {full['lost']} lost ({full['jobs']} jobs done, one result each)"
          f"\n{cuts} power cuts, synchronous=NORMAL: {normal['acked_commits']} acknowledged "
          f"commits, {normal['lost']} lost")
    return full, normal


def test_power_cut_loses_no_acknowledged_commit_under_synchronous_full():
    full, normal = power_cuts(100, seed=11)
    assert full["lost"] == 0
    assert normal["lost"] > 0, "the harness must be able to see a lost commit"


@pytest.mark.slow
def test_power_cut_full_count():
    full, normal = power_cuts(1000, seed=12)
    assert full["lost"] == 0
    assert normal["lost"] > 0


def test_the_product_opens_its_database_with_synchronous_full(tmp_path):
    from mustelid.store import open_db

    db = open_db(tmp_path / "m.db")
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2        # FULL
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- the done folder: a file is moved only on the strength of a durable commit -------------------


def test_kill9_right_after_a_move_to_done_finds_the_job_done(fake_home, outside, tmp_path,
                                                               monkeypatch):
    done = tmp_path / "done"
    text = (fake_home / "config.toml").read_text()
    write_config(fake_home, text.replace("[inbox]\n", f'[inbox]\ndone_folder = "{done}"\n'))
    monkeypatch.setenv("MUSTELID_TEST_KILL_AFTER_MOVE", "1")
    outside.allow(done)
    inbox = fake_home / "inbox"
    inbox.mkdir()
    names = [f"note-{i}.txt" for i in range(6)]
    for i, name in enumerate(names):
        (inbox / name).write_text(f"moved after commit {i}")
    dropped = [inbox / n for n in names]
    kills = 0
    deadline = time.monotonic() + 120
    while len(list(done.glob("*.txt")) if done.exists() else []) < len(names):
        assert time.monotonic() < deadline, "files were not all moved"
        d = DaemonProcess(fake_home)
        code = d.wait(60)
        assert code == -9, d.output()[-2000:]            # it killed itself right after a move
        kills += 1
        moved = {p.name for p in done.glob("*.txt")}
        db = sqlite3.connect(fake_home / "data" / "mustelid.db")
        for name in moved:
            sha = hashlib.sha256((done / name).read_bytes()).hexdigest()
            states = db.execute("SELECT j.state, COUNT(r.id) FROM jobs j LEFT JOIN results r"
                                " ON r.job_id = j.id WHERE j.input_sha256 = ?"
                                " GROUP BY j.id", [sha]).fetchall()
            assert states == [("done", 1)], (name, states)
        db.close()
    assert kills == len(names)
    assert not any(inbox.glob("*.txt"))
    assert_invariants(fake_home, dropped=dropped, moved_to=done, outside=outside)
    print(f"\n{kills} kill -9 right after a move to the done folder: every moved file's job done"
          f" with one result")


def _with_done_folder(home, done, extra="", stable_seconds=0.3):
    text = (home / "config.toml").read_text().replace("stable_seconds = 0.3\n", "")
    write_config(home, text.replace("[inbox]\n", f'[inbox]\ndone_folder = "{done}"\n'
                                    f"stable_seconds = {stable_seconds}\n{extra}"))


def test_a_crash_between_commit_and_move_still_moves_the_file_later(fake_home, tmp_path,
                                                                     monkeypatch):
    done = tmp_path / "done"
    _with_done_folder(fake_home, done, "rescan_seconds = 1\n")
    (fake_home / "inbox").mkdir()
    (fake_home / "inbox" / "a.txt").write_text("committed then killed")
    monkeypatch.setenv("MUSTELID_TEST_KILL_ON_DONE", "1")
    d = DaemonProcess(fake_home)
    assert d.wait(60) == -9                     # killed itself after the commit, before the move
    monkeypatch.delenv("MUSTELID_TEST_KILL_ON_DONE")
    assert cli_json("jobs")[0]["state"] == "done"
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: (done / "a.txt").exists(), timeout=6, what="the file to be moved")
    finally:
        d.stop()


def test_a_new_version_saved_while_the_old_one_runs_is_processed_not_moved(fake_home, tmp_path):
    """The old version's job ending must not move the new version away unprocessed: whenever
    the new version is moved (a close-write makes it ready at once, so it may be processed and
    moved within a second of the old job's end), its own job is done and the done folder holds
    its bytes."""
    done = tmp_path / "done"
    _with_done_folder(fake_home, done, "rescan_seconds = 1\n", stable_seconds=12)
    config = fake_home / "config.toml"
    config.write_text(config.read_text().replace("timeout_seconds = 5", "timeout_seconds = 30"))
    inbox = fake_home / "inbox"
    inbox.mkdir()
    path = inbox / "receipt.txt"
    path.write_text("SLOWER first version")
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: running(fake_home), timeout=30, interval=0.05,
                 what="the first version's job to start")
        second = "second version, saved by the user meanwhile"
        path.write_text(second)
        new_sha = hashlib.sha256(path.read_bytes()).hexdigest()
        db_path = fake_home / "data" / "mustelid.db"

        def second_version_state():
            rows = sqlite3.connect(db_path).execute(
                "SELECT state FROM jobs WHERE input_sha256 = ?", [new_sha]).fetchall()
            return rows

        # Watch every step: the moment the inbox copy is gone, the new version's job is done.
        deadline = time.monotonic() + 90
        while path.exists():
            assert time.monotonic() < deadline, "the second version was never moved"
            time.sleep(0.05)
        assert second_version_state() == [("done",)], \
            "the unprocessed new version was moved to the done folder"
        assert (done / "receipt.txt").read_text() == second
        assert cli_json("status")["jobs"]["done"] == 2
    finally:
        d.stop()


def test_done_folder_moves_only_inbox_files_still_as_ingested(fake_home, tmp_path):
    """`mustelid submit` of a file outside the inbox: processed, never moved (it crashed the
    daemon: the move raised ValueError). A second copy of already-processed bytes is moved by
    the sweep, though no job of its own ends."""
    done = tmp_path / "done"
    _with_done_folder(fake_home, done)
    inbox = fake_home / "inbox"
    inbox.mkdir()
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("submitted from elsewhere")
    cli("submit", str(elsewhere))
    (inbox / "a.txt").write_text("same bytes twice")
    proc = cli("run", "--once", timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert elsewhere.exists() and (done / "a.txt").exists()
    (inbox / "copy.txt").write_text("same bytes twice")       # its job is already done
    proc = cli("run", "--once", timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (done / "copy.txt").exists() and not (inbox / "copy.txt").exists()
    assert elsewhere.exists() and {j["state"] for j in cli_json("jobs")} == {"done"}
