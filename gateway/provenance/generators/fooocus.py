"""Fooocus: ``parameters`` (JSON, or A1111 text) plus ``fooocus_scheme``.

Where: PNG text chunks ``parameters`` and ``fooocus_scheme`` (ExifTool ``PNG:Parameters``,
``PNG:Fooocus_scheme``); in JPEG/WebP the parameters are in EXIF UserComment, the scheme
in MakerNote and ``Fooocus v<version>`` in Software.

Scheme ``fooocus`` (the default) is a JSON object with sorted keys, among them::

    {"prompt": "...", "negative_prompt": "...", "full_prompt": [...],
     "full_negative_prompt": [...], "steps": 30, "seed": "1234" (text),
     "guidance_scale": 4.0, "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras",
     "base_model": "juggernautXL_v8Rundiffusion", "base_model_hash": "...",
     "refiner_model": "...", "resolution": "(1152, 896)", "styles": "[...]",
     "performance": "Speed", "sharpness": 2.0, "adm_guidance": "(1.5, 0.8, 0.3)",
     "loras": [[name, weight, hash], ...], "vae": "...", "version": "Fooocus v2.5.5"}

Scheme ``a1111`` writes the AUTOMATIC1111 text format with ``Version: Fooocus v...``;
it is read with the A1111 parser and attributed to Fooocus.
"""

from __future__ import annotations

import re

from gateway.provenance.generators import a1111
from gateway.provenance.generators.finding import Finding, load_json, scalar
from gateway.provenance.tags import Tags

FORMAT = "fooocus"
GENERATOR = "Fooocus"
_RESOLUTION = re.compile(r"\(?\s*(\d+)\s*[,x*]\s*(\d+)\s*\)?")


def parse(tags: Tags) -> Finding | None:
    scheme = (tags.text("PNG:Fooocus_scheme") or "").strip().lower()
    software = tags.text("IFD0:Software") or ""
    for name in ("PNG:Parameters", "ExifIFD:UserComment"):
        text = tags.text(name)
        if not text:
            continue
        where = tags.key_of(name) or name
        is_json = text.lstrip().startswith("{")
        if is_json and (scheme == "fooocus" or software.startswith("Fooocus")
                        or '"full_prompt"' in text or '"base_model"' in text):
            finding = Finding(format=FORMAT)
            finding.keep_raw(where, "fooocus-parameters", text)
            data = load_json(finding, where, text)
            finding.set("generator", GENERATOR)
            if isinstance(data, dict):
                _json(finding, data)
            return finding
        if not is_json and (scheme == "a1111" or "Version: Fooocus" in text):
            parsed = a1111.split_parameters(text)
            if parsed is None:
                continue
            finding = Finding(format=FORMAT)
            finding.keep_raw(where, "fooocus-a1111-parameters", text)
            a1111.apply_parameters(finding, *parsed, generator=GENERATOR)
            return finding
    return None


def _json(finding: Finding, data: dict) -> None:
    f, gen = finding, finding.generation
    f.set("prompt", scalar(data.get("prompt")))
    f.set("negative_prompt", scalar(data.get("negative_prompt")))
    f.set("seed", scalar(data.get("seed")))
    f.set("steps", scalar(data.get("steps")))
    f.set("cfg_scale", scalar(data.get("guidance_scale")))
    f.set("sampler", scalar(data.get("sampler")))
    f.set("model", scalar(data.get("base_model")))
    version = scalar(data.get("version"))
    if isinstance(version, str) and version.startswith("Fooocus v"):
        gen.extra["version"] = version
    gen.scheduler = str(data["scheduler"]) if scalar(data.get("scheduler")) else None
    gen.model_hash = str(data["base_model_hash"]) if scalar(data.get("base_model_hash")) else None
    resolution = data.get("resolution")
    if isinstance(resolution, str):
        m = _RESOLUTION.fullmatch(resolution.strip())
        if m:
            gen.width, gen.height = int(m.group(1)), int(m.group(2))
    for key in ("full_prompt", "full_negative_prompt", "styles", "performance", "sharpness",
                "adm_guidance", "refiner_model", "refiner_switch", "loras", "vae",
                "created_by", "metadata_scheme"):
        if data.get(key) not in (None, "", [], "None"):
            gen.extra[key] = data[key]
