"""Start a real Prometheus server for a test or a benchmark: ``run_prometheus``.

Example::

    from recorders.prometheus_import.testing import prometheus_binary, run_prometheus

    with run_prometheus({"engine": sim.metrics_url, "dcgm": sim.dcgm_url}, tmp_path, interval_s=1) as prom:
        ...                                   # prom.url is the query API base URL

- Runs the ``prometheus`` binary (``PROMETHEUS`` in the environment, else ``prometheus`` on PATH; the
  Debian package installs ``/usr/bin/prometheus``) on a free 127.0.0.1 port, with a generated config that
  scrapes each target URL as its own job every ``interval_s`` seconds, and its storage in ``workdir``.
- Waits (``start_timeout`` at most) until ``/-/ready`` answers 200; ``handle.wait_scraped()`` waits until
  every target has been scraped once.
- On exit: SIGTERM, then SIGKILL, of that process only (by its PID).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from recorders.simserver.testing import stop_process


def prometheus_binary() -> str | None:
    """The Prometheus server binary, or None when it is not installed."""
    return os.environ.get("PROMETHEUS") or shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrometheusHandle:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    jobs: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_scraped(self, timeout: float = 30.0) -> None:
        """Wait until every job has been scraped successfully (``up == 1``). Prometheus starts scraping a
        few seconds after it is ready (its target discovery sends updates at most every 5 s)."""
        deadline = time.monotonic() + timeout
        query = urllib.parse.urlencode({"query": "up == 1"})
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=2.0) as resp:
                    doc = json.load(resp)
                up = {r["metric"].get("job") for r in doc["data"]["result"]}
                if set(self.jobs) <= up:
                    return
            except (urllib.error.URLError, OSError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"prometheus did not scrape {', '.join(self.jobs)} in {timeout:g} s:\n{self.log()}"
        )


def scrape_config(targets: Mapping[str, str], interval_s: float) -> str:
    """A Prometheus config scraping each ``job name -> metrics URL`` every ``interval_s``."""
    ms = max(1, round(interval_s * 1000))
    lines = ["global:", f"  scrape_interval: {ms}ms", f"  scrape_timeout: {ms}ms"]
    lines.append("scrape_configs:" if targets else "scrape_configs: []")
    for job, url in targets.items():
        parts = urlsplit(url)
        lines += [
            f"  - job_name: {job}",
            f"    scheme: {parts.scheme}",
            f"    metrics_path: {parts.path or '/metrics'}",
            f"    static_configs: [{{targets: ['{parts.netloc}']}}]",
        ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def run_prometheus(
    targets: Mapping[str, str],
    workdir: Path,
    *,
    interval_s: float = 1.0,
    start_timeout: float = 30.0,
) -> Iterator[PrometheusHandle]:
    """Run Prometheus scraping ``targets`` for the duration of the block (see the module docstring)."""
    binary = prometheus_binary()
    if binary is None:
        raise RuntimeError("the prometheus binary is not installed (apt-get install prometheus)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(scrape_config(targets, interval_s))
    port = free_port()
    log_path = workdir / "prometheus.log"
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    handle = PrometheusHandle(port, process, log_path, tuple(targets))
    try:
        deadline = time.monotonic() + start_timeout
        while not _ready(f"{handle.url}/-/ready"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start:\n{handle.log()[-3000:]}")
            time.sleep(0.05)
        yield handle
    finally:
        stop_process(process)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False
