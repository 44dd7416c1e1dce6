"""Generator parsers on awkward and hostile metadata (no ExifTool needed: tags are given)."""

from __future__ import annotations

import json
import random

from gateway.provenance.generators import (a1111, comfyui, invokeai, midjourney, novelai,
                                          parse_all)
from gateway.provenance.tags import Tags


def comfy(graph) -> dict:
    finding = comfyui.parse(Tags({"PNG:Prompt": json.dumps(graph)}))
    return finding.values if finding else {}


def test_a1111_quoted_values_and_prompt_without_negative():
    text = ('a cat, "quoted"\nSteps: 10, Sampler: Euler, Seed: 5, Size: 8x8, '
            'Lora hashes: "a: 123, b: 456", Model: m')
    prompt, negative, params = a1111.split_parameters(text)
    assert (prompt, negative) == ('a cat, "quoted"', "")
    assert params["Lora hashes"] == "a: 123, b: 456" and params["Model"] == "m"


def test_a1111_needs_a_parameter_line():
    assert a1111.parse(Tags({"PNG:Parameters": "just a caption, nothing else"})) is None
    assert a1111.parse(Tags({"ExifIFD:UserComment": "Canon EOS R5"})) is None


def test_comfyui_primitive_links_are_resolved():
    graph = {
        "1": {"class_type": "PrimitiveNode", "inputs": {"value": 99}},
        "2": {"class_type": "String Literal", "inputs": {"string": "from a string node"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": ["2", 0]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "bad"}},
        "5": {"class_type": "KSampler", "inputs": {"seed": ["1", 0], "steps": 4, "cfg": 1,
                                                  "sampler_name": "lcm", "positive": ["3", 0],
                                                  "negative": ["4", 0]}},
    }
    values = comfy(graph)
    assert (values["seed"], values["prompt"], values["negative_prompt"]) == \
        (99, "from a string node", "bad")


def test_comfyui_cycles_and_junk_terminate():
    graph = {
        "1": {"class_type": "ConditioningCombine",
              "inputs": {"conditioning_1": ["2", 0], "conditioning_2": ["1", 0]}},
        "2": {"class_type": "ConditioningCombine",
              "inputs": {"conditioning_1": ["1", 0], "conditioning_2": ["2", 0]}},
        "3": {"class_type": "KSampler", "inputs": {"seed": ["3", 0], "model": ["3", 0],
                                                  "positive": ["1", 0], "negative": ["9", 0],
                                                  "latent_image": ["3", 0]}},
        "4": "not a node", "5": {"class_type": 7, "inputs": None},
    }
    values = comfy(graph)
    assert values["generator"] == "ComfyUI" and "prompt" not in values


def test_comfyui_valid_json_that_is_not_a_graph_is_not_comfyui():
    assert comfyui.parse(Tags({"PNG:Prompt": '{"prompt": "a cat"}'})) is None
    assert comfyui.parse(Tags({"PNG:Prompt": "a plain text prompt"})) is None


def test_midjourney_niji_and_parameters():
    desc = ("a koi pond --niji 6 --seed 42 --no text, logos "
            "Job ID: 0f2e7c1a-1111-2222-3333-444455556666")
    values = midjourney.parse(Tags({"PNG:Description": desc})).values
    assert values["prompt"] == "a koi pond"
    assert (values["model"], values["model_version"], values["seed"]) == ("Niji", "6", "42")
    assert values["negative_prompt"] == "text, logos"


def test_random_structures_never_raise():
    rng = random.Random(4)

    def junk(depth=0):
        choice = rng.randrange(7 if depth < 4 else 4)
        if choice == 0:
            return rng.randrange(-5, 10 ** 20)
        if choice == 1:
            return rng.choice(["", "KSampler", "CLIPTextEncode", "seed", "{", "Job ID: x"])
        if choice == 2:
            return None
        if choice == 3:
            return rng.random()
        if choice == 4:
            return [junk(depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice(["1", "2", "class_type", "inputs", "text", "seed", "positive",
                            "model", "image", "nodes", "links", "caption"]): junk(depth + 1)
                for _ in range(rng.randrange(5))}

    for _ in range(500):
        blob = json.dumps(junk())
        tags = Tags({"PNG:Prompt": blob, "PNG:Workflow": blob, "PNG:Invokeai_metadata": blob,
                     "PNG:Comment": blob, "PNG:Software": "NovelAI", "PNG:Parameters": blob,
                     "PNG:Fooocus_scheme": "fooocus",
                     "PNG:Description": blob + " Job ID: 1234abcd"})
        for finding in parse_all(tags):
            assert not any(n.code == "parser_failed" for n in finding.notices), finding.notices


def test_a1111_hires_fix_is_not_img2img():
    text = ("a cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: 8x8, Denoising strength: 0.4, "
            "Hires upscale: 2, Hires upscaler: Latent, Model: m")
    finding = a1111.parse(Tags({"PNG:Parameters": text}))
    assert finding.generation.denoise == 0.4 and finding.sources == []


def test_fooocus_a1111_scheme():
    text = ("a hut\nNegative prompt: ugly\nSteps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 5, "
            "CFG scale: 4, Size: 8x8, Model: juggernaut, Version: Fooocus v2.5.5")
    tags = Tags({"PNG:Parameters": text, "PNG:Fooocus_scheme": "a1111"})
    findings = parse_all(tags)
    assert [f.format for f in findings] == ["fooocus"]
    assert findings[0].values["generator"] == "Fooocus"
    assert findings[0].values["negative_prompt"] == "ugly"


def test_invokeai_legacy_sd_metadata():
    meta = {"model_weights": "stable-diffusion-1.5", "app_id": "invoke-ai/InvokeAI",
            "app_version": "2.3.5", "image": {"prompt": [{"prompt": "a lake", "weight": 1}],
                                              "steps": 50, "cfg_scale": 7.5, "seed": 3,
                                              "sampler": "k_lms", "width": 512, "height": 512,
                                              "type": "img2img", "init_image_path": "in.png"}}
    finding = invokeai.parse(Tags({"PNG:Sd-metadata": json.dumps(meta)}))
    assert finding.values["prompt"] == "a lake" and finding.values["model"] == \
        "stable-diffusion-1.5"
    assert [(s.role, s.name) for s in finding.sources] == [("init_image", "in.png")]


def test_novelai_img2img_and_plain_request():
    def parse(request_type):
        comment = {"prompt": "x", "seed": 1, "strength": 0.6, "request_type": request_type}
        return novelai.parse(Tags({"PNG:Software": "NovelAI", "PNG:Comment": json.dumps(comment),
                                   "PNG:Source": "Stable Diffusion XL C1E1DE52"}))

    img2img, txt2img = parse("Img2ImgRequest"), parse("PromptGenerateRequest")
    assert img2img.generation.denoise == 0.6 and img2img.sources[0].role == "init_image"
    assert txt2img.generation.denoise is None and txt2img.sources == []
    assert txt2img.values["model"] == "Stable Diffusion XL"
    assert txt2img.generation.model_hash == "C1E1DE52"
