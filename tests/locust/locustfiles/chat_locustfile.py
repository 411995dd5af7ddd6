"""Locustfile of the LLMUser conversation test: whole conversations from ``CONVERSATION_FILE`` against the
simulated server (``SIM_MODEL``), 50 ms of think time between turns."""

from __future__ import annotations

import os

from locust import constant

from recorders.locust_user import LLMUser


class SimConversation(LLMUser):
    model = os.environ.get("SIM_MODEL", "sim-llama-3-8b")
    conversation_file = os.environ.get("CONVERSATION_FILE")
    think_time = "50ms"
    max_tokens = 10
    wait_time = constant(0)
