"""Locustfile of the LLMUser tests: streams chat completions from the simulated server.

``SimChat`` (weight 2, prompts from a file) and ``SimCompletion`` (weight 1, the completions API, prompts
in a list) wait for their answers; ``ImpatientChat`` (weight 1) gives up on a first token after 10 ms, well
before the simulator's 50 ms TTFT, so its requests end as client timeouts.
Environment: ``PROMPT_FILE`` (a JSONL prompt file), ``SIM_MODEL`` (the served model name).
"""

from __future__ import annotations

import os

from locust import constant

from recorders.locust_user import LLMUser


class SimChat(LLMUser):
    weight = 2
    model = os.environ.get("SIM_MODEL", "sim-llama-3-8b")
    prompt_file = os.environ.get("PROMPT_FILE")
    max_tokens = 12
    wait_time = constant(0.05)


class SimCompletion(LLMUser):
    weight = 1
    model = os.environ.get("SIM_MODEL", "sim-llama-3-8b")
    api = "completions"
    prompts = ("Once upon a time", {"id": "poem", "prompt": "Write a haiku", "max_tokens": 10})
    max_tokens = 12
    wait_time = constant(0.05)


class ImpatientChat(LLMUser):
    weight = 1
    model = os.environ.get("SIM_MODEL", "sim-llama-3-8b")
    prompts = ("Tell me a long story",)
    ttft_timeout_s = 0.01
    request_name = "/impatient"
    wait_time = constant(0.05)
