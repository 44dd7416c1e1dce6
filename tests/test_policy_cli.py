"""``provgate policy lint|test`` and ``provgate audit``, run as the user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.policy import AuditLog, Sandbox, load_policies
from tests.support.policies import context, rule, write

ROOT = Path(__file__).resolve().parent.parent


def provgate(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


# --- lint ---------------------------------------------------------------------------

def test_lint_ok(tmp_path):
    write(tmp_path, "a.toml", rule("x") + '[[set]]\nid = "s"\nvalues = { brand = "b" }\n')
    result = provgate("policy", "lint", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: 1 rules, 1 defaults, 0 routes in 1 file(s) (revision ")


def test_lint_errors_print_file_line_rule_message(tmp_path):
    write(tmp_path, "a.toml", rule("good") + rule("bad", validate="object.size >"))
    write(tmp_path, "b.toml", rule("typed", validate="asset.prompt"))
    result = provgate("policy", "lint", str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines == [
        f"{tmp_path}/a.toml:9 bad: validate: syntax error: unexpected end of expression "
        "(line 1, column 14 of the expression)",
        f"{tmp_path}/b.toml:4 typed: validate: must return bool, but returned string on the "
        "full sample context",
    ]
    assert "2 problem(s)" in result.stderr


def test_lint_toml_error(tmp_path):
    write(tmp_path, "a.toml", "[[rule]\n")
    result = provgate("policy", "lint", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{tmp_path}/a.toml:1: TOML error:")


def test_lint_several_dirs_and_default_dir(tmp_path):
    write(tmp_path / "one", "a.toml", rule("same"))
    write(tmp_path / "two", "a.toml", rule("same"))
    result = provgate("policy", "lint", str(tmp_path / "one"), str(tmp_path / "two"))
    assert result.returncode == 1 and "duplicate id" in result.stdout
    write(tmp_path / "policies", "a.toml", rule("x"))
    assert provgate("policy", "lint", cwd=tmp_path).returncode == 0      # ./policies
    assert provgate("policy", "lint", str(tmp_path / "missing")).returncode == 1


# --- test ---------------------------------------------------------------------------

CASES = """
[[case]]
name = "png without prompt"
object = { bucket = "renders", key = "a.png", size = 10, content_type = "image/png" }
expect = { needs-prompt = "deny" }
decision = "deny"

[[case]]
name = "png with prompt"
object = { bucket = "renders", key = "a.png", size = 10, content_type = "image/png" }
asset = { prompt = "a fox" }
expect = { needs-prompt = "pass" }
defaults = { copyright = "© Example" }
"""

POLICY = """
[[rule]]
id = "needs-prompt"
stage = "intake"
validate = 'has(asset.prompt)'

[[set]]
id = "rights"
values = { copyright = "© Example" }
"""


def test_test_passes_and_prints_a_table(tmp_path):
    write(tmp_path, "p.toml", POLICY)
    write(tmp_path / "tests", "cases.toml", CASES)
    result = provgate("policy", "test", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CASE", "CHECK", "EXPECTED", "GOT", "RESULT"]
    assert lines[1].split() == ["png", "without", "prompt", "needs-prompt", "deny", "deny", "ok"]
    assert len([line for line in lines if line.endswith(" ok")]) == 4
    assert "2 case(s), 4 check(s), 0 mismatch(es)" in result.stdout


def test_test_mismatch_is_non_zero_and_explained(tmp_path):
    write(tmp_path, "p.toml", POLICY)
    write(tmp_path / "tests", "cases.toml", CASES.replace('needs-prompt = "pass"',
                                                          'needs-prompt = "deny"'))
    result = provgate("policy", "test", str(tmp_path))
    assert result.returncode == 1
    row = [line for line in result.stdout.splitlines() if "MISMATCH" in line]
    assert len(row) == 1 and row[0].split()[-4:] == ["needs-prompt", "deny", "allow", "MISMATCH"]
    assert "1 mismatch(es)" in result.stdout


def test_test_broken_case_file(tmp_path):
    write(tmp_path, "p.toml", POLICY)
    write(tmp_path / "tests", "cases.toml", CASES.replace("needs-prompt = \"deny\"",
                                                          "no-such-rule = \"deny\""))
    result = provgate("policy", "test", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path}/tests/cases.toml:1 png without prompt: expect: no rule 'no-such-rule'" \
        in result.stdout


def test_test_broken_policy_and_no_cases(tmp_path):
    write(tmp_path, "p.toml", rule("x", validate="asset.prompt"))
    result = provgate("policy", "test", str(tmp_path))
    assert result.returncode == 1 and "must return bool" in result.stdout
    write(tmp_path, "p.toml", rule("x"))
    result = provgate("policy", "test", str(tmp_path))
    assert result.returncode == 1 and "no test cases" in result.stdout


# --- audit --------------------------------------------------------------------------

@pytest.fixture
def audited(tmp_path):
    write(tmp_path / "p", "a.toml", rule("ok") + rule("fails", validate="false"))
    config = tmp_path / "provgate.toml"
    config.write_text('[catalog]\npath = "./catalog"\n')
    with Sandbox(workers=1) as sb:
        decision = load_policies([tmp_path / "p"], sandbox=sb).evaluate("intake", context())
    log = AuditLog.open(tmp_path / "catalog")
    log.append_event("policy-loaded", revision=decision.revision)
    log.record(decision, bucket="renders", key="a.png", identity="alice")
    yield config, decision, log              # the writer stays open, as the server's would
    log.close()


def test_audit_json(audited):
    config, decision, _ = audited
    result = provgate("audit", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["seq"], e["kind"], e.get("rule"), e.get("action")) for e in entries] == [
        (1, "policy-loaded", None, None), (2, "decision", "ok", "allow"),
        (3, "decision", "fails", "deny")]
    assert entries[2]["revision"] == decision.revision and entries[2]["identity"] == "alice"
    since = provgate("audit", "--config", str(config), "--json", "--since", "1", "--limit", "1")
    assert [json.loads(x)["seq"] for x in since.stdout.splitlines()] == [2]


def test_audit_table(audited):
    config, decision, _ = audited
    result = provgate("audit", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["SEQ", "TIME", "REVISION", "STAGE", "RULE", "ACTION"]
    assert "[policy-loaded]" in lines[1]
    assert lines[3].split()[2:] == [decision.revision, "intake", "fails", "deny", "renders/a.png",
                                    "alice"]


def test_audit_without_catalog(tmp_path):
    config = tmp_path / "provgate.toml"
    config.write_text('[catalog]\npath = "./nothing"\n')
    result = provgate("audit", "--config", str(config))
    assert result.returncode == 1 and "no catalog" in result.stderr
