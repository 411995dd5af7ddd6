"""DCGM backend: scrape an NVIDIA DCGM exporter's Prometheus endpoint (``http://gpu-host:9400/metrics``).

One ``gpu`` record per GPU label set (``gpu``, ``UUID``, and ``GPU_I_ID`` for a MIG instance) per tick,
stamped with the tick time (the scrape's start). Fields, as the exporter's default counters name them:

| record field   | DCGM field                                                                 | unit |
| -------------- | -------------------------------------------------------------------------- | ---- |
| util_pct       | DCGM_FI_DEV_GPU_UTIL (else 100 x DCGM_FI_PROF_GR_ENGINE_ACTIVE, e.g. MIG)   | %    |
| mem_util_pct   | DCGM_FI_DEV_MEM_COPY_UTIL                                                  | %    |
| mem_used_mib   | DCGM_FI_DEV_FB_USED                                                        | MiB  |
| mem_total_mib  | DCGM_FI_DEV_FB_TOTAL, else FB_USED + FB_FREE (+ FB_RESERVED when exported)  | MiB  |
| power_w        | DCGM_FI_DEV_POWER_USAGE                                                    | W    |
| temp_c         | DCGM_FI_DEV_GPU_TEMP                                                       | C    |
| sm_clock_mhz   | DCGM_FI_DEV_SM_CLOCK                                                       | MHz  |

``name`` comes from the ``modelName`` label and ``uuid`` from ``UUID``. A MIG instance also gets
``gpu_instance`` (the ``GPU_I_ID`` label). The exporter refreshes its values every ``-c`` milliseconds
(30 s by default): run it with ``-c 1000`` or less for per-second data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from recorders.gpu.faults import FaultLog
from recorders.gpu.prometheus import PrometheusScraper, ScrapeError
from recorders.gpu.records import gpu_record, has_readings, number
from traceanalyzer.errors import SourceUnreachableError

DCGM_FIELDS: dict[str, str] = {
    "DCGM_FI_DEV_GPU_UTIL": "util_pct",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "mem_util_pct",
    "DCGM_FI_DEV_FB_USED": "mem_used_mib",
    "DCGM_FI_DEV_FB_TOTAL": "mem_total_mib",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_GPU_TEMP": "temp_c",
    "DCGM_FI_DEV_SM_CLOCK": "sm_clock_mhz",
}
# Inputs of derived fields.
FB_FREE = "DCGM_FI_DEV_FB_FREE"
FB_RESERVED = "DCGM_FI_DEV_FB_RESERVED"
GR_ENGINE_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
DCGM_INPUTS = frozenset({*DCGM_FIELDS, FB_FREE, FB_RESERVED, GR_ENGINE_ACTIVE})


def _gpu_key(labels: dict[str, str]) -> tuple[str, str, str]:
    return (labels.get("gpu", ""), labels.get("UUID", ""), labels.get("GPU_I_ID", ""))


def dcgm_records(families: Iterable[Metric], t: int) -> list[dict[str, Any]]:
    """``gpu`` records from the parsed exposition of a DCGM exporter, one per GPU label set, sorted by GPU."""
    return dcgm_sample_records((s for family in families for s in family.samples), t, source="dcgm")


def dcgm_sample_records(samples: Iterable[Sample], t: int, *, source: str) -> list[dict[str, Any]]:
    """``gpu`` records from the DCGM samples of one host at one time (a scrape, or one step of a Prometheus
    range query), one per GPU label set, sorted by GPU; samples of other metrics are ignored."""
    values: dict[tuple[str, str, str], dict[str, float]] = {}
    labels_of: dict[tuple[str, str, str], dict[str, str]] = {}
    for sample in samples:
        if sample.name not in DCGM_INPUTS:
            continue
        key = _gpu_key(sample.labels)
        labels_of.setdefault(key, sample.labels)
        # Several series per GPU (one per pod sharing it) carry the same reading: keep the first.
        values.setdefault(key, {}).setdefault(sample.name, sample.value)
    records = []
    for key, fields in values.items():
        labels = labels_of[key]
        readings: dict[str, float | None] = {
            out: number(fields.get(name)) for name, out in DCGM_FIELDS.items()
        }
        if readings["util_pct"] is None:
            readings["util_pct"] = number(fields.get(GR_ENGINE_ACTIVE), 100.0)
        if readings["mem_total_mib"] is None and "DCGM_FI_DEV_FB_USED" in fields and FB_FREE in fields:
            total = fields["DCGM_FI_DEV_FB_USED"] + fields[FB_FREE] + fields.get(FB_RESERVED, 0.0)
            readings["mem_total_mib"] = number(total)
        extra = {"gpu_instance": labels["GPU_I_ID"]} if labels.get("GPU_I_ID") else {}
        index = labels.get("gpu", "")
        rec = gpu_record(
            t=t,
            gpu=int(index) if index.isdigit() else None,
            uuid=labels.get("UUID") or None,
            name=labels.get("modelName") or None,
            readings=readings,
            source=source,
            **extra,
        )
        if has_readings(rec):
            records.append(rec)
    records.sort(key=lambda r: (r["gpu"] is None, r["gpu"] or 0, r.get("gpu_instance", "")))
    return records


class DcgmBackend:
    """GPU readings scraped from a DCGM exporter; a failed scrape is an event and is retried next tick."""

    source = "dcgm"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.url = url
        self._scraper = PrometheusScraper(url, timeout_s=timeout_s)

    async def open(self) -> None:
        await self._scraper.__aenter__()
        try:
            families = await self._scraper.scrape()
        except ScrapeError as exc:
            await self._scraper.close()
            raise SourceUnreachableError(f"cannot scrape the DCGM exporter at {self.url}: {exc}") from None
        if not any(s.name.startswith("DCGM_FI_") for f in families for s in f.samples):
            await self._scraper.close()
            raise SourceUnreachableError(
                f"{self.url} serves no DCGM_FI_* metrics; is it a DCGM exporter's /metrics?"
            )

    async def sample(self, t: int, faults: FaultLog) -> list[dict[str, Any]]:
        try:
            families = await self._scraper.scrape()
        except ScrapeError as exc:
            faults.fail(("scrape", self.url), "scrape", str(exc), url=self.url, source=self.source)
            return []
        faults.ok(("scrape", self.url))
        return dcgm_records(families, t)

    async def close(self) -> None:
        await self._scraper.close()
