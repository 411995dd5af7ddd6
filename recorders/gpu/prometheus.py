"""Scraping a Prometheus text endpoint (DCGM exporter, vLLM/SGLang/TGI ``/metrics``) with aiohttp.

The body is parsed by ``prometheus_client``'s text parser. ``_bucket`` lines are dropped before parsing:
no recorder keeps histogram buckets (histograms are kept as ``_sum`` and ``_count``), and they are most of a
serving engine's exposition, so skipping them keeps a 10 Hz scrape cheap.

Every failure of one scrape (timeout, refused connection, HTTP status other than 200, a body that is not
Prometheus text, an empty body) raises :class:`ScrapeError` with a one-line message; the recorders turn it
into an event and try again on the next tick, or into ``SourceUnreachableError`` on the first scrape.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

ACCEPT = "text/plain;version=0.0.4;q=1.0, */*;q=0.1"


class ScrapeError(Exception):
    """One scrape failed; ``str(err)`` says how in one line."""


def drop_buckets(text: str) -> str:
    """The exposition text without the ``_bucket`` samples of families declared ``histogram``."""
    if "_bucket" not in text:
        return text
    histograms: set[str] = set()
    kept = []
    for line in text.split("\n"):
        if line.startswith("# TYPE ") and line.rstrip().endswith(" histogram"):
            parts = line.split()
            if len(parts) == 4:
                histograms.add(parts[2] + "_bucket")
        elif "_bucket" in line and line.split("{", 1)[0].split(" ", 1)[0] in histograms:
            continue
        kept.append(line)
    return "\n".join(kept)


def parse_text(text: str) -> list[Metric]:
    """Metric families of a Prometheus text exposition (buckets dropped); ScrapeError when it is not one."""
    try:
        families = list(text_string_to_metric_families(drop_buckets(text)))
    except (ValueError, IndexError, TypeError) as exc:
        raise ScrapeError(f"not Prometheus text ({_short(exc)})") from None
    if not families:
        raise ScrapeError("no metrics in the response")
    return families


def _short(exc: BaseException, limit: int = 160) -> str:
    text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PrometheusScraper:
    """GETs one ``/metrics`` URL per call of :meth:`scrape` over one aiohttp session.

    Use as an async context manager. ``timeout_s`` bounds the whole request (connect, headers, body).
    """

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrometheusScraper:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers={"Accept": ACCEPT},
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self) -> str:
        """The response body; ScrapeError on timeout, connection failure or an HTTP status other than 200."""
        if self._session is None:
            await self.__aenter__()
        assert self._session is not None
        try:
            async with self._session.get(self.url, allow_redirects=True) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise ScrapeError(f"HTTP {resp.status} {resp.reason or ''}".strip())
        except TimeoutError:
            raise ScrapeError(f"timed out after {self.timeout_s:g} s") from None
        except aiohttp.InvalidURL:
            raise ScrapeError(f"invalid URL {self.url!r}") from None
        except aiohttp.ClientError as exc:
            raise ScrapeError(f"{type(exc).__name__}: {_short(exc)}") from None
        except OSError as exc:
            raise ScrapeError(f"{type(exc).__name__}: {_short(exc)}") from None
        return body.decode("utf-8", "replace")

    async def scrape(self) -> list[Metric]:
        """Fetch and parse: the metric families, or ScrapeError."""
        return parse_text(await self.fetch())
