"""Header capture: decoding, validation, the provenance JSON, custom fields."""

from __future__ import annotations

import base64
import json
import urllib.parse
from email.header import Header

from gateway.provenance import capture_headers
from gateway.provenance.headers import decode_value
from gateway.provenance.record import ObjectRef

TAM = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def codes(capture) -> list[str]:
    return [n.code for n in capture.notices]


def test_vocabulary_fields_are_typed_and_canonical():
    c = capture_headers({
        "prompt": "a fox", "negative-prompt": "blurry", "prompt-author": "Ann",
        "generator": "ComfyUI", "model": "sdxl", "model-version": "1.0",
        "seed": "18446744073709551615",
        "steps": "30", "sampler": "euler", "cfg-scale": "7.5",
        "source-type": "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia/",
        "derived-from": "moodboards/ref.png, renders/base.png?versionId=abc%3D%3D",
        "job-id": "J1", "cost": "0.25", "creator": "Ann", "copyright": "© Ann",
        "license": "CC-BY-4.0", "license-url": "https://creativecommons.org/licenses/by/4.0/",
        "usage-terms": "web only", "licensor": "Ann Ltd", "license-expires": "2027-01-31",
        "model-release": "MR-NAP", "people": "Bo, Cy", "data-mining": "prohibited-genaimltraining",
        "campaign": "c", "brand": "b", "sku": "s", "channel": "web"})
    v = c.values
    assert c.notices == []
    assert v["seed"] == 2 ** 64 - 1 and v["steps"] == 30 and v["cfg_scale"] == 7.5
    assert v["cost"] == 0.25 and v["source_type"] == TAM
    assert v["derived_from"] == [ObjectRef("moodboards", "ref.png"),
                                 ObjectRef("renders", "base.png", "abc==")]
    assert v["license_expires"] == "2027-01-31"
    assert v["model_release"] == "http://ns.useplus.org/ldf/vocab/MR-NAP"
    assert v["people"] == ["Bo", "Cy"]
    assert v["data_mining"] == "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-GENAIMLTRAINING"
    assert c.custom == {}


def test_rfc2047_base64_and_quoted_printable():
    b = Header("日本語のプロンプト 🦊", "utf-8").encode()      # =?utf-8?b?...?=
    assert b.startswith("=?utf-8?b?")
    c = capture_headers({"prompt": b, "creator": "=?UTF-8?Q?Ren=C3=A9e_Dupont?=",
                         "licensor": "Studio =?UTF-8?B?w5xiZXI=?= GmbH"})
    assert c.values["prompt"] == "日本語のプロンプト 🦊"
    assert c.values["creator"] == "Renée Dupont"
    assert c.values["licensor"] == "Studio Über GmbH"


def test_percent_encoding_is_decoded_only_when_it_is_encoding():
    assert decode_value(urllib.parse.quote("桜の下\nの狐"))[0] == "桜の下\nの狐"
    assert decode_value("a%20fox%2C%20running")[0] == "a fox, running"
    assert decode_value("20% off, today")[0] == "20% off, today"      # literal text
    assert decode_value("100%")[0] == "100%"
    assert decode_value("%E6%97")[0] == "%E6%97"                       # not UTF-8: kept


def test_derived_from_splits_before_decoding():
    c = capture_headers({"derived-from": "b1/a%2Cb.png,b2/%E6%97%A5.png"})
    assert c.values["derived_from"] == [ObjectRef("b1", "a,b.png"), ObjectRef("b2", "日.png")]


def test_invalid_values_become_notices_not_errors():
    c = capture_headers({"seed": "abc", "steps": "-3", "cfg-scale": "high",
                         "source-type": "aiGenerated", "license-expires": "31/12/2027",
                         "license-url": "ftp://x", "data-mining": "maybe",
                         "derived-from": "no-slash", "prompt": "=?UTF-8?B?!!!?="})
    assert set(c.values) <= {"prompt"}
    messages = " | ".join(n.message for n in c.notices)
    for fragment in ("x-amz-meta-seed: 'abc' is not an integer",
                     "x-amz-meta-steps: -3 is outside",
                     "x-amz-meta-cfg-scale: 'high' is not a number",
                     "'aiGenerated' is not an IPTC Digital Source Type",
                     "'31/12/2027' is not an ISO 8601 date",
                     "is not an http(s) URL", "is not a PLUS DataMining value",
                     "'no-slash' is not bucket/key"):
        assert fragment in messages
    assert {n.field for n in c.notices} >= {"seed", "steps", "cfg_scale", "source_type",
                                            "license_expires", "license_url", "data_mining",
                                            "derived_from"}


def test_unknown_keys_are_custom_fields_and_names_are_normalised():
    c = capture_headers({"X-Amz-Meta-Negative_Prompt": "dark", "render-node": "gpu-07",
                         "client": "caf%C3%A9"})
    assert c.values == {"negative_prompt": "dark"}
    assert c.custom == {"render-node": "gpu-07", "client": "café"}


def test_provenance_json_header():
    payload = {"seed": 42, "steps": 20, "prompt": "from json", "loras": [{"name": "x", "w": 1}],
               "generation": {"width": 832, "height": 1216, "scheduler": "karras",
                              "extra": {"clip_skip": 2}},
               "sources": [{"role": "init_image", "name": "sketch.png",
                            "ref": "inputs/sketch.png?versionId=7"}],
               "custom": {"shot": 12}, "sha256": "00" * 32, "review": {"status": "approved"},
               "derived_from": [{"bucket": "b", "key": "k", "version_id": "v"}]}
    c = capture_headers({"provenance": b64url(payload), "prompt": "individual header wins"})
    v = c.values
    assert v["prompt"] == "individual header wins"
    assert v["seed"] == 42 and v["steps"] == 20
    assert v["derived_from"] == [ObjectRef("b", "k", "v")]
    assert c.generation.width == 832 and c.generation.scheduler == "karras"
    assert c.generation.extra == {"clip_skip": 2, "loras": [{"name": "x", "w": 1}]}
    assert c.sources[0].ref == ObjectRef("inputs", "sketch.png", "7")
    assert c.sources[0].origin == "header"
    assert c.custom == {"shot": "12"}
    ignored = {n.field for n in c.notices if n.code == "provenance_field_ignored"}
    assert ignored == {"sha256", "review"}


def test_provenance_json_header_errors():
    assert codes(capture_headers({"provenance": "%%%"})) == ["provenance_invalid"]
    not_json = base64.urlsafe_b64encode(b"{nope").decode()
    assert codes(capture_headers({"provenance": not_json})) == ["provenance_invalid"]
    a_list = base64.urlsafe_b64encode(b"[1,2]").decode()
    assert codes(capture_headers({"provenance": a_list})) == ["provenance_invalid"]
    bad_field = capture_headers({"provenance": b64url({"seed": "x", "steps": 3})})
    assert bad_field.values == {"steps": 3} and codes(bad_field) == ["header_invalid"]


def test_overlong_prompt_is_cut_with_a_notice():
    c = capture_headers({"prompt": "x" * 70000})
    assert len(c.values["prompt"]) == 64 * 1024
    assert codes(c) == ["value_truncated"]


def test_undecodable_header_bytes_do_not_crash():
    raw = "caf\udcc3\udca9 au lait"            # UTF-8 bytes surfaced via surrogateescape
    assert capture_headers({"prompt": raw}).values["prompt"] == "café au lait"
