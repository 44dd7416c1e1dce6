"""AUTOMATIC1111 stable-diffusion-webui and Forge: the ``parameters`` text.

Where: PNG text chunk ``parameters`` (ExifTool ``PNG:Parameters``); in JPEG and WebP the
same text in EXIF UserComment (``ExifIFD:UserComment``, written UNICODE/UTF-16).

Format (one string, lines separated by ``\\n``)::

    <prompt, possibly several lines>
    Negative prompt: <negative prompt, possibly several lines>
    Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234,
    Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0,
    Denoising strength: 0.5, ControlNet 0: "Module: canny, Model: ..., Weight: 1.0",
    Version: v1.10.1

The last line holds ``Key: value`` pairs separated by commas (a value containing commas
is double-quoted, JSON-style). It is recognised as the parameter line only if it has at
least three pairs, the rule the webui itself applies when reading an image back.

Forge prints a version starting with ``f`` (``f2.0.1v1.10.1-previous-...``). Fooocus can
write this format too (``fooocus_scheme`` = ``a1111``, ``Version: Fooocus v2.5.5``); such
files belong to the Fooocus parser.

Inputs: ``Denoising strength`` without hires-fix keys means img2img/inpaint, recorded as an
``init_image`` source (the webui does not name the input file). Each ``ControlNet N``
unit becomes a ``controlnet`` source with its module, model and weight.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.provenance.generators.finding import Finding
from gateway.provenance.record import Source
from gateway.provenance.tags import Tags

FORMAT = "a1111"
_PARAM = re.compile(r'\s*([\w][\w \-/+.()]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"\s*(\d+)\s*x\s*(\d+)\s*")
_HIRES_KEYS = ("Hires upscale", "Hires steps", "Hires upscaler", "Hires resize")

# parameter name -> (record field or generation attribute, kind)
_FIELDS = {
    "Steps": "steps",
    "Sampler": "sampler",
    "CFG scale": "cfg_scale",
    "Seed": "seed",
    "Model": "model",
}


def parse(tags: Tags) -> Finding | None:
    for name in ("PNG:Parameters", "ExifIFD:UserComment"):
        text = tags.text(name)
        if not text or text.lstrip().startswith("{"):
            continue                   # JSON parameters are Fooocus's
        if _is_fooocus(tags, text):
            return None
        parsed = split_parameters(text)
        if parsed is None:
            continue
        finding = Finding(format=FORMAT)
        finding.keep_raw(tags.key_of(name) or name, "a1111-parameters", text)
        apply_parameters(finding, *parsed)
        return finding
    return None


def _is_fooocus(tags: Tags, text: str) -> bool:
    return bool(tags.text("PNG:Fooocus_scheme")) or "Version: Fooocus" in text


def split_parameters(text: str) -> tuple[str, str, dict[str, str]] | None:
    """(prompt, negative prompt, {key: value}) or None if there is no parameter line."""
    lines = text.strip().split("\n")
    params = parse_pairs(lines[-1])
    if len(params) < 3:
        return None
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines[:-1]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    return "\n".join(prompt_lines).strip(), "\n".join(negative_lines).strip(), params


def parse_pairs(line: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for key, value in _PARAM.findall(line):
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        pairs[key.strip()] = value
    return pairs


def apply_parameters(finding: Finding, prompt: str, negative: str, params: dict[str, str],
                     generator: str | None = None) -> None:
    finding.set("prompt", prompt)
    finding.set("negative_prompt", negative)
    version = params.get("Version", "")
    finding.set("generator", generator or _generator_name(version))
    gen = finding.generation
    extra: dict[str, Any] = {}
    for key, value in params.items():
        if key in _FIELDS:
            finding.set(_FIELDS[key], value)
        elif key == "Size":
            m = _SIZE.fullmatch(value)
            if m:
                gen.width, gen.height = int(m.group(1)), int(m.group(2))
        elif key == "Schedule type":
            gen.scheduler = value or None
        elif key == "Model hash":
            gen.model_hash = value or None
        elif key == "Denoising strength":
            try:
                gen.denoise = float(value)
            except ValueError:
                extra[key] = value
        elif re.fullmatch(r"ControlNet(?: \d+)?", key):
            finding.sources.append(_controlnet(key, value))
        else:
            extra[key] = value
    gen.extra.update(extra)
    if gen.denoise is not None and not any(k in params for k in _HIRES_KEYS):
        finding.sources.append(Source(role="init_image", origin=finding.format,
                                      details={"denoising_strength": gen.denoise}))


def _generator_name(version: str) -> str:
    if re.match(r"f\d", version):
        return "Stable Diffusion WebUI Forge"
    return "AUTOMATIC1111"


def _controlnet(key: str, value: str) -> Source:
    unit = parse_pairs(value) if isinstance(value, str) else {}
    details: dict[str, Any] = {"unit": key}
    for name in ("Module", "Model", "Weight", "Guidance Start", "Guidance End",
                 "Control Mode", "Resize Mode"):
        if name in unit:
            details[name.lower().replace(" ", "_")] = unit[name]
    if not unit:
        details["parameters"] = value
    return Source(role="controlnet", origin=FORMAT, details=details)
