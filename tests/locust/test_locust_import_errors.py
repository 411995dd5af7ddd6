"""Malformed Locust files: a clear error naming file and row (exit 2 from the CLI), never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorders.locust_import import ImportOptions, import_locust
from tests.locust.locust_testkit import HISTORY_HEADER, LOCUST_247, read_jsonl
from traceanalyzer.cli import cli, main
from traceanalyzer.errors import BadInputError, UsageError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        (
            "a_stats_history.csv",
            f"{HISTORY_HEADER}\r\n1000,2,,Aggregated,0,0,N/A,N/A,0,0\r\n1001,2,,Aggregated,5,0,10\r\n"
            "1002,2,,Aggregated,5,0,10,12,20,2\r\n",
            3,
            "row 2 has 7 cells, the header has 10",
        ),
        (
            "b_stats_history.csv",
            f"{HISTORY_HEADER}\r\n1000,2,,Aggregated,0,0,N/A,N/A,ten,0\r\n",
            2,
            "row 1: column 'Total Request Count': expected a whole number, got 'ten'",
        ),
        (
            "c_stats_history.csv",
            f"{HISTORY_HEADER}\r\nyesterday,2,,Aggregated,0,0,N/A,N/A,0,0\r\n",
            2,
            "row 1: column 'Timestamp': expected epoch seconds",
        ),
        (
            "d_failures.csv",
            "Method,Name,Error,Occurrences,First Seen,Last Seen\r\nGET,/,boom,3,last tuesday,\r\n",
            2,
            "row 1: 'First Seen' / 'Last Seen' are not times",
        ),
        (
            "e_stats.csv",
            "Type,Name,Request Count,Failure Count\r\nGET,/,5,9\r\n,Aggregated,5,9\r\n",
            2,
            "row 1: impossible counts: 5 requests, 9 failures",
        ),
        (
            "f_requests.csv",
            "timestamp,request_type,name,response_time_ms,response_length,status_code,exception\r\n"
            "1795263479.75,POST,/x,6.9,92,200,\r\n1795263479.76,POST,/x,-1,92,200,\r\n",
            3,
            "row 2: column 'response_time_ms': expected milliseconds, got '-1'",
        ),
        (
            "g_stats.csv",
            'Type,Name,Request Count,Failure Count\r\nGET,"/unclosed,5,0\r\n',
            2,
            "not valid CSV",
        ),
    ],
)
def test_malformed_rows_name_file_row_and_line(
    tmp_path: Path, name: str, text: str, line: int, words: str
) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(BadInputError) as info:
        import_locust([path], tmp_path / "out")
    assert info.value.path == str(path)
    assert info.value.line == line
    assert words in str(info.value)


def test_row_that_spans_lines_is_named_by_its_first_line(tmp_path: Path) -> None:
    """Exceptions CSV rows hold multi-line tracebacks; the error names the line the bad row starts on."""
    text = (
        'Count,Message,Traceback,Nodes\r\n2,boom,"line one\nline two\nline three",local\r\n'
        "x,boom,tb,local\r\n"
    )
    path = _write(tmp_path / "r_exceptions.csv", text)
    with pytest.raises(BadInputError) as info:
        import_locust([path], tmp_path / "out")
    assert (info.value.line, info.value.problem.split(":")[0]) == (5, "row 2")


def test_not_a_locust_file(tmp_path: Path) -> None:
    other = _write(tmp_path / "other.csv", "a,b,c\r\n1,2,3\r\n")
    with pytest.raises(BadInputError, match="not a Locust CSV") as info:
        import_locust([other], tmp_path / "out")
    assert info.value.line == 1
    text = _write(tmp_path / "notes.txt", "hello\n")
    with pytest.raises(BadInputError, match="not a Locust log"):
        import_locust([text], tmp_path / "out")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "x_failures.csv", "Method,Error,Occurrences\r\nGET,boom,1\r\n")
    with pytest.raises(BadInputError, match="header lacks the column 'Name'"):
        import_locust([path], tmp_path / "out")


def test_a_partial_last_row_is_left_out_with_a_note(tmp_path: Path) -> None:
    """A writer killed mid-line leaves a short last row without a line end: dropped and reported."""
    text = (
        f"{HISTORY_HEADER}\r\n1000,2,,Aggregated,0,0,N/A,N/A,0,0\r\n"
        "1001,2,,Aggregated,5,0,10,12,10,1\r\n1002,2,,Agg"
    )
    path = _write(tmp_path / "p_stats_history.csv", text)
    result = import_locust([path], tmp_path / "out")
    assert len([r for r in read_jsonl(result.outputs[0].path) if r["type"] == "load"]) == 2
    assert any(":4: last row cut short" in note for note in result.notes)


def test_a_directory_skips_other_files_and_an_unknown_path_fails(tmp_path: Path) -> None:
    src = tmp_path / "results"
    src.mkdir()
    shutil.copy(LOCUST_247 / "run_stats.csv", src)
    _write(src / "unrelated.csv", "a,b\r\n1,2\r\n")
    result = import_locust([src], tmp_path / "out")
    assert [o.kind for o in result.outputs] == ["stats"]
    assert any("unrelated.csv: not Locust output" in note for note in result.notes)
    with pytest.raises(UsageError, match="no Locust CSVs with this prefix"):
        import_locust([tmp_path / "nothing"], tmp_path / "out")


def test_bad_timezone_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--timezone 'Mars/Olympus'"):
        import_locust([LOCUST_247 / "run.log"], tmp_path / "out", ImportOptions(timezone="Mars/Olympus"))


def test_cli_exit_code_2_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path / "z_stats.csv", "Type,Name,Request Count,Failure Count\r\nGET,/,five,0\r\n")
    with pytest.raises(SystemExit) as info:
        main(["import", "locust", str(bad), "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {bad}:2: row 1: column 'Request Count': expected a whole number, got 'five'"


def test_cli_happy_path_prints_what_it_wrote(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["import", "locust", str(LOCUST_247), "--out", str(tmp_path), "--timezone", "+05:30", "--run", "r1"],
    )
    assert result.exit_code == 0, result.output
    assert "run_stats_history.jsonl" in result.output
    assert "Locust totals: 113 requests, 41 failures" in result.output
    assert "request logs: 133 requests, 51 failures" in result.output
    assert "note: the request logs hold 20 more requests" in result.output
    assert read_jsonl(tmp_path / "run_failures.jsonl")[1]["run"] == "r1"
