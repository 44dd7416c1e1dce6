"""Loading policy files: what is accepted, and every way a file is rejected with its place."""

from __future__ import annotations

import pytest

from gateway.policy import PolicyError, Sandbox, load_policies
from tests.support.policies import rule, write


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=1, timeout=2.0) as sb:
        yield sb


def problems_of(tmp_path, sandbox, text, name="p.toml"):
    path = write(tmp_path, name, text)
    with pytest.raises(PolicyError) as info:
        load_policies([tmp_path], sandbox=sandbox)
    return path, info.value.problems


def one_problem(tmp_path, sandbox, text):
    path, problems = problems_of(tmp_path, sandbox, text)
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert problem.file == str(path)
    return problem


def test_a_valid_set_loads_with_rules_defaults_and_routes(tmp_path, sandbox):
    write(tmp_path, "b.toml", """
        mode = "audit"
        description = "second file"

        [[rule]]
        id = "later"
        stage = ["review", "distribute"]
        validate = 'review.status != "rejected"'
        mode = "enforce"
        on_error = "ignore"

        [[route]]
        id = "shop"
        when = 'review.status == "approved" && has(asset.sku)'
        targets = ["shop", "cdn"]
    """)
    write(tmp_path, "a.toml", """
        [[rule]]
        id = "require-prompt"
        stage = "intake"
        match = 'object.content_type.startsWith("image/")'
        validate = 'has(asset.prompt) && asset.prompt != ""'
        message = "AI images must carry the prompt that made them"
        action = "deny"

        [[set]]
        id = "renders"
        when = 'object.bucket == "renders"'
        [set.values]
        copyright = "© Example"
        data_mining = "DMI-PROHIBITED-AIMLTRAINING"
    """)
    ps = load_policies([tmp_path], sandbox=sandbox)
    assert [r.id for r in ps.rules] == ["require-prompt", "later"]      # file-name order
    assert ps.rules[0].stages == ("intake",) and ps.rules[0].mode == "enforce"
    assert ps.rules[1].stages == ("review", "distribute") and ps.rules[1].on_error == "ignore"
    assert ps.sets[0].values == {"copyright": "© Example",
                                 "data_mining": "DMI-PROHIBITED-AIMLTRAINING"}
    assert ps.routes[0].targets == ("shop", "cdn")
    assert ps.files == [str(tmp_path / "a.toml"), str(tmp_path / "b.toml")]
    assert len(ps.revision) == 16


def test_file_mode_is_the_default_for_its_rules(tmp_path, sandbox):
    write(tmp_path, "a.toml", 'mode = "warn"\n' + rule("x") + rule("y", mode='"audit"'))
    write(tmp_path, "b.toml", rule("z"))
    ps = load_policies([tmp_path], sandbox=sandbox, mode="audit")
    assert {r.id: r.mode for r in ps.rules} == {"x": "warn", "y": "audit", "z": "audit"}


def test_revision_changes_with_content_only(tmp_path, sandbox):
    write(tmp_path, "a.toml", rule("x"))
    first = load_policies([tmp_path], sandbox=sandbox).revision
    assert load_policies([tmp_path], sandbox=sandbox).revision == first
    write(tmp_path, "a.toml", rule("x", validate="false"))
    assert load_policies([tmp_path], sandbox=sandbox).revision != first


def test_empty_directory_is_an_empty_set(tmp_path, sandbox):
    ps = load_policies([tmp_path], sandbox=sandbox)
    assert ps.rules == [] and ps.sets == [] and ps.routes == []


def test_subdirectories_are_not_loaded(tmp_path, sandbox):
    write(tmp_path, "a.toml", rule("x"))
    write(tmp_path / "tests", "cases.toml", "[[case]]\nname = 'not a policy'\n")
    assert [r.id for r in load_policies([tmp_path], sandbox=sandbox).rules] == ["x"]


def test_missing_directory(tmp_path, sandbox):
    with pytest.raises(PolicyError) as info:
        load_policies([tmp_path / "nope"], sandbox=sandbox)
    assert "does not exist" in str(info.value)


# --- broken files: each problem names file, line and rule ----------------------------

def test_toml_error(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, '[[rule]]\nid = "x"\nstage = "intake"\nvalidate = "true\n')
    assert p.line == 4 and "TOML error" in p.message


def test_cel_syntax_error_with_position(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("ok") + rule("bad", validate="object.size > "))
    assert (p.rule, p.line) == ("bad", 9)
    assert "validate: syntax error" in p.message and "column 15" in p.message
    assert str(p) == f"{p.file}:9 bad: {p.message}"


def test_cel_syntax_error_in_multiline_expression_points_at_the_line(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, """
        [[rule]]
        id = "multi"
        stage = "intake"
        validate = '''
        object.size > 1 &&
          object.key == &&
          true'''
    """)
    assert (p.rule, p.line) == ("multi", 6)
    assert "line 2" in p.message


def test_type_error(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("t", validate='object.size + "MiB" == "1MiB"'))
    assert (p.rule, p.line) == ("t", 4)
    assert "No such overload" in p.message or "Unsupported" in p.message
    assert "sample context" in p.message


def test_type_error_in_message_expression(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("m", message_expression="'object.size'"))
    assert p.rule == "m" and "message_expression: must return string" in p.message


@pytest.mark.parametrize("expr,returned", [("asset.prompt", "string"), ("object.size", "int"),
                                           ("asset.people", "list"), ("null", "null")])
def test_non_bool_result(tmp_path, sandbox, expr, returned):
    p = one_problem(tmp_path, sandbox, rule("nb", validate=expr))
    assert p.rule == "nb" and f"must return bool, but returned {returned}" in p.message


def test_non_bool_match_and_when(tmp_path, sandbox):
    _, problems = problems_of(tmp_path, sandbox, rule("r", match="'object.key'") + """
        [[set]]
        id = "s"
        when = 'object.bucket'
        values = { brand = "x" }
    """)
    assert sorted((p.rule, p.message.split(":")[0]) for p in problems) == [
        ("r", "match"), ("s", "when")]


def test_unknown_rule_key(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("u", severity='"high"'))
    assert (p.rule, p.line) == ("u", 5)
    assert "unknown key 'severity'" in p.message


def test_unknown_key_suggests_the_near_miss(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("u", mesage='"hi"'))
    assert "did you mean 'message'?" in p.message


def test_unknown_top_level_key(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, 'colour = "red"\n' + rule("x"))
    assert p.line == 1 and p.rule is None and "unknown top-level key 'colour'" in p.message


def test_single_table_instead_of_array(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, '[rule]\nid = "x"\nstage = "intake"\nvalidate = "true"\n')
    assert p.line == 1 and "[[rule]]" in p.message


def test_unknown_field_variable_and_function(tmp_path, sandbox):
    _, problems = problems_of(tmp_path, sandbox,
                              rule("f", validate="has(asset.promt)")
                              + rule("v", validate="request.size > 0")
                              + rule("g", validate='object.key.glob("*.png")')
                              + rule("n", validate='has(asset.media.detected)'))
    by_rule = {p.rule: p.message for p in problems}
    assert "'asset' has no field 'promt' (did you mean 'prompt'?)" in by_rule["f"]
    assert "unknown variable 'request'" in by_rule["v"]
    assert "unknown function 'glob'" in by_rule["g"]
    assert "'asset.media' has no field 'detected'" in by_rule["n"]


def test_open_maps_and_comprehension_variables_are_not_flagged(tmp_path, sandbox):
    write(tmp_path, "a.toml",
          rule("c", validate="!has(asset.custom.team) || asset.custom.team != \"\"")
          + rule("e", validate="asset.keywords.all(k, k.size() > 0)")
          + rule("s", validate="\"asset.nonsense\" != object.key"))
    assert len(load_policies([tmp_path], sandbox=sandbox).rules) == 3


def test_bad_regex_is_found_at_load(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("re", validate='object.key.matches("[")'))
    assert p.rule == "re" and "regex" in p.message


def test_duplicate_ids_across_files(tmp_path, sandbox):
    write(tmp_path, "a.toml", rule("same"))
    path = write(tmp_path, "b.toml", rule("other") + rule("same"))
    with pytest.raises(PolicyError) as info:
        load_policies([tmp_path], sandbox=sandbox)
    [p] = info.value.problems
    assert (p.file, p.line, p.rule) == (str(path), 6, "same")
    assert f"first defined at {tmp_path / 'a.toml'}:1" in p.message


@pytest.mark.parametrize("extra,needle", [
    ({"stage": '"publish"'}, "'stage' must be one of"),
    ({"action": '"block"'}, "'action' must be one of"),
    ({"mode": '"strict"'}, "'mode' must be one of"),
    ({"on_error": '"skip"'}, "'on_error' must be one of"),
    ({"message": "42"}, "'message' must be a string"),
])
def test_bad_values(tmp_path, sandbox, extra, needle):
    text = rule("x")
    for key, value in extra.items():
        if key == "stage":
            text = text.replace('stage = "intake"', f"stage = {value}")
        else:
            text += f"{key} = {value}\n"
    p = one_problem(tmp_path, sandbox, text)
    assert p.rule == "x" and needle in p.message


def test_missing_required_keys(tmp_path, sandbox):
    _, problems = problems_of(tmp_path, sandbox, """
        [[rule]]
        id = "no-validate"
        stage = "intake"

        [[rule]]
        stage = "intake"
        validate = "true"

        [[route]]
        id = "no-targets"
        when = "true"
    """)
    assert [(p.rule, p.message) for p in problems] == [
        ("no-validate", "'validate' is required"),
        ("rule[1]", "'id' is required"),
        ("no-targets", "'targets' is required: a non-empty list of target names")]


def test_quarantine_only_at_intake(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("q", stage="distribute", action='"quarantine"'))
    assert (p.line, p.message.split(' (')[0]) == (5, "action 'quarantine' applies to stage 'intake' only")


def test_bad_default_values(tmp_path, sandbox):
    _, problems = problems_of(tmp_path, sandbox, """
        [[set]]
        id = "typo"
        values = { licence = "CC-BY-4.0" }

        [[set]]
        id = "bad-dmi"
        values = { data_mining = "maybe" }
    """)
    assert [p.rule for p in problems] == ["typo", "bad-dmi"]
    assert "did you mean 'license'?" in problems[0].message
    assert "not a PLUS DataMining value" in problems[1].message
    assert [p.line for p in problems] == [3, 7]


def test_over_long_expression(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("long", validate=" && ".join(["true"] * 1200)))
    assert "limit is 4096" in p.message


def test_deeply_nested_expression_is_rejected_not_crashing(tmp_path, sandbox):
    p = one_problem(tmp_path, sandbox, rule("deep", validate="(" * 1500 + "true" + ")" * 1500))
    assert p.rule == "deep" and "validate" in p.message


def test_pathological_constant_expression_is_rejected_at_load(tmp_path, sandbox):
    big = "[1,2,3,4,5,6,7,8,9,10]"
    expr = f"{big}.map(a, {big}.map(b, {big}.map(c, {big}.map(d, {big}.map(e, {big}.map(f, f))))))" \
           ".size() > 0"
    p = one_problem(tmp_path, sandbox, rule("slow", validate=expr))
    assert p.rule == "slow" and "time limit" in p.message


def test_every_problem_of_every_file_is_reported_at_once(tmp_path, sandbox):
    write(tmp_path, "a.toml", rule("x", validate="object.size >"))
    write(tmp_path, "b.toml", "[[rule]\n")
    write(tmp_path, "c.toml", rule("y", validate="asset.prompt"))
    with pytest.raises(PolicyError) as info:
        load_policies([tmp_path], sandbox=sandbox)
    assert [p.file.rsplit("/", 1)[1] for p in info.value.problems] == ["a.toml", "b.toml",
                                                                        "c.toml"]
