"""Run with the Phoenix test environment's Python: wait until a Phoenix project holds at least COUNT spans
(Phoenix ingests in the background), then print every span as a JSON line, read through Phoenix's own client
(``arize-phoenix-client``). Arguments: base URL, project name, COUNT, timeout in seconds."""

from __future__ import annotations

import json
import sys
import time

from phoenix.client import Client

url, project, count, timeout_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
client = Client(base_url=url)
deadline = time.monotonic() + timeout_s
while True:
    try:
        spans = client.spans.get_spans(project_identifier=project, limit=100_000)
    except Exception:  # the project appears with its first span
        spans = []
    if len(spans) >= count or time.monotonic() > deadline:
        break
    time.sleep(0.5)
for span in spans:
    row = span if isinstance(span, dict) else span.model_dump()
    print(json.dumps(row, default=str))
