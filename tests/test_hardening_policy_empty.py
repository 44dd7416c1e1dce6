"""A policy file emptied in place never drops its rules silently, and every change of the
rule set is in the audit log (which entries came, went or changed)."""

from __future__ import annotations

import pytest

from gateway.policy import AuditLog, PolicyError, PolicyStore, Sandbox
from tests.support.policies import rule, write


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=1, timeout=2.0) as sb:
        yield sb


@pytest.fixture
def audited(tmp_path, sandbox):
    audit = AuditLog.open(tmp_path / "catalog")
    write(tmp_path / "p", "a.toml", rule("keep-me"))
    write(tmp_path / "p", "b.toml", rule("also-here"))
    store = PolicyStore([tmp_path / "p"], sandbox=sandbox, audit=audit)
    store.load_initial()
    yield store, audit, tmp_path / "p"
    audit.close()


def ids(store) -> list[str]:
    return sorted(r.id for r in store.current.rules)


@pytest.mark.parametrize("content", ["", "\n\n", "# all rules removed\n",
                                     'description = "nothing left"\n', "mode = \"warn\"\n"])
def test_a_file_emptied_in_place_is_refused_and_the_rules_stay(audited, content):
    store, audit, folder = audited
    (folder / "a.toml").write_text(content)
    assert store.reload() is False
    assert ids(store) == ["also-here", "keep-me"]
    [problem] = store.last_error["problems"]
    assert problem["file"] == str(folder / "a.toml")
    assert "holds no [[rule]]" in problem["message"]
    kinds = [e["kind"] for e in audit.iter()]
    assert kinds == ["policy-loaded", "policy-rejected"]


def test_start_up_refuses_an_empty_file_too(tmp_path, sandbox):
    write(tmp_path, "a.toml", "")
    with pytest.raises(PolicyError, match="holds no"):
        PolicyStore([tmp_path], sandbox=sandbox).load_initial()


def test_an_explicitly_empty_file_or_a_deleted_one_drops_the_rules(audited):
    store, audit, folder = audited
    (folder / "a.toml").write_text('description = "retired"\nempty = true\n')
    assert store.reload() is True
    assert ids(store) == ["also-here"]
    (folder / "b.toml").unlink()
    assert store.reload() is True
    assert ids(store) == []
    loads = [e for e in audit.iter() if e["kind"] == "policy-loaded"]
    assert [e["detail"]["changes"]["removed"] for e in loads] == [
        [], ["rule:keep-me"], ["rule:also-here"]]
    assert loads[0]["detail"]["changes"]["added"] == ["rule:also-here", "rule:keep-me"]
    assert loads[2]["detail"]["previous_revision"] == loads[1]["revision"]


def test_empty_true_with_entries_or_a_non_bool_is_refused(audited):
    store, _, folder = audited
    (folder / "a.toml").write_text("empty = true\n\n" + rule("keep-me"))
    assert store.reload() is False
    assert "says 'empty = true' but holds entries" in store.last_error["problems"][0]["message"]
    (folder / "a.toml").write_text('empty = "yes"\n')
    assert store.reload() is False
    assert ids(store) == ["also-here", "keep-me"]


def test_every_change_of_a_rule_is_audited(audited):
    store, audit, folder = audited
    write(folder, "a.toml", rule("keep-me", validate="object.size < 10"))
    assert store.reload() is True
    write(folder, "c.toml", rule("newcomer"))
    assert store.reload() is True
    changes = [e["detail"]["changes"] for e in audit.iter() if e["kind"] == "policy-loaded"][1:]
    assert changes == [{"added": [], "removed": [], "changed": ["rule:keep-me"]},
                       {"added": ["rule:newcomer"], "removed": [], "changed": []}]
