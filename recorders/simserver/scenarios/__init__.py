"""Bundled scenario TOML files of the simulated server (package data)."""
