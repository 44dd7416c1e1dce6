"""The policy set of a running server: start-up checks, hot reload, modes, dry-run.

Real ``provgate serve`` processes on both backends; policy files are written into the
server's own policy directory while it runs, and every effect is polled for through S3
and the admin API (no sleeps standing in for assertions).
"""

from __future__ import annotations

import json

import pytest

from gateway import config as config_module
from tests.conftest import client, storage_section
from tests.support.policies import rule, write
from tests.support.polling import wait_for
from tests.support.server import ROOT, ProvgateServer
from tests.test_policy_cli import provgate
from tests.test_policy_intake import admin_json, audit_entries, headers_of

DENY_TEXT = rule("no-text", validate='!object.content_type.startsWith("text/")',
                 message='"no text files here"', action='"deny"')


def put_text(s3, bucket: str = "box1", key: str = "note.txt"):
    """(status, policy header, warning header) of a text PUT."""
    try:
        reply = s3.put_object(Bucket=bucket, Key=key, Body=b"words", ContentType="text/plain")
    except Exception as exc:  # noqa: BLE001 - botocore ClientError; the status is the point
        response = exc.response
        return (response["ResponseMetadata"]["HTTPStatusCode"],
                headers_of(response).get("x-provgate-policy"), None)
    return 200, None, headers_of(reply).get("x-provgate-warning")


@pytest.fixture
def running(make_server):
    server = make_server()
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="box1")
    return server, s3


# --- start-up ---------------------------------------------------------------------------

def start_refused(backend_kind, tmp_path, request, policies: dict) -> ProvgateServer:
    workdir = tmp_path / "refused"
    server = ProvgateServer(workdir, storage_section(backend_kind, workdir, request),
                            policies=policies)
    with pytest.raises(RuntimeError):
        server.start()
    return server


def test_server_refuses_to_start_on_a_broken_set(backend_kind, tmp_path, request):
    broken = tmp_path / "broken-policies"
    write(broken, "brand.toml", rule("good") + rule("typo", validate="has(asset.promt)"))
    server = start_refused(backend_kind, tmp_path, request, {"dirs": [str(broken)]})
    assert server.returncode == 2
    log = server.log()
    assert "the policy set does not load; refusing to start" in log
    assert f"{broken}/brand.toml:9 typo: validate: 'asset' has no field 'promt'" in log
    assert "S3 endpoint" not in log


def test_server_refuses_to_start_without_its_policy_directory(backend_kind, tmp_path, request):
    missing = tmp_path / "no-such-dir"
    server = start_refused(backend_kind, tmp_path, request, {"dirs": [str(missing)]})
    assert server.returncode == 2
    assert f"{missing}: policy directory does not exist" in server.log()


@pytest.mark.parametrize("section, complaint", [
    ({"mode": "deny"}, "'policies.mode' must be one of enforce, warn, audit"),
    ({"dirs": []}, "'policies.dirs' must be a non-empty list"),
    ({"dirs": "policies"}, "'policies.dirs' must be list"),
    ({"eval_timeout": 0}, "'policies.eval_timeout' must be more than 0"),
    ({"workers": 0}, "'policies.workers' must be between 1 and 64"),
    ({"workers": True}, "'policies.workers' must be int"),
    ({"dry_run": "yes"}, "'policies.dry_run' must be bool"),
    ({"quarantine_bucket": "Bad_Name"}, "'policies.quarantine_bucket' is not a valid bucket"),
    ({"strict": True}, "unknown key 'policies.strict'"),
])
def test_bad_policies_settings_are_config_errors(tmp_path, section, complaint):
    from tests.support.server import render_config
    path = tmp_path / "provgate.toml"
    path.write_text(render_config({"policies": section}, []))
    with pytest.raises(config_module.ConfigError) as info:
        config_module.load(path)
    assert complaint in str(info.value)


def test_policy_defaults_resolve_against_the_config_file(tmp_path):
    path = tmp_path / "provgate.toml"
    path.write_text("")
    config = config_module.load(path)
    assert [config.resolve(d) for d in config.policies.dirs] == [tmp_path / "policies"]
    assert (config.policies.mode, config.policies.dry_run) == ("enforce", False)
    example = config_module.load(ROOT / "config.example.toml")
    assert [example.resolve(d) for d in example.policies.dirs] == [ROOT / "policies"]


# --- hot reload ---------------------------------------------------------------------------

def test_adding_editing_and_removing_a_file_takes_effect(running):
    server, s3 = running
    assert put_text(s3) == (200, None, None)
    path = write(server.policy_dir, "text.toml", DENY_TEXT)
    wait_for(lambda: put_text(s3) == (403, "no-text", None))
    write(server.policy_dir, path.name, 'mode = "warn"\n' + DENY_TEXT)
    assert wait_for(lambda: put_text(s3)[2]) == "no-text: no text files here"
    path.unlink()
    wait_for(lambda: put_text(s3) == (200, None, None))
    status = admin_json(server, "/api/v1/policies")[1]
    assert status["rules"] == [] and status["error"] is None and status["reloads"] >= 3


def test_a_broken_change_keeps_the_previous_set_and_is_reported(running):
    server, s3 = running
    path = write(server.policy_dir, "text.toml", DENY_TEXT)
    wait_for(lambda: put_text(s3)[0] == 403)
    revision = admin_json(server, "/api/v1/policies")[1]["revision"]
    for broken in (DENY_TEXT + "[[rule]\n",                            # TOML syntax
                   DENY_TEXT.replace("!object", "!!object ="),        # CEL syntax
                   DENY_TEXT.replace("validate = '", "validate = 'object.size + "),  # type
                   DENY_TEXT + "colour = 'red'\n",                     # unknown key
                   DENY_TEXT.replace("validate = '!object.content_type.startsWith(\"text/\")'",
                                     "validate = 'object.key'")):      # not a bool
        write(server.policy_dir, path.name, broken)
        error = wait_for(lambda: admin_json(server, "/api/v1/policies")[1]["error"])
        problem = error["problems"][0]
        assert problem["file"].endswith("text.toml") and problem["line"], error
        status = admin_json(server, "/api/v1/policies")[1]
        assert status["revision"] == revision, server.log()  # the old set is still in force
        assert put_text(s3) == (403, "no-text", None)
        write(server.policy_dir, path.name, DENY_TEXT)        # fixed again: error cleared
        wait_for(lambda: admin_json(server, "/api/v1/policies")[1]["error"] is None)
    rejected = audit_entries(server, kind="policy-rejected")
    assert len(rejected) == 5 and all(e["revision"] == revision for e in rejected)


def test_a_broken_new_file_does_not_disable_the_others(running):
    server, s3 = running
    write(server.policy_dir, "text.toml", DENY_TEXT)
    wait_for(lambda: put_text(s3)[0] == 403)
    write(server.policy_dir, "zz-new.toml", rule("half-written", validate="object.size >"))
    error = wait_for(lambda: admin_json(server, "/api/v1/policies")[1]["error"])
    assert error["problems"][0]["rule"] == "half-written"
    rejections = len(audit_entries(server, kind="policy-rejected"))
    (server.policy_dir / "text.toml").unlink()    # the set is still broken as a whole, so
    wait_for(lambda: len(audit_entries(server, kind="policy-rejected")) > rejections)
    assert put_text(s3)[0] == 403                 # the removal is not applied either


# --- modes and dry-run ----------------------------------------------------------------

def test_a_file_in_audit_mode_records_but_stores(running):
    server, s3 = running
    write(server.policy_dir, "text.toml", 'mode = "audit"\n' + DENY_TEXT)
    wait_for(lambda: admin_json(server, "/api/v1/policies")[1]["rules"])
    assert put_text(s3, key="audited.txt") == (200, None, None)
    entry, = audit_entries(server, key="audited.txt", rule="no-text")
    assert (entry["action"], entry["intended"], entry["mode"]) == ("audit", "deny", "audit")


def test_dry_run_denies_nothing_and_records_what_would_have_been(make_server):
    server = make_server(policies={"dirs": [str(ROOT / "policies")], "dry_run": True})
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="renders")
    reply = s3.put_object(Bucket="renders", Key="n.txt", Body=b"x", ContentType="text/plain")
    assert "x-provgate-policy" not in headers_of(reply)
    assert s3.get_object(Bucket="renders", Key="n.txt")["Body"].read() == b"x"
    entry, = audit_entries(server, key="n.txt", rule="bucket-content-types")
    assert (entry["action"], entry["intended"]) == ("audit", "deny")
    assert admin_json(server, "/api/v1/policies")[1]["dry_run"] is True


def test_global_default_mode_warn_turns_denials_into_warnings(make_server):
    server = make_server(policies={"mode": "warn"})
    write(server.policy_dir, "text.toml", DENY_TEXT)
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="box1")
    wait_for(lambda: put_text(s3)[2] == "no-text: no text files here")


def test_admin_api_audit_filters_and_pages(running):
    server, s3 = running
    write(server.policy_dir, "text.toml", DENY_TEXT)
    wait_for(lambda: put_text(s3)[0] == 403)
    for n in range(3):
        put_text(s3, key=f"p{n}.txt")
    status, page = admin_json(server, "/api/v1/audit?rule=no-text&action=deny&limit=2")
    assert status == 200 and len(page["entries"]) == 2 and page["next"]
    rest = admin_json(server, f"/api/v1/audit?rule=no-text&action=deny&since={page['next']}")[1]
    keys = [e["key"] for e in page["entries"] + rest["entries"]]
    assert keys[-3:] == ["p0.txt", "p1.txt", "p2.txt"] and len(set(
        e["seq"] for e in page["entries"] + rest["entries"])) == len(keys)
    assert all(e["version_id"] is None for e in rest["entries"])
    for bad in ("limit=-1", "since=x", "colour=red"):
        assert admin_json(server, f"/api/v1/audit?{bad}")[0] == 400


# --- stored assets: explain, re-check, audit CLI ----------------------------------------

def stored_then_forbidden(server, s3) -> str:
    """A text file stored while no rule forbids it, then a rule that does; its revision."""
    put_text(s3, key="old.txt")
    write(server.policy_dir, "text.toml", DENY_TEXT)
    wait_for(lambda: put_text(s3, key="probe.txt")[0] == 403)
    return admin_json(server, "/api/v1/policies")[1]["revision"]


def test_explain_says_which_rules_match_a_stored_asset_and_why(running):
    server, s3 = running
    stored_then_forbidden(server, s3)
    write(server.policy_dir, "rights.toml", '''
        [[set]]
        id = "box-licence"
        when = 'object.bucket == "box1"'
        values = { license = "CC-BY-4.0" }

        [[rule]]
        id = "images-only-review"
        stage = "review"
        match = 'object.content_type.startsWith("image/")'
        validate = 'has(asset.prompt)'
        ''')
    wait_for(lambda: len(admin_json(server, "/api/v1/policies")[1]["rules"]) == 2)
    done = provgate("policy", "explain", "box1/old.txt", "--json",
                    "--config", str(server.config_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["revision"] == admin_json(server, "/api/v1/policies")[1]["revision"]
    intake, = report["stages"]["intake"]["outcomes"]
    assert (intake["rule_id"], intake["result"], intake["action"]) == ("no-text", "fail", "deny")
    assert intake["message"] == "no text files here" and intake["file"].endswith("text.toml")
    review, = report["stages"]["review"]["outcomes"]
    assert (review["rule_id"], review["result"]) == ("images-only-review", "skip")
    assert report["defaults"] == {"license": {"value": "CC-BY-4.0", "from": "box-licence"}}
    table = provgate("policy", "explain", "box1/old.txt", "--config", str(server.config_path))
    assert table.returncode == 0
    assert "intake: deny" in table.stdout and "no text files here" in table.stdout
    assert "match is false: object.content_type.startsWith(\"image/\")" in table.stdout
    missing = provgate("policy", "explain", "box1/nothing.txt", "--config",
                       str(server.config_path))
    assert missing.returncode == 1 and "no asset box1/nothing.txt" in missing.stderr


def test_stored_assets_are_rechecked_when_the_set_changes(running):
    server, s3 = running
    revision = stored_then_forbidden(server, s3)

    def finished():
        report = admin_json(server, "/api/v1/violations")[1]
        return report if (report["revision"], report["state"]) == (revision, "done") else None

    report = wait_for(finished)
    assert report["checked"] >= 1
    violation, = [v for v in report["violations"] if v["key"] == "old.txt"]
    assert (violation["bucket"], violation["rule"], violation["action"]) == \
        ("box1", "no-text", "deny")
    (server.policy_dir / "text.toml").unlink()
    wait_for(lambda: admin_json(server, "/api/v1/violations")[1]["violations"] == [] and
               admin_json(server, "/api/v1/violations")[1]["state"] == "done" and
               admin_json(server, "/api/v1/violations")[1]["revision"] != revision)


def test_writes_let_through_with_a_warning_show_as_violations_without_a_reload(make_server,
                                                                              tmp_path):
    policies = tmp_path / "warn-policies"
    write(policies, "text.toml", rule("text-warned", validate='!object.content_type.startsWith("text/")',
                                      message='"text is tolerated here"', action='"warn"'))
    server = make_server(policies={"dirs": [str(policies)]})
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="box1")
    revision = admin_json(server, "/api/v1/policies")[1]["revision"]
    assert put_text(s3, key="late.txt")[2].startswith("text-warned")

    def reported():
        report = admin_json(server, "/api/v1/violations")[1]
        return report if any(v["key"] == "late.txt" for v in report["violations"]) else None

    report = wait_for(reported, what="the late violation")
    assert report["revision"] == revision and report["checked"] >= 1   # the same set, no reload
    violation, = [v for v in report["violations"] if v["key"] == "late.txt"]
    assert (violation["rule"], violation["action"]) == ("text-warned", "warn")
    # Later runs judge only what changed: a new version of the key replaces its verdict,
    # and the assets judged before keep theirs.
    assert put_text(s3, key="other.txt")[2].startswith("text-warned")
    s3.put_object(Bucket="box1", Key="late.txt", Body=b"\x89PNG", ContentType="image/png")

    def settled():
        report = admin_json(server, "/api/v1/violations")[1]
        keys = sorted(v["key"] for v in report["violations"])
        return report if report["state"] == "done" and keys == ["other.txt"] else None

    report = wait_for(settled, what="the late key's new version judged")
    assert report["revision"] == revision and report["checked"] == 2


def test_every_command_names_the_same_revision_for_the_same_files(make_server):
    server = make_server(policies={"dirs": [str(ROOT / "policies")]})
    served = admin_json(server, "/api/v1/policies")[1]["revision"]
    lint = provgate("policy", "lint", "policies")          # relative, from the checkout
    test = provgate("policy", "test", "./policies")
    assert lint.returncode == 0 and test.returncode == 0, lint.stdout + test.stdout
    assert f"(revision {served})" in lint.stdout
    assert f"(policy revision {served})" in test.stdout


def test_audit_cli_reads_a_running_servers_log(running):
    server, s3 = running
    stored_then_forbidden(server, s3)
    done = provgate("audit", "--json", "--config", str(server.config_path))
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    denial = [e for e in entries if e.get("rule") == "no-text" and e["action"] == "deny"]
    assert denial and denial[0]["key"] == "probe.txt" and denial[0]["identity"] == "tester"
    assert entries[0]["kind"] == "policy-loaded"
    table = provgate("audit", "--config", str(server.config_path))
    assert "no-text" in table.stdout and "box1/probe.txt" in table.stdout
