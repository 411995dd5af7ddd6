"""Fixtures of the collector tests (the helpers live in collector_kit.py, importable by name)."""

from __future__ import annotations

from collector_kit import fast_sim, misbehaving_server

__all__ = ["fast_sim", "misbehaving_server"]
