"""The audit log: append-only, ordered, shared with the catalog's LMDB environment."""

from __future__ import annotations

import threading

import lmdb
import pytest

from gateway.policy import AuditLog, Sandbox, load_policies
from tests.support.policies import context, rule, write


@pytest.fixture
def audit(tmp_path):
    log = AuditLog.open(tmp_path / "catalog")
    yield log
    log.close()


@pytest.fixture(scope="module")
def decision(tmp_path_factory):
    d = tmp_path_factory.mktemp("p")
    write(d, "a.toml", rule("passes") + rule("fails", validate="false", message='"no"')
          + rule("skipped", validate="true", match="'false'")
          + rule("trial", validate="false", mode='"audit"'))
    with Sandbox(workers=1) as sb:
        return load_policies([d], sandbox=sb).evaluate("intake", context())


def test_every_applied_rule_is_recorded(audit, decision):
    seqs = audit.record(decision, bucket="renders", key="a.png", version_id="v1",
                        identity="alice")
    assert seqs == [1, 2, 3]
    entries = list(audit.iter())
    assert [(e["seq"], e["rule"], e["result"], e["action"]) for e in entries] == [
        (1, "passes", "pass", "allow"), (2, "fails", "fail", "deny"),
        (3, "trial", "fail", "audit")]
    e = entries[1]
    assert e["kind"] == "decision" and e["revision"] == decision.revision
    assert (e["stage"], e["bucket"], e["key"], e["version_id"], e["identity"]) == (
        "intake", "renders", "a.png", "v1", "alice")
    assert e["message"] == "no" and e["intended"] == "deny" and e["mode"] == "enforce"
    assert entries[2]["intended"] == "deny" and entries[2]["mode"] == "audit"
    assert e["time"].endswith("Z")


def test_sequence_only_grows_and_survives_reopening(tmp_path, decision):
    log = AuditLog.open(tmp_path / "c")
    log.record(decision, bucket="b", key="k")
    log.append_event("policy-loaded", revision="r1")
    log.close()
    log = AuditLog.open(tmp_path / "c")
    assert log.record(decision, bucket="b", key="k2") == [5, 6, 7]
    assert [e["seq"] for e in log.iter()] == list(range(1, 8))
    assert log.last_seq() == 7 and len(log) == 7
    log.close()


def test_iter_since_and_limit(audit, decision):
    for i in range(400):
        audit.record(decision, bucket="b", key=f"k{i}")      # 3 entries each
    assert len(audit) == 1200
    assert [e["seq"] for e in audit.iter(since=1195)] == [1196, 1197, 1198, 1199, 1200]
    assert [e["seq"] for e in audit.iter(since=10, limit=3)] == [11, 12, 13]
    assert sum(1 for _ in audit.iter(since=0, limit=1000)) == 1000   # across batches
    assert list(audit.iter(since=1200)) == []


def test_concurrent_appends_get_distinct_increasing_numbers(audit, decision):
    def work():
        for _ in range(50):
            audit.record(decision, bucket="b", key="k")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [e["seq"] for e in audit.iter()]
    assert seqs == list(range(1, 601))


def test_there_is_no_interface_to_rewrite_entries():
    public = {name for name in dir(AuditLog) if not name.startswith("_")}
    assert public == {"record", "record_in", "append_event", "append_review", "iter",
                      "intake_warnings", "last_seq", "open", "close"}


def test_entries_recorded_in_a_transaction_commit_with_it_or_not_at_all(audit, decision):
    with pytest.raises(RuntimeError, match="the rest failed"):
        with audit.env.write() as txn:
            audit.record_in(txn, decision, bucket="b", key="k", version_id="v1")
            raise RuntimeError("the rest failed")
    assert list(audit.iter()) == []
    with audit.env.write() as txn:
        assert audit.record_in(txn, decision, bucket="b", key="k", version_id="v1") == [1, 2, 3]
    audit.record(decision, bucket="b", key="k2")
    assert [(e["seq"], e["key"], e["version_id"]) for e in audit.iter()] == [
        (1, "k", "v1"), (2, "k", "v1"), (3, "k", "v1"),
        (4, "k2", None), (5, "k2", None), (6, "k2", None)]


def test_read_only_open(tmp_path, decision):
    with pytest.raises(FileNotFoundError):
        AuditLog.open(tmp_path / "none", readonly=True)
    writer = AuditLog.open(tmp_path / "c")
    writer.record(decision, bucket="b", key="k")
    writer.close()        # LMDB: one open environment per path and process
    reader = AuditLog.open(tmp_path / "c", readonly=True)
    try:
        assert [e["seq"] for e in reader.iter()] == [1, 2, 3]
        with pytest.raises((RuntimeError, lmdb.Error)):
            reader.append_event("policy-loaded")
    finally:
        reader.close()


def test_shares_the_catalog_environment(tmp_path, decision):
    from gateway.catalog.store import Catalog
    catalog = Catalog(tmp_path / "catalog")
    try:
        log = AuditLog(catalog.env)
        log.record(decision, bucket="b", key="k")
        catalog.clear()                                      # what reindex does
        assert len(log) == 3
    finally:
        catalog.close()


def test_read_only_catalog_without_audit_table_reads_empty(tmp_path):
    from gateway.catalog.store import Catalog
    Catalog(tmp_path / "catalog").close()
    log = AuditLog.open(tmp_path / "catalog", readonly=True)
    try:
        assert list(log.iter()) == [] and log.last_seq() == 0
    finally:
        log.close()
