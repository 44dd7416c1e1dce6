"""The policies shipped in policies/ load cleanly and pass their own test cases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.policy import Sandbox, build_context, load_policies
from gateway.policy.testing import run_tests

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=1) as sb:
        yield sb


def test_shipped_policies_pass_their_tests_via_the_cli():
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "policy", "test", "policies"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 mismatch(es)" in result.stdout


def test_every_shipped_rule_and_default_is_tested(sandbox):
    report = run_tests(POLICIES, sandbox=sandbox)
    assert report.ok
    policy_set = load_policies([POLICIES], sandbox=sandbox)
    checked = {c.check.split(".")[0] for c in report.checks}
    for r in policy_set.rules:
        assert r.id in checked, f"rule {r.id} has no test case"
        assert {c.expected for c in report.checks if c.check == r.id} & {"deny", "warn", "quarantine"}, \
            f"no test case shows rule {r.id} failing"
    assert "defaults" in checked


def test_each_policy_file_has_a_test_file():
    for policy in POLICIES.glob("*.toml"):
        assert (POLICIES / "tests" / policy.name).is_file(), policy.name


def test_shipped_set_at_intake_end_to_end(sandbox):
    ps = load_policies([POLICIES], sandbox=sandbox)
    ctx = build_context(bucket="renders", key="hero.png", size=4096, content_type="image/png",
                        detected_type="image/png", record={"source_type": "http://cv.iptc.org/newscodes/"
                                               "digitalsourcetype/trainedAlgorithmicMedia",
                                "prompt": "a red sneaker, by Greg Rutkowski"})
    decision = ps.evaluate("intake", ctx)
    denied = {o.rule_id: o.message for o in decision.outcomes if o.action == "deny"}
    assert denied == {
        "ai-image-model": "AI-generated images must name the model that made them (header "
                          "x-amz-meta-model, or the generator's metadata in the file)",
        "banned-prompt-terms": "the prompt uses banned term(s): greg rutkowski"}
