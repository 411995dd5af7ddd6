"""A plain Locust locustfile (no traceanalyzer code): non-streamed chat completions, Locust's per-request CSV
logger, and a ``METRIC`` pseudo request carrying the output tokens of each answer, as plugins do.

Environment: ``REQUEST_LOG`` (where the request log goes), ``SIM_MODEL``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from locust import HttpUser, constant, events, task
from locust.contrib.csv_request_logger import CsvRequestLogger

request_log = CsvRequestLogger(os.environ["REQUEST_LOG"])


@events.init.add_listener
def _register(environment: Any, **_kwargs: Any) -> None:
    request_log.register(environment)


class PlainChat(HttpUser):
    wait_time = constant(0.05)

    @task
    def chat(self) -> None:
        body = {
            "model": os.environ.get("SIM_MODEL", "sim-llama-3-8b"),
            "messages": [{"role": "user", "content": "Say hello"}],
            "max_tokens": 8,
        }
        started = time.time()
        response = self.client.post("/chat/completions", json=body)
        if response.ok:
            tokens = response.json().get("usage", {}).get("completion_tokens", 0)
            self.environment.events.request.fire(
                request_type="METRIC",
                name="output_tokens",
                response_time=tokens,
                response_length=0,
                exception=None,
                context={},
                start_time=started,
            )
