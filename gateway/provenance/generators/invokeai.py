"""InvokeAI: ``invokeai_metadata`` JSON (3.x and later), ``sd-metadata`` JSON (2.x).

Where: PNG text chunks (ExifTool ``PNG:Invokeai_metadata``; 2.x: ``PNG:Sd-metadata``).
InvokeAI 3+ also writes ``invokeai_workflow`` / ``invokeai_graph``; they are kept
verbatim but not needed for the fields.

``invokeai_metadata`` (core metadata)::

    {"app_version": "5.4.2", "generation_mode": "txt2img" | "img2img" | "inpaint" | ...,
     "positive_prompt": "...", "negative_prompt": "...", "seed": 1234, "steps": 30,
     "cfg_scale": 7.5, "scheduler": "dpmpp_2m_k", "width": 1024, "height": 1024,
     "model": {"name": "...", "base": "sdxl", "hash": "...", "key": "..."}
              (3.x: {"model_name": "...", "base_model": "sdxl"}),
     "strength": 0.7, "init_image": "<image name>",
     "controlnets": [{"image": {"image_name": "..."}, "control_model": {...}}],
     "ipAdapters": [{"image": {"image_name": "..."}, ...}], "loras": [...], ...}

InvokeAI's scheduler names the sampling method (there is no separate sampler), so it is
recorded as ``sampler`` as well as ``generation.scheduler``.

``sd-metadata`` (2.x)::

    {"model_weights": "...", "app_version": "...", "image": {"prompt": [{"prompt": ...}],
     "steps": ..., "cfg_scale": ..., "seed": ..., "sampler": ..., "width": ...,
     "height": ..., "type": "txt2img", "init_image_path": ...}}
"""

from __future__ import annotations

from typing import Any

from gateway.provenance.generators.finding import Finding, load_json, scalar
from gateway.provenance.record import Source
from gateway.provenance.tags import Tags

FORMAT = "invokeai"
GENERATOR = "InvokeAI"


def parse(tags: Tags) -> Finding | None:
    current = tags.text("PNG:Invokeai_metadata")
    legacy = tags.text("PNG:Sd-metadata")
    if not current and not legacy:
        return None
    finding = Finding(format=FORMAT)
    finding.set("generator", GENERATOR)
    for extra in ("PNG:Invokeai_workflow", "PNG:Invokeai_graph"):
        text = tags.text(extra)
        if text:
            finding.keep_raw(tags.key_of(extra) or extra, "invokeai-" + extra.split("_")[-1], text)
    if current:
        where = tags.key_of("PNG:Invokeai_metadata") or "PNG:Invokeai_metadata"
        finding.keep_raw(where, "invokeai-metadata", current)
        data = load_json(finding, where, current)
        if isinstance(data, dict):
            _core(finding, data)
        elif data is not None:
            finding.note("invokeai_unrecognised", f"{where}: JSON is not an object",
                         severity="error")
    elif legacy:
        where = tags.key_of("PNG:Sd-metadata") or "PNG:Sd-metadata"
        finding.keep_raw(where, "invokeai-sd-metadata", legacy)
        data = load_json(finding, where, legacy)
        if isinstance(data, dict):
            _legacy(finding, data)
    return finding


def _name(model: Any) -> str | None:
    if isinstance(model, dict):
        value = model.get("name") or model.get("model_name")
        return value if isinstance(value, str) else None
    return model if isinstance(model, str) else None


def _image_name(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("image_name")
    return value if isinstance(value, str) else None


def _core(finding: Finding, data: dict) -> None:
    f, gen = finding, finding.generation
    f.set("prompt", scalar(data.get("positive_prompt")))
    f.set("negative_prompt", scalar(data.get("negative_prompt")))
    f.set("seed", scalar(data.get("seed")))
    f.set("steps", scalar(data.get("steps")))
    f.set("cfg_scale", scalar(data.get("cfg_scale")))
    scheduler = scalar(data.get("scheduler"))
    f.set("sampler", scheduler)
    gen.scheduler = str(scheduler) if scheduler is not None else None
    model = data.get("model")
    f.set("model", _name(model))
    if isinstance(model, dict):
        gen.model_hash = model.get("hash") if isinstance(model.get("hash"), str) else None
        base = model.get("base") or model.get("base_model")
        if isinstance(base, str):
            gen.extra["base_model"] = base
    for key in ("width", "height"):
        if isinstance(data.get(key), int):
            setattr(gen, key, data[key])
    strength = data.get("strength")
    if isinstance(strength, (int, float)) and not isinstance(strength, bool):
        gen.denoise = float(strength)
    for key in ("app_version", "generation_mode", "clip_skip", "rand_device",
                "cfg_rescale_multiplier", "seamless_x", "seamless_y", "vae", "loras"):
        if data.get(key) not in (None, "", []):
            gen.extra[key] = data[key]
    init = _image_name(data.get("init_image"))
    mode = str(data.get("generation_mode", ""))
    if init or mode.startswith(("img2img", "inpaint", "outpaint")):
        f.sources.append(Source(role="init_image", origin=FORMAT, name=init,
                                details={"generation_mode": mode} if mode else {}))
    for key, role in (("controlnets", "controlnet"), ("ipAdapters", "ip_adapter"),
                      ("t2iAdapters", "controlnet")):
        units = data.get(key)
        for unit in units if isinstance(units, list) else []:
            if not isinstance(unit, dict):
                continue
            model_name = _name(unit.get("control_model") or unit.get("ip_adapter_model")
                               or unit.get("t2i_adapter_model"))
            f.sources.append(Source(role=role, origin=FORMAT, name=_image_name(unit.get("image")),
                                    details={"model": model_name} if model_name else {}))


def _legacy(finding: Finding, data: dict) -> None:
    f, gen = finding, finding.generation
    image = data.get("image") if isinstance(data.get("image"), dict) else {}
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(p.get("prompt", "") for p in prompt if isinstance(p, dict))
    f.set("prompt", scalar(prompt))
    f.set("seed", scalar(image.get("seed")))
    f.set("steps", scalar(image.get("steps")))
    f.set("cfg_scale", scalar(image.get("cfg_scale")))
    f.set("sampler", scalar(image.get("sampler")))
    f.set("model", scalar(data.get("model_weights")))
    for key in ("width", "height"):
        if isinstance(image.get(key), int):
            setattr(gen, key, image[key])
    if data.get("app_version"):
        gen.extra["app_version"] = data["app_version"]
    init = image.get("init_image_path")
    if isinstance(init, str) and init:
        f.sources.append(Source(role="init_image", origin=FORMAT, name=init))
