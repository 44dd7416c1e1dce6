"""Test media built by code (Pillow, ExifTool, ffmpeg, c2pa-python): no binary blobs.

Each builder writes one file the way the named tool writes it, and returns a ``Fixture``
with the headers a writer would send and the record values extraction must find
(``expected``: record field -> value; ``generation``: Generation attribute -> value;
``source_roles``: roles of the sources; ``notices``: notice codes that must appear).

``build_all(directory)`` builds every fixture; the C2PA fixtures sign with a throw-away
certificate chain (``make_test_ca``): c2pa-rs refuses self-signed signing certificates,
so a CA signs an end-entity ES256 certificate with critical KeyUsage digitalSignature and
ExtendedKeyUsage emailProtection (what the C2PA trust model requires of a signer).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PIL import Image, PngImagePlugin

from gateway.provenance.exiftool_pool import CONFIG_FILE

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TAM = DST + "trainedAlgorithmicMedia"
PLUS = "http://ns.useplus.org/ldf/vocab/"


@dataclass
class Fixture:
    name: str
    path: Path
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    source_roles: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    detected: list[str] = field(default_factory=list)      # must be among record.detected
    media: dict[str, Any] = field(default_factory=dict)    # Media attribute -> value


def exiftool_write(path: Path, *args: str) -> None:
    """Write tags with the real ExifTool and provgate's config (as a DAM or tool would)."""
    subprocess.run(["exiftool", "-config", str(CONFIG_FILE), "-overwrite_original", "-q",
                    *args, str(path)], check=True, capture_output=True)


def _image(color=(180, 40, 40), size=(64, 48)) -> Image.Image:
    im = Image.new("RGB", size, color)
    # a little structure so JPEG/PNG encoders do real work
    for x in range(0, size[0], 8):
        for y in range(size[1]):
            im.putpixel((x, y), (color[2], color[0], color[1]))
    return im


def _png(path: Path, text: dict[str, str], itxt: dict[str, str] | None = None,
         image: Image.Image | None = None) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    (image or _image()).save(path, pnginfo=info)
    return path


def exif_user_comment(text: str) -> bytes:
    """EXIF (big-endian, as piexif writes it) with UserComment in UNICODE (UTF-16BE).

    This is how AUTOMATIC1111 stores ``parameters`` in JPEG and WebP.
    """
    comment = b"UNICODE\x00" + text.encode("utf-16-be")
    exif_ifd_offset = 8 + 2 + 12 + 4
    ifd0 = struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, exif_ifd_offset) + b"\0\0\0\0"
    data_offset = exif_ifd_offset + 2 + 12 + 4
    exif_ifd = (struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(comment), data_offset)
                + b"\0\0\0\0")
    return b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + exif_ifd + comment


# -- AUTOMATIC1111 / Forge ------------------------------------------------------------------

A1111_PROMPT = "a red fox in fresh snow, golden hour,\nhighly detailed"
A1111_NEGATIVE = "blurry, lowres,\nwatermark"
A1111_PARAMETERS = (
    f"{A1111_PROMPT}\nNegative prompt: {A1111_NEGATIVE}\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, "
    "Size: 64x48, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Denoising strength: 0.55, "
    'ControlNet 0: "Module: canny, Model: diffusers_xl_canny_mid [112a778d], Weight: 0.8, '
    'Resize Mode: Crop and Resize, Guidance Start: 0.0, Guidance End: 1.0", Version: v1.10.1')


def a1111_png(d: Path) -> Fixture:
    path = _png(d / "a1111.png", {"parameters": A1111_PARAMETERS})
    return Fixture("a1111_png", path, "image/png", expected={
        "prompt": A1111_PROMPT, "negative_prompt": A1111_NEGATIVE, "steps": 28,
        "sampler": "DPM++ 2M", "cfg_scale": 6.5, "seed": 3141592653,
        "model": "sd_xl_base_1.0", "generator": "AUTOMATIC1111", "source_type": TAM},
        generation={"width": 64, "height": 48, "scheduler": "Karras",
                    "model_hash": "31e35c80fc", "denoise": 0.55},
        source_roles=["controlnet", "init_image"], detected=["a1111"])


FORGE_PARAMETERS = ("portrait of an astronaut, studio light\nNegative prompt: cartoon\n"
                    "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 4, "
                    "Seed: 77, Size: 64x48, Model hash: abc123def4, Model: flux1-dev-fp8, "
                    "Version: f2.0.1v1.10.1-previous-313-g8a042934")


def a1111_jpg(d: Path) -> Fixture:
    path = d / "forge.jpg"
    _image((30, 90, 200)).save(path, "JPEG", quality=90, exif=exif_user_comment(FORGE_PARAMETERS))
    return Fixture("a1111_jpg", path, "image/jpeg", expected={
        "prompt": "portrait of an astronaut, studio light", "negative_prompt": "cartoon",
        "steps": 20, "sampler": "Euler a", "cfg_scale": 4.0, "seed": 77,
        "model": "flux1-dev-fp8", "generator": "Stable Diffusion WebUI Forge",
        "source_type": TAM}, generation={"model_hash": "abc123def4"}, detected=["a1111"])


NONLATIN_PROMPT = "桜の下の狐、夕暮れ 🦊🌸\n二行目：水彩画風\nтретья строка — ελληνικά"


def nonlatin_png(d: Path) -> Fixture:
    text = (f"{NONLATIN_PROMPT}\nNegative prompt: ぼやけた\n"
            "Steps: 30, Sampler: Euler, CFG scale: 7, Seed: 12345, Size: 64x48, "
            "Model: animagine-xl-3.1, Version: v1.9.4")
    # Pillow writes a value that is not Latin-1 as an iTXt (UTF-8) chunk, as the webui does
    path = _png(d / "nonlatin.png", {"parameters": text})
    return Fixture("nonlatin_png", path, "image/png",
                   headers={"prompt-author": "=?UTF-8?B?5bGx55Sw6Iqx5a2Q?="},
                   expected={"prompt": NONLATIN_PROMPT, "negative_prompt": "ぼやけた",
                             "seed": 12345, "model": "animagine-xl-3.1",
                             "prompt_author": "山田花子", "source_type": TAM})


# -- ComfyUI ---------------------------------------------------------------------------------

COMFY_POSITIVE = "cinematic photo of a lighthouse on a cliff, storm clouds"
COMFY_NEGATIVE = "text, watermark, oversaturated"
COMFY_SEED = 987654321012345678


def comfyui_api_graph() -> dict:
    """An SDXL txt2img graph with a LoRA and a ControlNet between prompts and sampler."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "10": {"class_type": "LoraLoader",
               "inputs": {"lora_name": "film_grain.safetensors", "strength_model": 0.7,
                          "strength_clip": 0.7, "model": ["4", 0], "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 768,
                                                          "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": COMFY_POSITIVE,
                                                        "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": COMFY_NEGATIVE,
                                                        "clip": ["10", 1]}},
        "11": {"class_type": "LoadImage", "inputs": {"image": "pose_reference.png",
                                                    "upload": "image"}},
        "12": {"class_type": "ControlNetLoader",
               "inputs": {"control_net_name": "controlnet-openpose-sdxl.safetensors"}},
        "13": {"class_type": "ControlNetApplyAdvanced",
               "inputs": {"positive": ["6", 0], "negative": ["7", 0], "control_net": ["12", 0],
                          "image": ["11", 0], "strength": 0.8, "start_percent": 0.0,
                          "end_percent": 1.0}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": COMFY_SEED, "steps": 25, "cfg": 6.5, "sampler_name": "dpmpp_2m",
                         "scheduler": "karras", "denoise": 1.0, "model": ["10", 0],
                         "positive": ["13", 0], "negative": ["13", 1],
                         "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI",
                                                   "images": ["8", 0]}},
    }


def comfyui_workflow(positive: str, negative: str) -> dict:
    """The editor graph (``workflow``) for a plain txt2img: KSampler + two text encoders."""
    return {
        "last_node_id": 9, "last_link_id": 9, "version": 0.4,
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "inputs": [],
             "widgets_values": ["juggernautXL_v9.safetensors"]},
            {"id": 5, "type": "EmptyLatentImage", "inputs": [], "widgets_values": [832, 1216, 1]},
            {"id": 6, "type": "CLIPTextEncode", "inputs": [{"name": "clip", "link": 3}],
             "widgets_values": [positive]},
            {"id": 7, "type": "CLIPTextEncode", "inputs": [{"name": "clip", "link": 5}],
             "widgets_values": [negative]},
            {"id": 3, "type": "KSampler",
             "inputs": [{"name": "model", "link": 1}, {"name": "positive", "link": 4},
                        {"name": "negative", "link": 6}, {"name": "latent_image", "link": 2}],
             "widgets_values": [424242, "fixed", 30, 5.5, "euler_ancestral", "normal", 1]},
        ],
        "links": [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"],
                  [4, 6, 0, 3, 1, "CONDITIONING"], [5, 4, 1, 7, 0, "CLIP"],
                  [6, 7, 0, 3, 2, "CONDITIONING"]],
    }


def comfyui_png(d: Path) -> Fixture:
    path = _png(d / "comfyui.png", {
        "prompt": json.dumps(comfyui_api_graph()),
        "workflow": json.dumps(comfyui_workflow(COMFY_POSITIVE, COMFY_NEGATIVE))})
    return Fixture("comfyui_png", path, "image/png", expected={
        "prompt": COMFY_POSITIVE, "negative_prompt": COMFY_NEGATIVE, "seed": COMFY_SEED,
        "steps": 25, "cfg_scale": 6.5, "sampler": "dpmpp_2m",
        "model": "sd_xl_base_1.0.safetensors", "generator": "ComfyUI", "source_type": TAM},
        generation={"width": 1024, "height": 768, "scheduler": "karras", "denoise": 1.0},
        source_roles=["controlnet"], detected=["comfyui"])


FLUX_POSITIVE = "isometric illustration of a tiny bakery, soft pastel palette"


def comfyui_flux_graph() -> dict:
    """A Flux img2img graph: SamplerCustomAdvanced with guider, noise, scheduler nodes."""
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors",
                                                     "weight_dtype": "default"}},
        "2": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5xxl_fp16.safetensors",
                                                         "clip_name2": "clip_l.safetensors",
                                                         "type": "flux"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": FLUX_POSITIVE, "clip": ["2", 0]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "5": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["3", 0]}},
        "6": {"class_type": "CFGGuider", "inputs": {"cfg": 1.0, "model": ["1", 0],
                                                   "positive": ["5", 0], "negative": ["4", 0]}},
        "7": {"class_type": "RandomNoise", "inputs": {"noise_seed": 1234567}},
        "8": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "9": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 20,
                                                        "denoise": 0.75, "model": ["1", 0]}},
        "10": {"class_type": "LoadImage", "inputs": {"image": "bakery_sketch.png",
                                                    "upload": "image"}},
        "11": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
        "12": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["11", 0]}},
        "13": {"class_type": "SamplerCustomAdvanced",
               "inputs": {"noise": ["7", 0], "guider": ["6", 0], "sampler": ["8", 0],
                          "sigmas": ["9", 0], "latent_image": ["12", 0]}},
        "14": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["11", 0]}},
        "15": {"class_type": "SaveAnimatedWEBP",
               "inputs": {"images": ["14", 0], "filename_prefix": "ComfyUI", "fps": 6.0,
                          "lossless": False, "quality": 80, "method": "default"}},
    }


def comfyui_webp(d: Path) -> Fixture:
    # ComfyUI's SaveAnimatedWEBP: Model (0x0110) = "prompt:<json>", Make (0x010f) =
    # "workflow:<json>"
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(comfyui_flux_graph())
    exif[0x010F] = "workflow:" + json.dumps(comfyui_workflow(FLUX_POSITIVE, ""))
    path = d / "comfyui.webp"
    _image((240, 200, 120)).save(path, "WEBP", exif=exif.tobytes(), quality=80)
    return Fixture("comfyui_webp", path, "image/webp", expected={
        "prompt": FLUX_POSITIVE, "seed": 1234567, "steps": 20, "cfg_scale": 1.0,
        "sampler": "euler", "model": "flux1-dev.safetensors", "generator": "ComfyUI",
        "source_type": TAM}, generation={"scheduler": "simple", "denoise": 0.75},
        source_roles=["init_image"], detected=["comfyui"])


def comfyui_malformed(d: Path) -> Fixture:
    """``prompt`` chunk cut mid-JSON; the ``workflow`` chunk is intact and is used instead."""
    broken = json.dumps(comfyui_api_graph())[:700]
    path = _png(d / "comfyui_malformed.png", {
        "prompt": broken, "workflow": json.dumps(comfyui_workflow("a quiet harbor at dawn",
                                                                   "people"))})
    return Fixture("comfyui_malformed", path, "image/png", expected={
        "prompt": "a quiet harbor at dawn", "negative_prompt": "people", "seed": 424242,
        "steps": 30, "cfg_scale": 5.5, "sampler": "euler_ancestral",
        "model": "juggernautXL_v9.safetensors", "generator": "ComfyUI", "source_type": TAM},
        generation={"width": 832, "height": 1216}, notices=["json_invalid"],
        detected=["comfyui"])


# -- InvokeAI, NovelAI, Fooocus, Midjourney -----------------------------------------------

def invokeai_png(d: Path) -> Fixture:
    meta = {
        "app_version": "5.4.2", "generation_mode": "sdxl_txt2img",
        "positive_prompt": "a vintage camera on a wooden desk, film photo",
        "negative_prompt": "digital, plastic", "width": 1024, "height": 1024, "seed": 2718281,
        "rand_device": "cpu", "cfg_scale": 5.0, "cfg_rescale_multiplier": 0, "steps": 32,
        "scheduler": "dpmpp_2m_k",
        "model": {"key": "b5a1", "hash": "blake3:9a8b7c", "name": "Juggernaut XL v9",
                  "base": "sdxl", "type": "main"},
        "controlnets": [{"image": {"image_name": "depth_map.png"},
                         "control_model": {"key": "c1", "name": "controlnet-depth-sdxl",
                                           "base": "sdxl", "type": "controlnet"},
                         "control_weight": 0.75}],
        "ipAdapters": [], "t2iAdapters": [], "loras": []}
    path = _png(d / "invokeai.png", {"invokeai_metadata": json.dumps(meta)})
    return Fixture("invokeai_png", path, "image/png", expected={
        "prompt": meta["positive_prompt"], "negative_prompt": "digital, plastic",
        "seed": 2718281, "steps": 32, "cfg_scale": 5.0, "sampler": "dpmpp_2m_k",
        "model": "Juggernaut XL v9", "generator": "InvokeAI", "source_type": TAM},
        generation={"width": 1024, "height": 1024, "scheduler": "dpmpp_2m_k",
                    "model_hash": "blake3:9a8b7c"},
        source_roles=["controlnet"], detected=["invokeai"])


def novelai_png(d: Path) -> Fixture:
    comment = {
        "prompt": "1girl, reading in a library, warm light", "steps": 28, "height": 48,
        "width": 64, "scale": 5.0, "uncond_scale": 1.0, "cfg_rescale": 0.0, "seed": 2893476,
        "n_samples": 1, "noise_schedule": "karras", "sampler": "k_euler_ancestral",
        "strength": 0.7, "noise": 0.0, "uc": "lowres, bad anatomy",
        "request_type": "PromptGenerateRequest",
        "v4_prompt": {"caption": {"base_caption": "1girl, reading in a library, warm light",
                                  "char_captions": []}, "use_coords": False},
        "v4_negative_prompt": {"caption": {"base_caption": "lowres, bad anatomy",
                                           "char_captions": []}}}
    path = _png(d / "novelai.png", {
        "Title": "NovelAI generated image",
        "Description": "1girl, reading in a library, warm light",
        "Software": "NovelAI", "Source": "NovelAI Diffusion V4.5 4BDE2A90",
        "Generation time": "3.21", "Comment": json.dumps(comment)})
    return Fixture("novelai_png", path, "image/png", expected={
        "prompt": "1girl, reading in a library, warm light",
        "negative_prompt": "lowres, bad anatomy", "seed": 2893476, "steps": 28,
        "cfg_scale": 5.0, "sampler": "k_euler_ancestral", "model": "NovelAI Diffusion V4.5",
        "generator": "NovelAI", "source_type": TAM},
        generation={"model_hash": "4BDE2A90", "scheduler": "karras", "width": 64,
                    "height": 48}, detected=["novelai"])


def fooocus_png(d: Path) -> Fixture:
    params = {
        "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion",
        "base_model_hash": "aeb7e9e689", "full_negative_prompt": ["unrealistic", "blurry"],
        "full_prompt": ["a cozy cabin in the woods, winter", "cinematic"],
        "guidance_scale": 4.0, "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]],
        "metadata_scheme": "fooocus", "negative_prompt": "unrealistic, blurry",
        "performance": "Speed", "prompt": "a cozy cabin in the woods, winter",
        "refiner_model": "None", "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras", "seed": "5550123", "sharpness": 2.0,
        "steps": 30, "styles": "['Fooocus V2', 'Fooocus Enhance']", "vae": "Default (model)",
        "version": "Fooocus v2.5.5"}
    path = _png(d / "fooocus.png", {"parameters": json.dumps(params, sort_keys=True),
                                    "fooocus_scheme": "fooocus"})
    return Fixture("fooocus_png", path, "image/png", expected={
        "prompt": "a cozy cabin in the woods, winter", "negative_prompt": "unrealistic, blurry",
        "seed": 5550123, "steps": 30, "cfg_scale": 4.0, "sampler": "dpmpp_2m_sde_gpu",
        "model": "juggernautXL_v8Rundiffusion", "generator": "Fooocus", "source_type": TAM},
        generation={"width": 1152, "height": 896, "scheduler": "karras",
                    "model_hash": "aeb7e9e689"}, detected=["fooocus"])


MJ_JOB = "a7421d2f-b262-44f9-977c-ac23e9c7d3e3"


def midjourney_png(d: Path) -> Fixture:
    description = (f"a lighthouse keeper's cat, oil painting --ar 4:3 --stylize 250 "
                   f"--v 6.1 Job ID: {MJ_JOB}")
    path = _png(d / "midjourney.png", {"Author": "sailorcat"},
                itxt={"Description": description, "Creation Time": "2025-03-14T09:26:53Z"})
    # the website's XMP: job id and DigitalSourceType in its https:// spelling
    exiftool_write(path, f"-XMP-iptcExt:DigitalImageGUID={MJ_JOB}",
                   "-XMP-iptcExt:DigitalSourceType=https://cv.iptc.org/newscodes/"
                   "digitalsourcetype/trainedAlgorithmicMedia")
    return Fixture("midjourney_png", path, "image/png", expected={
        "prompt": "a lighthouse keeper's cat, oil painting", "model": "Midjourney",
        "model_version": "6.1", "job_id": MJ_JOB, "prompt_author": "sailorcat",
        "generator": "Midjourney", "source_type": TAM,
        "created_at": "2025-03-14T09:26:53Z"},
        generation={"extra": {"parameters": {"ar": "4:3", "stylize": "250", "v": "6.1"}}},
        detected=["midjourney", "xmp"])


# -- plain files with headers; standard XMP --------------------------------------------------

def a_png(d: Path) -> Fixture:
    path = d / "a.png"
    _image((10, 120, 60)).save(path)
    return Fixture("a_png", path, "image/png", headers={
        "prompt": "studio packshot of a green sneaker", "model": "gpt-image-1",
        "generator": "OpenAI API", "source-type": "trainedAlgorithmicMedia", "sku": "SNK-001",
        "campaign": "spring-26"},
        expected={"prompt": "studio packshot of a green sneaker", "model": "gpt-image-1",
                  "generator": "OpenAI API", "source_type": TAM, "sku": "SNK-001"})


def a_jpg(d: Path) -> Fixture:
    """Same base name as a.png; carries rights and IPTC 2025.1 AI fields in XMP."""
    path = d / "a.jpg"
    _image((10, 120, 60)).save(path, "JPEG", quality=85)
    exiftool_write(
        path, "-XMP-iptcExt:AISystemUsed=Firefly Image 3",
        "-XMP-iptcExt:AISystemVersionUsed=3.0",
        "-XMP-iptcExt:AIPromptInformation=a mountain lake at dawn, mist",
        "-XMP-iptcExt:AIPromptWriterName=Jane Doe",
        f"-XMP-iptcExt:DigitalSourceType={DST}compositeWithTrainedAlgorithmicMedia",
        "-XMP-iptcExt:PersonInImage=Alex Model",
        "-XMP-dc:Creator=Jane Doe", "-XMP-dc:Rights=© 2026 Example Studio",
        "-XMP-dc:Subject=lake", "-XMP-dc:Subject=dawn",
        "-XMP-xmpRights:WebStatement=https://example.com/license/42",
        "-XMP-xmpRights:UsageTerms=Web and social use only",
        "-XMP-plus:LicensorName=Example Licensing Ltd", "-XMP-plus:LicenseID=LIC-42",
        "-XMP-plus:LicenseEndDate=2027-12-31",
        f"-XMP-plus:DataMining={PLUS}DMI-PROHIBITED-AIMLTRAINING",
        "-XMP-plus:ModelReleaseStatus#=MR-LMR", "-XMP-xmp:Rating=4",
        "-XMP-photoshop:Credit=Example Studio")
    return Fixture("a_jpg", path, "image/jpeg", expected={
        "prompt": "a mountain lake at dawn, mist", "model": "Firefly Image 3",
        "model_version": "3.0", "prompt_author": "Jane Doe",
        "source_type": DST + "compositeWithTrainedAlgorithmicMedia",
        "people": ["Alex Model"], "creator": "Jane Doe", "copyright": "© 2026 Example Studio",
        "keywords": ["lake", "dawn"], "license_url": "https://example.com/license/42",
        "usage_terms": "Web and social use only", "licensor": "Example Licensing Ltd",
        "license": "LIC-42", "license_expires": "2027-12-31",
        "data_mining": PLUS + "DMI-PROHIBITED-AIMLTRAINING",
        "model_release": PLUS + "MR-LMR", "rating": 4, "credit": "Example Studio"},
        detected=["xmp"])


BRIEF_HEADERS = {"prompt": "creative brief: spring campaign hero visuals",
                 "model": "gpt-4o", "source-type": "compositeWithTrainedAlgorithmicMedia"}


def pdf(d: Path) -> Fixture:
    path = d / "brief.pdf"
    _image((250, 250, 250), (120, 160)).save(path, "PDF")
    exiftool_write(path, "-PDF:Title=Spring campaign brief", "-PDF:Author=Brand Team",
                   "-XMP-dc:Creator=Brand Team")
    return Fixture("pdf", path, "application/pdf", headers=dict(BRIEF_HEADERS), expected={
        "prompt": BRIEF_HEADERS["prompt"], "model": "gpt-4o",
        "source_type": DST + "compositeWithTrainedAlgorithmicMedia", "creator": "Brand Team"},
        media={"detected_type": "application/pdf"})


def wav(d: Path) -> Fixture:
    path = d / "voiceover.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 4000)      # 0.5 s
    return Fixture("wav", path, "audio/wav", headers={
        "prompt": "warm female voice reads the tagline", "model": "eleven_multilingual_v2",
        "generator": "ElevenLabs"}, expected={
        "prompt": "warm female voice reads the tagline", "model": "eleven_multilingual_v2",
        "source_type": TAM}, media={"detected_type": "audio/x-wav", "duration": 0.5})


def mp4(d: Path) -> Fixture:
    path = d / "teaser.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc=duration=1:size=64x48:rate=10", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-metadata", "comment=made by a test", str(path)],
                   check=True, capture_output=True)
    return Fixture("mp4", path, "video/mp4", headers={
        "prompt": "drone shot over a misty forest", "model": "veo-3",
        "generator": "Google Flow", "job-id": "job-7781"}, expected={
        "prompt": "drone shot over a misty forest", "model": "veo-3", "job_id": "job-7781",
        "source_type": TAM}, media={"detected_type": "video/mp4", "width": 64, "height": 48,
                                     "duration": 1.0})


def glb(d: Path) -> Fixture:
    """A tiny valid glTF 2.0 binary (one triangle), written by hand."""
    positions = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
    gltf = {"asset": {"version": "2.0", "generator": "provgate tests"},
            "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
            "buffers": [{"byteLength": len(positions)}],
            "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(positions)}],
            "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                           "min": [0, 0, 0], "max": [1, 1, 0]}]}
    json_chunk = json.dumps(gltf, separators=(",", ":")).encode()
    json_chunk += b" " * (-len(json_chunk) % 4)
    bin_chunk = positions + b"\0" * (-len(positions) % 4)
    body = (struct.pack("<I4s", len(json_chunk), b"JSON") + json_chunk
            + struct.pack("<I4s", len(bin_chunk), b"BIN\0") + bin_chunk)
    path = d / "chair.glb"
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return Fixture("glb", path, "model/gltf-binary", headers={
        "prompt": "mid-century lounge chair, walnut", "model": "meshy-4",
        "source-type": "trainedAlgorithmicMedia"}, expected={
        "prompt": "mid-century lounge chair, walnut", "model": "meshy-4", "source_type": TAM},
        notices=["format_unreadable"])


# -- bad input ---------------------------------------------------------------------------------

def truncated_png(d: Path) -> Fixture:
    whole = d / "whole.png"
    noisy = Image.effect_noise((256, 256), 64).convert("RGB")
    _png(whole, {"parameters": A1111_PARAMETERS}, image=noisy)
    data = whole.read_bytes()
    whole.unlink()
    path = d / "truncated.png"
    path.write_bytes(data[: len(data) // 2])       # cut in the middle of the image data
    return Fixture("truncated_png", path, "image/png", expected={
        "prompt": A1111_PROMPT, "seed": 3141592653, "model": "sd_xl_base_1.0",
        "source_type": TAM}, source_roles=["controlnet", "init_image"],
        notices=["exiftool_warning"])


def corrupt_png(d: Path) -> Fixture:
    path = d / "corrupt.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\xff" * 40)
    return Fixture("corrupt_png", path, "image/png", headers={
        "prompt": "a broken upload", "model": "sdxl", "source-type": "trainedAlgorithmicMedia"},
        expected={"prompt": "a broken upload", "model": "sdxl", "source_type": TAM},
        notices=["exiftool_warning"])


def huge_text_png(d: Path) -> Fixture:
    """A 5 MB prompt in the ``parameters`` chunk."""
    huge = "masterpiece, " * (5 * 1024 * 1024 // 13)
    text = f"{huge}\nNegative prompt: none\nSteps: 12, Sampler: Euler, CFG scale: 3, Seed: 9, " \
           "Size: 64x48, Model: sdxl_turbo"
    path = _png(d / "huge.png", {"parameters": text})
    return Fixture("huge_text_png", path, "image/png", expected={
        "prompt": huge.strip()[:64 * 1024], "steps": 12, "seed": 9, "model": "sdxl_turbo",
        "source_type": TAM}, notices=["value_truncated", "raw_dropped"])


# -- C2PA ------------------------------------------------------------------------------------

@dataclass
class TestCA:
    chain_pem: bytes        # signer certificate then CA certificate
    key_pem: bytes          # signer private key (PKCS#8)


def make_test_ca() -> TestCA:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    validity = (now - dt.timedelta(days=1), now + dt.timedelta(days=30))

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provgate tests")])

    def usage(signer: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=True, content_commitment=False,
                             key_encipherment=False, data_encipherment=False,
                             key_agreement=False, key_cert_sign=not signer,
                             crl_sign=not signer, encipher_only=False, decipher_only=False)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("provgate test CA"))
          .issuer_name(name("provgate test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(validity[0]).not_valid_after(validity[1])
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(signer=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(name("provgate test signer"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity[0]).not_valid_after(validity[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(signer=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return TestCA(chain_pem=leaf.public_bytes(pem) + ca.public_bytes(pem),
                  key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))


C2PA_MANIFEST = {
    "claim_generator_info": [{"name": "ChatGPT", "version": "1.0"}],
    "title": "image.jpg",
    "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
        "action": "c2pa.created", "digitalSourceType": TAM,
        "softwareAgent": {"name": "GPT-4o"}}]}}],
}


def _c2pa_sign(source: bytes, mime: str, ca: TestCA, title: str) -> bytes:
    import c2pa

    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
        alg=b"es256", sign_cert=ca.chain_pem, private_key=ca.key_pem, ta_url=None))
    sketch = io.BytesIO()
    _image((200, 200, 200), (32, 32)).save(sketch, "PNG")
    sketch.seek(0)
    out = io.BytesIO()
    with c2pa.Builder(dict(C2PA_MANIFEST, title=title)) as builder:
        builder.add_ingredient({"title": "sketch.png", "relationship": "parentOf"},
                               "image/png", sketch)
        builder.sign(signer, mime, io.BytesIO(source), out)
    signer.close()
    return out.getvalue()


def _c2pa_fixture(d: Path, ca: TestCA, name: str, fmt: str, mime: str) -> Fixture:
    buf = io.BytesIO()
    _image((90, 60, 160)).save(buf, fmt)
    path = d / f"{name}.{fmt.lower()}"
    path.write_bytes(_c2pa_sign(buf.getvalue(), mime, ca, path.name))
    return Fixture(f"c2pa_{fmt.lower()}", path, mime,
                   headers={"prompt": "a purple origami crane on white paper"},
                   expected={"prompt": "a purple origami crane on white paper",
                             "generator": "ChatGPT", "model": "GPT-4o", "source_type": TAM},
                   source_roles=["c2pa_ingredient"], detected=["c2pa"])


# -- all ---------------------------------------------------------------------------------------

BUILDERS: list[Callable[[Path], Fixture]] = [
    a1111_png, a1111_jpg, nonlatin_png, comfyui_png, comfyui_webp, comfyui_malformed,
    invokeai_png, novelai_png, fooocus_png, midjourney_png, a_png, a_jpg, pdf, wav, mp4, glb,
    truncated_png, corrupt_png, huge_text_png,
]


FIXTURE_NAMES = [build.__name__ for build in BUILDERS] + ["c2pa_jpeg", "c2pa_png"]


def build_all(directory: Path) -> dict[str, Fixture]:
    directory.mkdir(parents=True, exist_ok=True)
    fixtures = {f.name: f for f in (build(directory) for build in BUILDERS)}
    ca = make_test_ca()
    for fmt, mime in (("JPEG", "image/jpeg"), ("PNG", "image/png")):
        fixture = _c2pa_fixture(directory, ca, "c2pa", fmt, mime)
        fixtures[fixture.name] = fixture
    return fixtures

