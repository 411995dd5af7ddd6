"""The simulated server with errors switched on, for the real-Locust tests (see ``locust_testkit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.locust.locust_testkit import SIM_ERRORS


@pytest.fixture
def sim_with_errors(tmp_path: Path) -> Iterator[Any]:
    from recorders.simserver.testing import run_simserver

    with run_simserver("steady", seed=7, truth=tmp_path / "truth.jsonl", overrides=SIM_ERRORS) as sim:
        yield sim
