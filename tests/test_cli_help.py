"""Every command and group has help text with an example and is documented in README.md or docs/*.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from traceanalyzer.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def _walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(cli))
IDS = [" ".join(("traceanalyzer", *path)) for path, _ in COMMANDS]


def _docs() -> str:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(f.read_text(encoding="utf-8") for f in files if f.is_file())


def test_the_tree_holds_the_design_commands() -> None:
    names = set(IDS)
    for expected in (
        "record http",
        "record gpu",
        "record server",
        "import locust",
        "analyze",
        "report",
        "compare",
    ):
        assert f"traceanalyzer {expected}" in names
    assert "traceanalyzer sim serve" in names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_command_has_help_with_an_example(path: tuple[str, ...], command: click.Command) -> None:
    assert (command.help or "").strip(), "no help text"
    assert "Example" in (command.epilog or ""), "the epilog shows no example"
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="traceanalyzer")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_command_is_documented(path: tuple[str, ...], command: click.Command) -> None:
    name = " ".join(("traceanalyzer", *path))
    assert f"`{name}`" in _docs() or f"# {name}" in _docs(), f"{name} is not in README.md or docs/*.md"
