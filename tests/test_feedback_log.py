"""`FeedbackLog`: round trips through both stores, concurrent writers (threads and processes),
crash safety, the schema version, privacy modes and validation."""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing as mp
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from ragrerank import FeedbackLog, MissingDependencyError
from ragrerank.feedback import FeedbackEvent, FeedbackSink, Impression
from ragrerank.feedback import log as log_module
from ragrerank.feedback.schema import SCHEMA_VERSION


@pytest.fixture(params=["sqlite", "sqlalchemy"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    path = tmp_path / "feedback.db"
    return str(path) if request.param == "sqlite" else f"sqlite:///{path}"


def _file(target: str) -> Path:
    return Path(target.removeprefix("sqlite:///"))


def _db_bytes(target: str) -> bytes:
    path = _file(target)
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_round_trip_of_impressions_events_and_records(target: str) -> None:
    with FeedbackLog(target, queries="text") as log:
        assert isinstance(log, FeedbackSink)
        first = log.log_impression(
            "aspirin heart", ["d1", "d2", "d3"], [2, 1, 0], scorer="fp1", session="s1",
            query_id="q7", ranker="a", timestamp=100.0,
        )  # fmt: skip
        second = log.log_impression(
            "statins", ["x", "y"], [1, 2], scorer="fp2", ranker="b", intervention="swap:1:2",
            teams=["a", "b"], timestamp=200.0,
        )  # fmt: skip
        log.click(first, "d2", timestamp=101.0)
        log.dwell(first, "d2", 12.5, timestamp=102.0)
        log.rate(second, "y", 0.0, timestamp=201.0)  # a grade of 0 is a grade
    with FeedbackLog(target, queries="text") as log:
        records = list(log.records())
        assert [imp.impression_id for imp, _ in records] == [first, second]
        imp, events = records[0]
        assert imp == Impression(
            first, "aspirin heart", "aspirin heart", ("d1", "d2", "d3"), (2, 1, 0), "fp1",
            100.0, session="s1", query_id="q7", ranker="a",
        )  # fmt: skip
        assert imp.shown() == [(1, "d2"), (2, "d1")]
        assert events == [
            FeedbackEvent(first, "d2", "click", 1.0, 101.0),
            FeedbackEvent(first, "d2", "dwell", 12.5, 102.0),
        ]
        assert records[1][0].teams == ("a", "b") and records[1][0].intervention == "swap:1:2"
        assert records[1][1] == [FeedbackEvent(second, "y", "rating", 0.0, 201.0)]
        assert type(records[1][1][0].value) is float
        assert log.counts() == {"impressions": 2, "events": 3, "click": 1, "dwell": 1, "rating": 1}
        assert [e.kind for e in log.events()] == ["click", "dwell", "rating"]


def test_filters_select_by_time_and_ranker(target: str) -> None:
    with FeedbackLog(target) as log:
        ids = [
            log.log_impression("q", ["a", "b"], [1, 2], scorer="s", ranker=r, timestamp=t)
            for t, r in [(10.0, "a"), (20.0, "b"), (30.0, "a")]
        ]
        for i in ids:
            log.click(i, "a", timestamp=0.0)
        assert [i.impression_id for i in log.impressions(ranker="a")] == [ids[0], ids[2]]
        assert [i.impression_id for i in log.impressions(since=20.0)] == ids[1:]
        assert [i.impression_id for i in log.impressions(since=10.0, until=30.0)] == ids[:2]
        assert [r[0].impression_id for r in log.records(ranker="b")] == [ids[1]]
        assert [e.impression_id for e in log.events(ranker="a")] == [ids[0], ids[2]]
        assert list(log.events(since=1.0)) == []  # the events' own timestamps
        with pytest.raises(ValueError, match="since"):
            list(log.impressions(since=float("nan")))


def test_records_stream_in_pages_without_losing_or_repeating(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "_PAGE", 3)
    with FeedbackLog(target) as log:
        ids = [log.log_impression("q", [f"d{k}"], [1], scorer="s") for k in range(8)]
        for k, i in enumerate(ids):
            for _ in range(k % 3):
                log.click(i, f"d{k}")
        records = list(log.records())
        assert [imp.impression_id for imp, _ in records] == ids
        assert [len(events) for _, events in records] == [k % 3 for k in range(8)]
        assert [i.impression_id for i in log.impressions()] == ids


def test_threads_writing_at_once_lose_and_duplicate_nothing(target: str) -> None:
    log = FeedbackLog(target)
    written: list[str] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        for k in range(25):
            i = log.log_impression(f"q{worker}-{k}", ["a", "b"], [1, 2], scorer=str(worker))
            log.click(i, "b")
            with lock:
                written.append(i)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = [imp.impression_id for imp in log.impressions()]
    assert sorted(stored) == sorted(written) and len(set(stored)) == 150
    assert all(len(events) == 1 for _, events in log.records())
    assert log.counts()["click"] == 150
    log.close()


def _write_many(target: str, worker: int, n: int) -> list[str]:
    with FeedbackLog(target) as log:
        ids = []
        for k in range(n):
            i = log.log_impression(f"query {k}", ["a", "b", "c"], [1, 0, 2], scorer=str(worker))
            log.click(i, "c")
            ids.append(i)
        return ids


def test_processes_writing_at_once_lose_and_duplicate_nothing(target: str) -> None:
    FeedbackLog(target).close()  # one log, then several processes of one application
    with mp.get_context("spawn").Pool(3) as pool:
        written = pool.starmap(_write_many, [(target, w, 20) for w in range(3)])
    with FeedbackLog(target) as log:
        stored = [imp.impression_id for imp in log.impressions()]
        assert sorted(stored) == sorted(i for ids in written for i in ids)
        assert len(set(stored)) == 60
        assert log.counts() == {
            "impressions": 60,
            "events": 60,
            "click": 60,
            "dwell": 0,
            "rating": 0,
        }
        keys = {imp.query_key for imp in log.impressions()}
        assert len(keys) == 20  # every process hashed with the one stored salt


def _crash_mid_transaction(path: str, committed: int, how: str, ready: object) -> None:
    log = FeedbackLog(path)
    for k in range(committed):
        log.log_impression(f"q{k}", ["a"], [1], scorer="done")
    # The real write path inside an open transaction that never commits.
    log._store._conn().execute("BEGIN IMMEDIATE")  # type: ignore[attr-defined]
    for k in range(5):
        log.log_impression(f"partial {k}", ["a", "b"], [1, 2], scorer="partial")
    if how == "exit":
        os._exit(3)
    ready.set()  # type: ignore[attr-defined]
    threading.Event().wait(60)  # killed here


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_a_process_killed_mid_write_leaves_committed_rows_and_no_partial_one(
    tmp_path: Path, how: str
) -> None:
    path = str(tmp_path / "crash.db")
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_crash_mid_transaction, args=(path, 7, how, ready))
    child.start()
    if how == "sigkill":
        assert ready.wait(60)
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join(60)
    assert child.exitcode == (3 if how == "exit" else -signal.SIGKILL)
    with FeedbackLog(path) as log:
        assert [i.scorer for i in log.impressions()] == ["done"] * 7
        assert log.counts()["impressions"] == 7
        log.log_impression("after", ["a"], [1], scorer="later")  # still writable
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_another_schema_version_is_refused_naming_both(target: str) -> None:
    FeedbackLog(target).close()
    with sqlite3.connect(_file(target)) as raw:
        raw.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(ValueError, match=f"schema version 2.*version {SCHEMA_VERSION}"):
        FeedbackLog(target)


def test_hash_is_stable_across_opens_and_the_query_never_stored(target: str) -> None:
    query = "does aspirin prevent a second heart attack"
    with FeedbackLog(target) as log:
        first = log.log_impression(query, ["a"], [1], scorer="s")
    with FeedbackLog(target) as log:
        log.log_impression(query, ["a"], [1], scorer="s")
        a, b = list(log.impressions())
        assert a.impression_id == first
        assert a.query is None and a.query_key == b.query_key and len(a.query_key) == 64
        assert "salt" not in repr(log).lower()
    assert query.encode() not in _db_bytes(target)


def test_a_given_salt_is_the_hmac_key_and_is_never_stored(target: str) -> None:
    secret = "our-own-secret-salt"
    with FeedbackLog(target, salt=secret) as log:
        log.log_impression("statins", ["a"], [1], scorer="s")
        (imp,) = log.impressions()
        assert secret not in repr(log)
    expected = hmac.new(secret.encode(), b"statins", hashlib.sha256).hexdigest()
    assert imp.query_key == expected
    data = _db_bytes(target)
    assert secret.encode() not in data and b"statins" not in data


def test_text_and_none_modes(target: str) -> None:
    with FeedbackLog(target, queries="text") as log:
        log.log_impression("statins", ["a"], [1], scorer="s")
        (text,) = log.impressions()
    other = target.replace("feedback.db", "private.db")
    with FeedbackLog(other, queries="none") as log:
        log.log_impression("vitamin d", ["a"], [1], scorer="s")
        (none,) = log.impressions()
    assert (text.query_key, text.query) == ("statins", "statins")
    assert (none.query_key, none.query) == ("", None)
    assert b"vitamin d" not in _db_bytes(other)


def test_a_log_keeps_its_query_mode_and_salt(target: str) -> None:
    """Reopening a log with another mode or salt would silently mix query keys."""
    FeedbackLog(target).close()  # hash, with the log's own salt
    with pytest.raises(ValueError, match="keeps queries as 'hash', opened with queries='text'"):
        FeedbackLog(target, queries="text")
    with pytest.raises(ValueError, match="its own stored salt: open it without salt="):
        FeedbackLog(target, salt="mine")
    FeedbackLog(target).close()  # as it was written: fine
    texts = target.replace("feedback.db", "texts.db")
    FeedbackLog(texts, queries="text").close()
    with FeedbackLog(texts) as log:  # the default: as the log was written
        log.log_impression("statins", ["a"], [1], scorer="s")
        assert [i.query for i in log.impressions()] == ["statins"]
    mine = target.replace("feedback.db", "mine.db")
    with FeedbackLog(mine, salt="secret-one") as log:
        first = log.log_impression("statins", ["a"], [1], scorer="s")
    with FeedbackLog(mine) as reader:  # readable without the salt, not writable
        assert [i.impression_id for i in reader.impressions()] == [first]
        with pytest.raises(ValueError, match="written with your own salt: pass salt= to log"):
            reader.log_impression("statins", ["a"], [1], scorer="s")
    with pytest.raises(ValueError, match="written with a different salt") as info:
        FeedbackLog(mine, salt="secret-two")
    assert "secret" not in str(info.value)
    with FeedbackLog(mine, salt="secret-one") as log:
        log.log_impression("statins", ["a"], [1], scorer="s")
        a, b = log.impressions()
    assert a.impression_id == first and a.query_key == b.query_key
    assert b"secret-one" not in _db_bytes(mine)


def test_bad_events_are_refused_naming_what(target: str) -> None:
    with FeedbackLog(target) as log:
        i = log.log_impression("q", ["a", "b", "c"], [1, 2, 0], scorer="s")
        with pytest.raises(ValueError, match="unknown impression id 'nope'"):
            log.click("nope", "a")
        with pytest.raises(ValueError, match="doc 'z' is not in impression"):
            log.click(i, "z")
        with pytest.raises(ValueError, match="doc 'c' was not shown"):
            log.click(i, "c")
        with pytest.raises(ValueError, match="kind must be one of"):
            log.log_event(i, "a", "purchase")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="finite"):
            log.rate(i, "a", float("nan"))
        with pytest.raises(ValueError, match="dwell seconds must be >= 0"):
            log.dwell(i, "a", -1.0)
        with pytest.raises(ValueError, match="timestamp"):
            log.click(i, "a", timestamp=float("inf"))
        assert log.counts()["events"] == 0


def test_bad_impressions_are_refused_naming_the_index(target: str) -> None:
    with FeedbackLog(target) as log:
        with pytest.raises(ValueError, match=r"doc_ids\[2\]: duplicate id 'a'"):
            log.log_impression("q", ["a", "b", "a"], [1, 2, 0], scorer="s")
        with pytest.raises(ValueError, match=r"shown positions must be 1\.\.2"):
            log.log_impression("q", ["a", "b"], [1, 3], scorer="s")
        with pytest.raises(ValueError, match="teams has 1 entries for 2 doc_ids"):
            log.log_impression("q", ["a", "b"], [1, 2], scorer="s", teams=["a"])
        with pytest.raises(ValueError, match="query must not be empty"):
            log.log_impression("  ", ["a"], [1], scorer="s")
        with pytest.raises(ValueError, match="scorer must be a non-empty str"):
            log.log_impression("q", ["a"], [1], scorer="")
        assert log.counts()["impressions"] == 0


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="queries must be one of"):
        FeedbackLog(tmp_path / "a.db", queries="plain")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="in-memory"):
        FeedbackLog(":memory:")
    with pytest.raises(ValueError, match="salt must be a non-empty"):
        FeedbackLog(tmp_path / "a.db", salt="")
    assert not (tmp_path / "a.db").exists()


def test_a_url_without_sqlalchemy_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(MissingDependencyError, match=r"ragrerank\[feedback-sql\]"):
        FeedbackLog(f"sqlite:///{tmp_path / 'a.db'}")


def test_a_url_password_never_shows() -> None:
    pytest.importorskip("sqlalchemy")
    url = "postgresql+nosuchdriver://user:hunter2@db.example/feedback"
    with pytest.raises(Exception) as err:
        FeedbackLog(url)
    assert "hunter2" not in str(err.value)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match=r"user:\*\*\*@db.example") as err:
            FeedbackLog("postgresql+psycopg://user:hunter2@db.example/feedback")
        assert "hunter2" not in str(err.value) and "psycopg" in str(err.value)
