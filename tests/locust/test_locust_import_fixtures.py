"""``import_locust`` on files written by a real Locust 2.47 run (``fixtures/locust-2.47``, made once with
``fixtures/locust-2.47/locustfile.py.txt`` against a small HTTP server, ``TZ=Asia/Kolkata``), and on the
older format without First/Last Seen.

Locust's own final totals are in ``run_stdout.txt`` (printed at shutdown); the CSVs miss the last second.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from recorders.locust_import import ImportOptions, import_locust
from tests.locust.locust_testkit import HISTORY_HEADER, LOCUST_247, read_jsonl, records_of
from traceanalyzer.schema import RECORD_TYPES

KOLKATA = ImportOptions(timezone="Asia/Kolkata")


def _ns(iso_utc: str) -> int:
    moment = datetime.fromisoformat(iso_utc).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _final_stdout_totals() -> dict[str, tuple[int, int]]:
    """The last stats table Locust printed at shutdown: type -> (requests, failures)."""
    text = (LOCUST_247 / "run_stdout.txt").read_text()
    table = text[: text.rindex("Response time percentiles")]
    table = table[table.rindex("Type     Name") :]
    totals: dict[str, tuple[int, int]] = {}
    for line in table.splitlines():
        m = re.match(r"^(GET|POST|METRIC)\s+\S+\s+(\d+)\s+(\d+)\(", line)
        if m:
            reqs, fails = totals.get(m.group(1), (0, 0))
            totals[m.group(1)] = (reqs + int(m.group(2)), fails + int(m.group(3)))
    return totals


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("import")
    result = import_locust([LOCUST_247], out, KOLKATA)
    return out, result


def test_every_output_starts_with_a_meta_line(imported: tuple[Path, Any]) -> None:
    out, result = imported
    assert sorted(p.name for p in out.glob("*.jsonl")) == [
        "run.jsonl",
        "run_exceptions.jsonl",
        "run_failures.jsonl",
        "run_requests.jsonl",
        "run_stats.jsonl",
        "run_stats_history.jsonl",
    ]
    for output in result.outputs:
        records = read_jsonl(output.path)
        assert records[0]["type"] == "meta"
        assert records[0]["recorder"] == "locust-import"
        assert records[0]["config"]["input"] == str(output.input)
        assert all(r["v"] == 1 and r["run"] == result.run for r in records)
        assert {k: v for k, v in output.records.items()} == _count_types(records[1:])


def _count_types(records: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    return counts


def test_records_fit_the_loader_schema(imported: tuple[Path, Any]) -> None:
    """Known types have every required field non-null, and integer fields (times, counts) hold integers."""
    out, _ = imported
    seen: set[str] = set()
    for path in out.glob("*.jsonl"):
        for record in read_jsonl(path):
            spec = RECORD_TYPES[record["type"]]
            seen.add(record["type"])
            for field in spec.fields:
                value = record.get(field.name)
                if field.required:
                    assert value is not None, (record["type"], field.name)
                if value is not None and field.kind == "int":
                    assert isinstance(value, int) and not isinstance(value, bool), (
                        record["type"],
                        field.name,
                    )
    assert seen == {"meta", "load", "load_endpoint", "event", "failures", "totals", "request"}


def test_totals_leave_pseudo_types_out(imported: tuple[Path, Any]) -> None:
    out, result = imported
    totals = {
        (r["detail"]["type"], r["name"]): r for r in records_of(out, "totals") if r["name"] != "Aggregated"
    }
    aggregated = next(r for r in records_of(out, "totals") if r["name"] == "Aggregated")
    with (LOCUST_247 / "run_stats.csv").open(newline="") as fh:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(fh)}
    locust_all = rows[("", "Aggregated")]
    metric = rows[("METRIC", "tokens_per_s")]
    assert aggregated["requests"] == int(locust_all["Request Count"]) - int(metric["Request Count"]) == 113
    assert aggregated["failures"] == int(locust_all["Failure Count"]) == 41
    assert aggregated["detail"]["locust_requests"] == 195
    assert aggregated["detail"]["pseudo_requests"] == 82
    assert totals[("METRIC", "tokens_per_s")]["detail"]["pseudo"] is True
    assert totals[("POST", "/v1/chat/completions")]["requests"] == 82
    assert totals[("POST", "/v1/chat/completions")]["detail"]["percentiles_rounded"] is True
    assert totals[("GET", "/slow")]["detail"]["locust_percentiles_ms"]["p99_9"] == 53
    assert (result.locust_requests, result.locust_failures) == (113, 41)


def test_load_series_uses_exact_interval_rates(imported: tuple[Path, Any]) -> None:
    out, _ = imported
    load = records_of(out, "load")
    with (LOCUST_247 / "run_stats_history.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    agg = [r for r in rows if r["Name"] == "Aggregated"]
    metric = {r["Timestamp"]: int(r["Total Request Count"]) for r in rows if r["Type"] == "METRIC"}
    assert [r["t"] for r in load] == [int(r["Timestamp"]) * 1_000_000_000 for r in agg]
    assert [r["users"] for r in load] == [int(r["User Count"]) for r in agg]
    real = [int(r["Total Request Count"]) - metric.get(r["Timestamp"], 0) for r in agg]
    assert [r["requests_total"] for r in load] == real
    for prev, cur, n_prev, n_cur in zip(load, load[1:], real, real[1:], strict=False):
        assert cur["rps"] == pytest.approx((n_cur - n_prev) / ((cur["t"] - prev["t"]) / 1e9))
    assert load[0]["rps"] == 0.0
    assert load[-1]["locust_rps"] == float(agg[-1]["Requests/s"])
    assert load[-1]["locust_percentile_window"] == "10s"
    assert all(r["source"] == "locust" for r in load)


def test_endpoint_series_per_history_row(imported: tuple[Path, Any]) -> None:
    out, _ = imported
    series = records_of(out, "load_endpoint")
    assert len(series) == 20
    slow = [r for r in series if r["name"] == "/slow"]
    assert [r["failures_total"] for r in slow] == [r["requests_total"] for r in slow]
    assert {r["pseudo"] for r in series if r["method"] == "METRIC"} == {True}
    # Locust writes 0 for "no data in its 10 s window"; that is not a 0 ms latency.
    first = series[0]
    assert first["locust_percentiles_ms"]["p50"] is None


def test_failures_get_classes_and_first_last_seen(imported: tuple[Path, Any]) -> None:
    out, _ = imported
    failures = {(r["method"], r["name"], r["class"]): r for r in records_of(out, "failures")}
    assert set(failures) == {
        ("POST", "/v1/chat/completions", "rate_limited"),
        ("POST", "/v1/chat/completions", "server_5xx"),
        ("GET", "/slow", "timeout"),
        ("GET", "/refused", "connection"),
        ("GET", "/health", "oom"),
    }
    limited = failures[("POST", "/v1/chat/completions", "rate_limited")]
    assert (limited["status"], limited["count"]) == (429, 12)
    assert limited["t_first"] == _ns("2026-11-21T12:18:32")
    assert limited["t_last"] == _ns("2026-11-21T12:18:36")
    assert limited["t_source"] == "locust"
    assert failures[("GET", "/health", "oom")]["message"] == "backend says: CUDA out of memory"
    assert sum(r["count"] for r in failures.values()) == 41  # == Locust's failure total in _stats.csv


def test_log_times_are_read_in_the_given_zone(imported: tuple[Path, Any]) -> None:
    out, _ = imported
    events = {
        r["name"]: r for r in records_of(out, "event") if r["detail"].get("file", "").endswith("run.log")
    }
    start = events["locust.start"]
    # "[2026-11-21 17:48:32,721]" in Asia/Kolkata (UTC+05:30)
    assert start["t"] == _ns("2026-11-21T12:18:32.721000")
    assert start["host"] == "vm" and start["detail"]["version"] == "2.47.0"
    assert events["locust.spawn"]["detail"]["users"] == 3
    assert events["locust.shutdown"]["detail"]["exit_code"] == 1
    history_start = records_of(out, "load")[0]["t"]
    assert abs(start["t"] - history_start) < 2_000_000_000


def test_exceptions_take_their_time_from_the_log(imported: tuple[Path, Any]) -> None:
    out, _ = imported
    (event,) = [r for r in records_of(out, "event") if r["detail"].get("t_source")]
    logged = [
        r["t"] for r in records_of(out, "event") if r["name"] == "locust.exception" and "level" in r["detail"]
    ]
    assert event["name"] == "locust.exception"
    assert event["detail"]["count"] == 2
    assert event["detail"]["t_source"] == "log"
    assert event["t"] == min(logged) == _ns("2026-11-21T12:18:35.947000")
    assert "simulated bug in locustfile" in event["detail"]["traceback"]


def test_request_log_matches_locusts_final_totals(imported: tuple[Path, Any]) -> None:
    """The per-request log has every request (Locust's shutdown totals); the CSVs miss the last second."""
    out, result = imported
    final = _final_stdout_totals()
    requests = records_of(out, "request")
    real_final = sum(n for kind, (n, _) in final.items() if kind != "METRIC")
    assert len(requests) == real_final == result.logged_requests == 133
    assert sum(1 for r in requests if r["error"]) == sum(
        f for kind, (_, f) in final.items() if kind != "METRIC"
    )
    assert result.pseudo_rows == {"METRIC (request log)": final["METRIC"][0], "METRIC (stats)": 1}
    assert result.locust_requests is not None and 0 < real_final - result.locust_requests <= 40
    assert any("last second" in note for note in result.notes)
    classes = {r["error"]["class"] for r in requests if r["error"]}
    assert classes == {"rate_limited", "server_5xx", "timeout", "connection", "oom"}
    ok = next(r for r in requests if r["error"] is None)
    assert ok["t_first"] is None and ok["chunks_us"] == [] and ok["t_end"] > ok["t_send"]


def _copy_rows(src: Path, dst: Path, keep: Callable[[int, list[str]], list[str] | None]) -> None:
    """Rewrite a fixture CSV: ``keep(index, row)`` gives the row to write (or None to drop it)."""
    with src.open(newline="") as fh, dst.open("w", newline="") as out_fh:
        writer = csv.writer(out_fh)
        for i, row in enumerate(csv.reader(fh)):
            kept = keep(i, row)
            if kept is not None:
                writer.writerow(kept)


def test_older_format_without_first_last_seen(tmp_path: Path) -> None:
    """Locust before First/Last Seen: times come from the history rows where the endpoint's failures rose."""
    src = tmp_path / "old"
    src.mkdir()
    shutil.copy(LOCUST_247 / "run_stats_history.csv", src / "old_stats_history.csv")
    _copy_rows(LOCUST_247 / "run_failures.csv", src / "old_failures.csv", lambda _, row: row[:4])
    result = import_locust([src], tmp_path / "out", KOLKATA)
    failures = {(r["name"], r["class"]): r for r in records_of(tmp_path / "out", "failures")}
    slow = failures[("/slow", "timeout")]
    assert slow["t_source"] == "stats_history"
    history = [r for r in records_of(tmp_path / "out", "load_endpoint") if r["name"] == "/slow"]
    rising = [
        r["t"]
        for r, prev in zip(history, [None, *history], strict=False)
        if r["failures_total"] > (prev["failures_total"] if prev else 0)
    ]
    assert (slow["t_first"], slow["t_last"]) == (rising[0], rising[-1])
    assert slow["count"] == 10
    assert result.locust_requests is None


def test_older_format_without_history_has_no_times(tmp_path: Path) -> None:
    path = tmp_path / "x_failures.csv"
    path.write_text(
        "Method,Name,Error,Occurrences\r\n"
        "POST,/v1/chat/completions,"
        "\"HTTPError('429 Client Error: Too Many Requests for url: /v1/chat/completions')\",3\r\n"
        "METRIC,ttft,CatchResponseError('not a request'),1\r\n"
    )
    result = import_locust([path], tmp_path / "out")
    (record,) = records_of(tmp_path / "out", "failures")
    assert (record["class"], record["count"], record["t_first"], record["t_last"]) == (
        "rate_limited",
        3,
        None,
        None,
    )
    assert result.pseudo_rows == {"METRIC (failures)": 1}


def test_history_without_full_history_is_scaled_by_the_pseudo_share(tmp_path: Path) -> None:
    src = tmp_path / "agg"
    src.mkdir()
    shutil.copy(LOCUST_247 / "run_stats.csv", src / "r_stats.csv")
    _copy_rows(
        LOCUST_247 / "run_stats_history.csv",
        src / "r_stats_history.csv",
        lambda i, row: row if i == 0 or row[3] == "Aggregated" else None,
    )
    result = import_locust([src], tmp_path / "out")
    load = records_of(tmp_path / "out", "load")
    assert load[-1]["requests_total"] == round(195 * (1 - 82 / 195)) == 113
    assert load[-1]["locust_percentile_window"] == "cumulative"
    assert not records_of(tmp_path / "out", "load_endpoint")
    assert any("scaled" in note for note in result.notes)


def test_stats_reset_becomes_an_event(tmp_path: Path) -> None:
    rows = [
        "1000,2,,Aggregated,0,0,N/A,N/A,0,0",
        "1001,2,,Aggregated,5,0,10,12,10,1",
        "1002,2,,Aggregated,5,0,10,12,20,2",
        "1003,2,,Aggregated,5,0,10,12,4,0",
    ]
    path = tmp_path / "r_stats_history.csv"
    path.write_text("\r\n".join([HISTORY_HEADER, *rows]) + "\r\n")
    import_locust([path], tmp_path / "out")
    load = records_of(tmp_path / "out", "load")
    assert [r["rps"] for r in load] == [0.0, 10.0, 10.0, 4.0]
    (reset,) = records_of(tmp_path / "out", "event")
    assert (reset["name"], reset["t"]) == ("locust.stats_reset", 1003 * 1_000_000_000)
    assert reset["detail"]["requests_before"] == 20


def test_legacy_header_names_are_accepted(tmp_path: Path) -> None:
    """Locust 0.x / 1.x spellings: ``Method``, ``# requests``, ``User count``."""
    stats = tmp_path / "old_stats.csv"
    stats.write_text(
        '"Method","Name","# requests","# failures","Median response time","Average response time",'
        '"Min response time","Max response time","Average Content Size","Requests/s"\n'
        '"GET","/",10,1,5,5.5,1,9,12,2.0\n'
        '"None","Total",10,1,5,5.5,1,9,12,2.0\n'
    )
    import_locust([stats], tmp_path / "out")
    (agg,) = [r for r in records_of(tmp_path / "out", "totals") if r["name"] == "Aggregated"]
    assert (agg["requests"], agg["failures"]) == (10, 1)


def test_a_prefix_and_overwrite(tmp_path: Path) -> None:
    prefix = str(LOCUST_247 / "run")
    result = import_locust([prefix], tmp_path, KOLKATA)
    assert sorted(o.kind for o in result.outputs) == ["exceptions", "failures", "stats", "stats_history"]
    from traceanalyzer.errors import UsageError

    with pytest.raises(UsageError, match="output files exist"):
        import_locust([prefix], tmp_path, KOLKATA)
    again = import_locust([prefix], tmp_path, ImportOptions(timezone="Asia/Kolkata", overwrite=True))
    assert len(read_jsonl(again.outputs[0].path)) == len(read_jsonl(result.outputs[0].path))


def test_wrong_zone_is_noticed(tmp_path: Path) -> None:
    result = import_locust([LOCUST_247], tmp_path, ImportOptions(timezone="UTC"))
    assert any("try --timezone +05:30" in note for note in result.notes)
    same = import_locust([LOCUST_247], tmp_path / "b", ImportOptions(timezone="+05:30"))
    assert not any("--timezone" in note for note in same.notes)


def test_an_appended_log_keeps_the_run_of_the_csvs(tmp_path: Path) -> None:
    """Locust appends to --logfile: a log holding an earlier run keeps only the run the CSVs belong to."""
    earlier = (
        "[2026-11-20 09:00:00,000] vm/INFO/locust.main: Starting Locust 2.47.0\n"
        "[2026-11-20 09:00:00,100] vm/INFO/locust.runners: Ramping to 9 users at a rate of 9.00 per second\n"
        "[2026-11-20 09:05:00,000] vm/INFO/locust.main: Shutting down (exit code 0)\n"
    )
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(LOCUST_247 / "run_stats_history.csv", src / "run_stats_history.csv")
    (src / "run.log").write_text(earlier + (LOCUST_247 / "run.log").read_text())
    result = import_locust([src], tmp_path / "out", KOLKATA)
    spawns = [r for r in records_of(tmp_path / "out", "event") if r["name"] == "locust.spawn"]
    assert [s["detail"]["users"] for s in spawns] == [3]
    assert any("holds 2 Locust runs" in note and "line 4" in note for note in result.notes)


def test_the_loader_reads_the_import(imported: tuple[Path, Any]) -> None:
    """Round trip through the loader: every record lands in its table, nothing skipped."""
    from traceanalyzer.loader import load_capture

    out, result = imported
    capture = load_capture([out], cache=False)
    written: dict[str, int] = {}
    for output in result.outputs:
        for kind, n in output.records.items():
            written[kind] = written.get(kind, 0) + n
    assert capture.requests.num_rows == written["request"] == 133
    assert capture.load.num_rows == written["load"]
    assert capture.failures.num_rows == written["failures"]
    assert capture.totals.num_rows == written["totals"]
    assert capture.event.num_rows == written["event"]
    assert capture.inventory.skipped_lines == 0
    assert capture.load_endpoint.num_rows == written["load_endpoint"]
    assert capture.inventory.unknown_types == {}
    classes = capture.failures.column("class").to_pylist()
    assert sorted(classes) == sorted(["rate_limited", "server_5xx", "timeout", "connection", "oom"])
