"""A capture host installs the recorders from this project's own wheel (the package index holds an unrelated
``traceanalyzer``): the wheel built as ``make wheel`` builds it, installed with the ``record`` extra into a
fresh virtual environment, brings the recorders and neither torch nor WeasyPrint."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from traceanalyzer.distribution import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_distribution_is_named_apart_from_the_unrelated_one_on_the_index() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == DISTRIBUTION == "llm-traceanalyzer"
    extras = project["optional-dependencies"]
    assert all(dep.startswith(f"{DISTRIBUTION}[") for dep in (*extras["all"], extras["dev"][0]))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_wheel_with_the_record_extra_installs_the_recorders_without_torch_or_weasyprint(
    tmp_path: Path,
) -> None:
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)])
    (wheel,) = (tmp_path / "dist").glob("llm_traceanalyzer-*.whl")
    _run([sys.executable, "-m", "venv", str(tmp_path / "venv")])
    bin_dir = tmp_path / "venv" / "bin"
    _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-c", str(ROOT / "constraints.txt"), f"{wheel}[record]"]
    )  # fmt: skip
    installed = _run([str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"]).stdout.lower()
    names = {line.split("==")[0] for line in installed.splitlines()}
    assert {DISTRIBUTION, "aiohttp", "nvidia-ml-py", "locust"} <= names
    assert not names & {"torch", "weasyprint", "sentence-transformers", "traceanalyzer"}
    help_text = _run([str(bin_dir / "traceanalyzer"), "record", "http", "--help"], cwd=tmp_path).stdout
    assert "--url" in help_text and "--concurrency" in help_text
    version = _run([str(bin_dir / "traceanalyzer"), "--version"], cwd=tmp_path).stdout
    assert "0+unknown" not in version and version.split()[-1] == _project_version()


def _project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])
