"""The one JSONL trace writer every recorder uses (trace schema v1, DESIGN section 3).

- The first line of every file is a ``meta`` record: recorder, tool version, run, host, clock anchor and the
  recorder's options with secrets redacted.
- One JSON object per line, written with a single ``write`` call and flushed per record, so a recorder killed
  with SIGKILL leaves at most one partial last line. ``fsync_interval_s`` adds an ``os.fsync`` at most that
  often, for captures that must survive a host crash too.
- ``.gz`` paths are gzip-compressed; each record ends with a sync flush, so a killed writer still leaves every
  completed record readable.
- Rotation by size and/or age for long soaks: ``requests.jsonl`` becomes ``requests.0001.jsonl``,
  ``requests.0002.jsonl``, ... each starting with its own ``meta`` line.

Clock: one (wall, monotonic) anchor taken at start; every later time is ``wall0 + (mono - mono0)`` in integer
nanoseconds since the Unix epoch, so an NTP step during a soak cannot bend intervals.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from traceanalyzer.distribution import installed_version

SCHEMA_VERSION = 1

REDACTED = "<redacted>"
# A key is secret when one of its words is one of these (``max_tokens`` or ``author`` are not).
_SECRET_WORDS = frozenset(
    {"apikey", "token", "secret", "password", "passwd", "pwd", "authorization", "auth", "cookie", "bearer"}
    | {"credential", "credentials"}
)
_KEY_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:]*):[^/@\s]+@")


def _is_secret_key(key: str) -> bool:
    """Whether a config key or header name names a secret: a word like ``token``, or ``key`` after ``api``,
    ``access`` or ``secret`` (``api_key``, ``X-API-Key``, ``accessKey``)."""
    words = [w.lower() for w in _KEY_WORDS.findall(key)]
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(
        w == "key" and i > 0 and words[i - 1] in ("api", "access", "secret", "private")
        for i, w in enumerate(words)
    )


def tool_version() -> str:
    """The installed traceanalyzer version (``0+unknown`` when running from a bare source tree)."""
    return installed_version()


def clock_anchor(tries: int = 9) -> tuple[int, int]:
    """A (wall ns, monotonic ns) pair read as nearly at once as possible: the wall clock read between two
    monotonic reads, keeping the tightest of ``tries`` brackets (a preemption between two reads on a busy
    host would otherwise shift every epoch time of the run by its length)."""
    best: tuple[int, int, int] | None = None
    for _ in range(tries):
        m1 = time.monotonic_ns()
        wall = time.time_ns()
        m2 = time.monotonic_ns()
        if best is None or m2 - m1 < best[0]:
            best = (m2 - m1, wall, (m1 + m2) // 2)
    assert best is not None
    return best[1], best[2]


class Clock:
    """Epoch-nanosecond clock derived from the monotonic clock.

    ``now_ns() = wall0 + (mono() - mono0)``. ``mono`` is injectable so tests of schedules are exact; with the
    real monotonic clock and no anchor given, the anchor comes from :func:`clock_anchor`.
    """

    def __init__(
        self,
        *,
        mono: Callable[[], int] = time.monotonic_ns,
        wall_ns: int | None = None,
        mono_ns: int | None = None,
    ) -> None:
        self._mono = mono
        if wall_ns is None and mono_ns is None and mono is time.monotonic_ns:
            wall_ns, mono_ns = clock_anchor()
        self.mono0 = mono() if mono_ns is None else mono_ns
        self.wall0 = time.time_ns() if wall_ns is None else wall_ns

    def now_ns(self) -> int:
        """Current time in integer nanoseconds since the Unix epoch."""
        return self.wall0 + (self._mono() - self.mono0)

    def mono_ns(self) -> int:
        """The underlying monotonic reading, nanoseconds."""
        return self._mono()

    def to_epoch_ns(self, mono_ns: int) -> int:
        """Convert a reading of the same monotonic clock to epoch nanoseconds."""
        return self.wall0 + (mono_ns - self.mono0)

    def anchor(self) -> dict[str, int]:
        """The ``clock`` object of the meta record."""
        return {"wall_ns": self.wall0, "mono_ns": self.mono0}


def redact(config: Any) -> Any:
    """Copy ``config`` with the value of every key that looks like a secret replaced by ``<redacted>``.

    Header lists of ``"Name: value"`` strings are redacted by header name too, and a password inside a URL
    (``https://user:password@host``) is replaced.
    """
    if isinstance(config, Mapping):
        out: dict[str, Any] = {}
        for key, value in config.items():
            if _is_secret_key(str(key)) and value not in (None, "", [], {}):
                # Names of environment variables that hold a key are not secrets themselves.
                out[key] = value if str(key).endswith("_env") else REDACTED
            else:
                out[key] = redact(value)
        return out
    if isinstance(config, (list, tuple)):
        return [redact(v) for v in config]
    if isinstance(config, str) and ":" in config:
        name, _, _ = config.partition(":")
        if " " not in name.strip() and _is_secret_key(name):
            return f"{name}: {REDACTED}"
        return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", config)
    return config


def default_host() -> str:
    return socket.gethostname()


def new_run_id() -> str:
    """A short run id: UTC date-time plus 6 random hex digits."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def _dumps(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


class _GzipLineFile:
    """gzip output where every record ends with a sync flush (readable up to the last completed record)."""

    def __init__(self, path: Path) -> None:
        self._raw = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="ab")

    def write(self, data: bytes) -> None:
        self._gz.write(data)

    def flush(self) -> None:
        self._gz.flush(zlib.Z_SYNC_FLUSH)
        self._raw.flush()

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


class TraceWriter:
    """Append-only JSONL trace file with a ``meta`` first line, per-record flush and optional rotation.

    Thread-safe: one lock around each record's write and flush. Use as a context manager or call ``close``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        recorder: str,
        config: Mapping[str, Any] | None = None,
        run: str | None = None,
        host: str | None = None,
        clock: Clock | None = None,
        fsync_interval_s: float | None = None,
        rotate_bytes: int | None = None,
        rotate_seconds: float | None = None,
        extra_meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.base_path = Path(path)
        self.recorder = recorder
        self.run = run or new_run_id()
        self.host = host or default_host()
        self.clock = clock or Clock()
        self.config = redact(dict(config or {}))
        self.extra_meta = dict(extra_meta or {})
        self.fsync_interval_s = fsync_interval_s
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.records_written = 0
        self.paths: list[Path] = []
        self._lock = threading.Lock()
        self._fh: IO[bytes] | _GzipLineFile | None = None
        self._bytes = 0
        self._opened_mono = 0
        self._last_fsync_mono = 0
        self._part = 0
        self._closed = False
        self.base_path.parent.mkdir(parents=True, exist_ok=True)
        self._open_next()

    # -- file handling -------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The file being written now."""
        return self.paths[-1]

    def _part_path(self) -> Path:
        if self.rotate_bytes is None and self.rotate_seconds is None:
            return self.base_path
        name = self.base_path.name
        for suffix in (".jsonl.gz", ".jsonl", ".gz"):
            if name.endswith(suffix):
                stem, ext = name[: -len(suffix)], suffix
                break
        else:
            stem, ext = name, ""
        return self.base_path.with_name(f"{stem}.{self._part:04d}{ext}")

    def _open_next(self) -> None:
        self._part += 1
        path = self._part_path()
        if str(path).endswith(".gz"):
            self._fh = _GzipLineFile(path)
        else:
            self._fh = open(path, "ab")  # noqa: SIM115 - closed in close() / on rotation
            if self._fh.tell() > 0 and not _ends_with_newline(path):
                # Appending after a writer that was killed mid-line: keep our meta line whole.
                self._fh.write(b"\n")
        self.paths.append(path)
        self._bytes = 0
        self._opened_mono = self.clock.mono_ns()
        self._last_fsync_mono = self._opened_mono
        meta: dict[str, Any] = {
            "type": "meta",
            "v": SCHEMA_VERSION,
            "recorder": self.recorder,
            "tool_version": tool_version(),
            "run": self.run,
            "host": self.host,
            "t": self.clock.now_ns(),
            "clock": self.clock.anchor(),
            "config": self.config,
        }
        if self._part > 1:
            meta["part"] = self._part
        meta.update(self.extra_meta)
        self._write_line(meta)

    def _should_rotate(self) -> bool:
        if self.rotate_bytes is not None and self._bytes >= self.rotate_bytes:
            return True
        if self.rotate_seconds is not None:
            age_s = (self.clock.mono_ns() - self._opened_mono) / 1e9
            return age_s >= self.rotate_seconds
        return False

    def _write_line(self, record: Mapping[str, Any]) -> None:
        assert self._fh is not None
        data = (_dumps(record) + "\n").encode("utf-8")
        self._fh.write(data)  # one write call per record: a kill leaves at most one partial line
        self._fh.flush()
        self._bytes += len(data)
        if self.fsync_interval_s is not None:
            now = self.clock.mono_ns()
            if (now - self._last_fsync_mono) / 1e9 >= self.fsync_interval_s:
                os.fsync(self._fh.fileno())
                self._last_fsync_mono = now

    # -- public API ----------------------------------------------------------------------------------------
    def now_ns(self) -> int:
        """Current epoch nanoseconds from this writer's clock."""
        return self.clock.now_ns()

    def write(self, record: Mapping[str, Any]) -> None:
        """Write one record (must have ``type``; ``v`` is set to the schema version). Flushed on return."""
        if "type" not in record:
            raise ValueError("a trace record needs a 'type'")
        rec = {"type": record["type"], "v": SCHEMA_VERSION}
        rec.update((k, v) for k, v in record.items() if k not in ("type", "v"))
        with self._lock:
            if self._closed:
                raise ValueError(f"trace file {self.path} is closed")
            if self._should_rotate():
                assert self._fh is not None
                self._fh.close()
                self._open_next()
            self._write_line(rec)
            self.records_written += 1

    def event(self, name: str, detail: Any = None, t: int | None = None) -> None:
        """Write an ``event`` marker (stage change, fault, config change)."""
        self.write({"type": "event", "t": self.now_ns() if t is None else t, "name": name, "detail": detail})

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._fh is not None:
                self._fh.flush()
                if self.fsync_interval_s is not None:
                    os.fsync(self._fh.fileno())
                self._fh.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
