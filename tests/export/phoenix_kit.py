"""Arize Phoenix for the real-backend export test: installed from PyPI into a throwaway environment under
the repository's ``.tmp/`` (kept and reused while it works), started on loopback ports, stopped by PID.

Cost, measured on a 2-core machine shared with other builds (load average about 13): the install takes
8 min 45 s with a cold pip cache and 5 min 20 s with a warm one, for an 860 MB environment; later runs reuse
it. Phoenix then starts in 27-35 s (imports and database migrations), and the whole test takes about 70 s."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".tmp" / "phoenix-venv"
READY = VENV / ".traceanalyzer-ready"
PACKAGES = ("arize-phoenix==20.26.1", "arize-phoenix-client==3.5.0")
INSTALL_TIMEOUT_S = 1800
START_TIMEOUT_S = 240


class Unavailable(Exception):
    """Phoenix could not be installed or started here; the message says why."""


def _python() -> Path:
    return VENV / "bin" / "python"


_BACKGROUND: Future[Path] | None = None


def install_in_background() -> None:
    """Start the install in a thread when the environment is not ready, so that the rest of the suite runs
    meanwhile (the test suite's conftest calls this once the Phoenix test is selected); ``ensure_installed``
    waits for it."""
    global _BACKGROUND
    if _BACKGROUND is None and not (READY.exists() and _python().exists()):
        _BACKGROUND = ThreadPoolExecutor(1, thread_name_prefix="phoenix-install").submit(_install)


def ensure_installed() -> Path:
    """The Phoenix environment's Python, installing Phoenix first when the environment is missing or was
    left half-installed (``READY`` is written only after a complete install)."""
    if _BACKGROUND is not None:
        return _BACKGROUND.result()
    if READY.exists() and _python().exists():
        return _python()
    return _install()


def _install() -> Path:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, capture_output=True)
        done = subprocess.run(
            [str(_python()), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), *PACKAGES],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            env=env,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(f"cannot create the Phoenix environment in {VENV}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise Unavailable(f"pip could not install {' '.join(PACKAGES)}: {' | '.join(tail)}")
    READY.write_text(" ".join(PACKAGES) + "\n", encoding="utf-8")
    return _python()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextmanager
def phoenix_server(workdir: Path) -> Iterator[str]:
    """Start ``phoenix serve`` on free loopback ports with its database in ``workdir``; yield its URL."""
    python = ensure_installed()
    port = _free_port()
    env = {
        **os.environ,
        "HOME": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_SQL_DATABASE_URL": f"sqlite:///{workdir / 'phoenix.db'}",
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    log = open(workdir / "phoenix.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(python), "-m", "phoenix.server.main", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None:
                tail = (workdir / "phoenix.log").read_text(errors="replace").strip().splitlines()[-5:]
                raise Unavailable(f"phoenix serve exited with {process.returncode}: {' | '.join(tail)}")
            if time.monotonic() > deadline:
                raise Unavailable(f"phoenix serve not healthy after {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_for_spans(url: str, project: str, count: int, timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """Every span of ``project`` once it holds at least ``count`` (or ``timeout_s`` passed), read through
    Phoenix's own client in the Phoenix environment (one process: the client is slow to import)."""
    done = subprocess.run(
        [
            str(_python()),
            str(Path(__file__).with_name("phoenix_read.py")),
            url,
            project,
            str(count),
            str(timeout_s),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s + 180,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
