"""PolicyStore: start-up refuses a broken set; hot reload swaps in good changes only."""

from __future__ import annotations

import asyncio

import pytest

from gateway.policy import AuditLog, PolicyError, PolicyStore, Sandbox
from tests.support.policies import context, rule, write
from tests.support.polling import wait_for_async


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=1, timeout=2.0) as sb:
        yield sb


def rule_ids(store):
    return [r.id for r in store.current.rules]


async def watching(store, directory) -> None:
    """Return once the store's watcher reacts to changes in ``directory``: a probe policy
    file is written (again, while unseen) until it is loaded, then removed until it is
    gone. A change made before the watcher is in place would otherwise wait for the
    periodic check."""
    probe = directory / "zz-watch-probe.toml"
    writes = 0

    def probe_loaded() -> bool:
        nonlocal writes
        if any(i.startswith("zz-probe") for i in rule_ids(store)):
            return True
        writes += 1
        probe.write_text(rule(f"zz-probe-{writes}"))
        return False

    await wait_for_async(probe_loaded, interval=0.2, what="the watcher to load a probe file")
    probe.unlink()
    await wait_for_async(lambda: not any(i.startswith("zz-probe") for i in rule_ids(store)),
                         what="the watcher to drop the probe file")


def test_load_initial_raises_on_a_broken_set(tmp_path, sandbox):
    write(tmp_path, "a.toml", rule("x", validate="object.size >"))
    store = PolicyStore([tmp_path], sandbox=sandbox)
    with pytest.raises(PolicyError):
        store.load_initial()
    with pytest.raises(RuntimeError):
        store.current                                  # nothing in force: no fail-open
    assert store.status()["error"]["problems"][0]["rule"] == "x"


def test_reload_keeps_the_previous_set_on_a_broken_change(tmp_path, sandbox):
    write(tmp_path, "a.toml", rule("x"))
    store = PolicyStore([tmp_path], sandbox=sandbox)
    first = store.load_initial()
    write(tmp_path, "a.toml", rule("x", validate="asset.prompt"))
    assert store.reload() is False
    assert store.current is first
    [problem] = store.last_error["problems"]
    assert problem == {"file": str(tmp_path / "a.toml"), "line": 4, "rule": "x",
                       "message": "validate: must return bool, but returned string on the "
                                  "full sample context"}
    assert store.status()["error"] == store.last_error
    assert store.status()["revision"] == first.revision
    write(tmp_path, "a.toml", rule("x"))                # the edit is reverted
    assert store.reload() is False and store.last_error is None and store.current is first


def test_hot_reload_add_edit_break_and_remove(tmp_path, sandbox):
    async def scenario():
        write(tmp_path, "a.toml", rule("first", validate="false"))
        store = PolicyStore([tmp_path], sandbox=sandbox, debounce_ms=100)
        store.load_initial()
        store.start()
        try:
            await watching(store, tmp_path)
            assert store.current.evaluate("intake", context()).action == "deny"
            reloads = store.reloads

            write(tmp_path, "b.toml", rule("second"))                   # add
            await wait_for_async(lambda: rule_ids(store) == ["first", "second"])

            write(tmp_path, "a.toml", rule("first", validate="true"))    # edit
            await wait_for_async(
                lambda: store.current.evaluate("intake", context()).action == "allow")
            good = store.current

            write(tmp_path, "b.toml", rule("second", validate="object.size + 1"))  # break
            await wait_for_async(lambda: store.last_error is not None)
            assert store.current is good                # the old set stays in force
            problem = store.last_error["problems"][0]
            assert (problem["file"], problem["line"], problem["rule"]) == (
                str(tmp_path / "b.toml"), 4, "second")

            write(tmp_path, "b.toml", rule("second", validate="object.size > 1"))  # fix
            await wait_for_async(lambda: store.last_error is None
                                  and store.current is not good)

            (tmp_path / "b.toml").unlink()                               # remove
            await wait_for_async(lambda: rule_ids(store) == ["first"])

            # Files that are not policies are never loaded, even broken ones written
            # together with a real change.
            (tmp_path / "notes.txt").write_text("[[rule]\n")                # not a policy
            (tmp_path / ".a.toml.swp").write_text("[[rule]\n")
            write(tmp_path, "c.toml", rule("third"))
            await wait_for_async(lambda: rule_ids(store) == ["first", "third"])
            assert store.last_error is None
            assert store.reloads - reloads == 5
        finally:
            await store.close()

    asyncio.run(scenario())


def test_reload_with_the_default_debounce(tmp_path, sandbox):
    # How soon a change is in force is measured by `python -m bench --timings`.
    async def scenario():
        write(tmp_path, "a.toml", rule("x"))
        store = PolicyStore([tmp_path], sandbox=sandbox)      # default debounce
        store.load_initial()
        store.start()
        try:
            await watching(store, tmp_path)
            write(tmp_path, "a.toml", rule("y"))
            await wait_for_async(lambda: rule_ids(store) == ["y"])
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_directory_removed_and_recreated_is_followed(tmp_path, sandbox):
    # removing a policy directory is a broken change (the old set stays); when it comes
    # back, the watcher picks it up again (events, or the periodic fingerprint check)
    async def scenario():
        import shutil
        present, other = tmp_path / "present", tmp_path / "other"
        write(present, "a.toml", rule("a"))
        write(other, "b.toml", rule("b"))
        store = PolicyStore([present, other], sandbox=sandbox, poll_interval=0.3,
                            debounce_ms=100)
        store.load_initial()
        store.start()
        try:
            await watching(store, present)
            shutil.rmtree(other)
            await wait_for_async(lambda: store.last_error is not None)
            assert rule_ids(store) == ["a", "b"]
            assert "does not exist" in store.last_error["problems"][0]["message"]
            write(other, "c.toml", rule("c"))
            await wait_for_async(lambda: rule_ids(store) == ["a", "c"])
            write(other, "c.toml", rule("d"))
            await wait_for_async(lambda: rule_ids(store) == ["a", "d"])
        finally:
            await store.close()

    asyncio.run(scenario())


def test_dry_run_and_mode_apply_to_reloaded_sets(tmp_path, sandbox):
    write(tmp_path, "a.toml", rule("x", validate="false"))
    store = PolicyStore([tmp_path], sandbox=sandbox, dry_run=True)
    store.load_initial()
    assert store.current.evaluate("intake", context()).outcome("x").action == "audit"
    write(tmp_path, "a.toml", rule("y", validate="false"))
    assert store.reload()
    assert store.current.evaluate("intake", context()).outcome("y").action == "audit"


def test_loads_and_rejections_are_audited(tmp_path, sandbox):
    write(tmp_path / "p", "a.toml", rule("x"))
    audit = AuditLog.open(tmp_path / "catalog")
    try:
        store = PolicyStore([tmp_path / "p"], sandbox=sandbox, audit=audit)
        first = store.load_initial()
        write(tmp_path / "p", "a.toml", "[[rule]\n")
        store.reload()
        entries = list(audit.iter())
        assert [e["kind"] for e in entries] == ["policy-loaded", "policy-rejected"]
        assert entries[0]["revision"] == first.revision
        assert entries[0]["detail"]["files"] == [str(tmp_path / "p" / "a.toml")]
        assert entries[1]["revision"] == first.revision      # what stays in force
        assert "TOML error" in entries[1]["detail"]["problems"][0]["message"]
    finally:
        audit.close()


def test_store_owns_its_sandbox_when_none_is_given(tmp_path):
    async def scenario():
        write(tmp_path, "a.toml", rule("x", validate="false"))
        store = PolicyStore([tmp_path], workers=1, timeout=1.0)
        await asyncio.to_thread(store.load_initial)
        decision = await store.current.evaluate_async("intake", context())
        assert decision.action == "deny"
        await store.close()
        with pytest.raises(RuntimeError):
            store.current.evaluate("intake", context())

    asyncio.run(scenario())
