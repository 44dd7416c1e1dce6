"""NovelAI image generation: PNG text chunks.

Where (ExifTool names): ``PNG:Software`` = "NovelAI"; ``PNG:Description`` = the prompt;
``PNG:Source`` = the model, e.g. "NovelAI Diffusion V4.5 4BDE2A90" or "Stable Diffusion
XL C1E1DE52" (a trailing 8-hex-digit token is the model hash); ``PNG:Comment`` = JSON::

    {"prompt": "...", "uc": "<negative prompt>", "steps": 28, "scale": 5.0,
     "seed": 1234, "sampler": "k_euler_ancestral", "noise_schedule": "karras",
     "width": 832, "height": 1216, "cfg_rescale": 0, "n_samples": 1,
     "strength": 0.7, "noise": 0.0,        (always present; used by img2img only)
     "v4_prompt": {"caption": {"base_caption": "...", "char_captions": [...]}},
     "v4_negative_prompt": {"caption": {"base_caption": "..."}},
     "request_type": "PromptGenerateRequest" | "Img2ImgRequest" | ...}

The Comment's prompt fields win over Description (Description may be shortened). Images
whose metadata NovelAI hid in the alpha channel ("stealth" PNG info) carry no text chunks
and are not read.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.provenance.generators.finding import Finding, load_json, scalar
from gateway.provenance.record import Source
from gateway.provenance.tags import Tags

FORMAT = "novelai"
GENERATOR = "NovelAI"
_HASH_SUFFIX = re.compile(r"^(.*?)\s+([0-9A-Fa-f]{8})$")


def parse(tags: Tags) -> Finding | None:
    software = tags.text("PNG:Software") or ""
    comment = tags.text("PNG:Comment")
    if "novelai" not in software.lower():
        return None
    finding = Finding(format=FORMAT)
    finding.set("generator", GENERATOR)
    data: Any = None
    if comment:
        where = tags.key_of("PNG:Comment") or "PNG:Comment"
        finding.keep_raw(where, "novelai-comment", comment)
        data = load_json(finding, where, comment)
    if isinstance(data, dict):
        _comment(finding, data)
    finding.set("prompt", tags.text("PNG:Description"))
    source = tags.text("PNG:Source")
    if source:
        m = _HASH_SUFFIX.match(source)
        if m:
            finding.set("model", m.group(1))
            finding.generation.model_hash = m.group(2)
        else:
            finding.set("model", source)
    return finding


def _caption(value: Any) -> str | None:
    if isinstance(value, dict):
        caption = value.get("caption")
        if isinstance(caption, dict) and isinstance(caption.get("base_caption"), str):
            return caption["base_caption"]
    return None


def _comment(finding: Finding, data: dict) -> None:
    f, gen = finding, finding.generation
    f.set("prompt", _caption(data.get("v4_prompt")) or scalar(data.get("prompt")))
    f.set("negative_prompt", _caption(data.get("v4_negative_prompt")) or scalar(data.get("uc")))
    f.set("seed", scalar(data.get("seed")))
    f.set("steps", scalar(data.get("steps")))
    f.set("cfg_scale", scalar(data.get("scale")))
    f.set("sampler", scalar(data.get("sampler")))
    schedule = scalar(data.get("noise_schedule"))
    gen.scheduler = str(schedule) if schedule is not None else None
    for key in ("width", "height"):
        if isinstance(data.get(key), int):
            setattr(gen, key, data[key])
    for key in ("cfg_rescale", "uncond_scale", "n_samples", "request_type", "noise",
                "sm", "sm_dyn", "skip_cfg_above_sigma", "legacy"):
        if data.get(key) is not None:
            gen.extra[key] = data[key]
    # strength/noise are present on every request; they matter only for img2img
    strength = data.get("strength")
    if "img2img" in str(data.get("request_type", "")).lower():
        if isinstance(strength, (int, float)) and not isinstance(strength, bool):
            gen.denoise = float(strength)
        f.sources.append(Source(role="init_image", origin=FORMAT,
                                details={"strength": strength}))
    elif strength is not None:
        gen.extra["strength"] = strength
    captions = (data.get("v4_prompt") or {}).get("caption") if isinstance(
        data.get("v4_prompt"), dict) else None
    if isinstance(captions, dict) and captions.get("char_captions"):
        gen.extra["char_captions"] = captions["char_captions"]
