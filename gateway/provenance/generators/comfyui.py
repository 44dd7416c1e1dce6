"""ComfyUI: the API graph (``prompt``) and the editor graph (``workflow``).

Where:
- PNG: text chunks ``prompt`` and ``workflow`` (ExifTool ``PNG:Prompt``, ``PNG:Workflow``).
- WebP (SaveAnimatedWEBP and friends): EXIF strings ``prompt:{json}`` in Model (0x0110)
  and ``workflow:{json}`` in Make (0x010f); further extra_pnginfo items count down from
  0x010f, so ImageDescription (0x010e) is checked as well.

``prompt`` is the executed graph: ``{"<node id>": {"class_type": ..., "inputs": {...}}}``,
where an input is a literal or a link ``["<source node id>", <output index>]``. It is the
authoritative source: the parser finds the sampler closest to the output (SaveImage
etc.), then follows links upstream:

- seed / steps / cfg / sampler_name / scheduler / denoise: the sampler's inputs, or for
  SamplerCustomAdvanced the nearest upstream node that has them (RandomNoise,
  BasicScheduler, KSamplerSelect, CFGGuider); a link to a primitive node is resolved;
- prompt / negative prompt: the text of the text-encoder nodes (CLIPTextEncode, SDXL,
  Flux, SD3 variants) reached from the sampler's (or guider's) ``positive`` and
  ``negative`` inputs, through conditioning nodes (ControlNetApply, ConditioningCombine,
  FluxGuidance, ...);
- model: the loader reached through the ``model`` input (CheckpointLoaderSimple
  ``ckpt_name``, UNETLoader ``unet_name``, ...); LoRA loaders passed on the way are listed;
- size: ``width``/``height`` upstream of ``latent_image``;
- inputs: every LoadImage-like node is a source, its role taken from what consumes it
  downstream (ControlNet -> controlnet, IPAdapter -> ip_adapter, VAEEncode -> init_image,
  a ``mask`` input -> mask, otherwise load_image).

``workflow`` (the editor's graph: nodes with ``widgets_values`` and a ``links`` table) is
used only when ``prompt`` is absent or unreadable, for the common node types.
Both texts are kept verbatim (``generation.raw``) unless larger than MAX_RAW.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from gateway.provenance.generators.finding import Finding, load_json
from gateway.provenance.record import Source
from gateway.provenance.tags import Tags

FORMAT = "comfyui"
GENERATOR = "ComfyUI"
MAX_DEPTH = 32

_OUTPUT_HINTS = ("SaveImage", "PreviewImage", "SaveAnimatedWEBP", "SaveAnimatedPNG",
                 "SaveWEBM", "SaveVideo", "VHS_VideoCombine", "Image Save")
_TEXT_INPUTS = ("text", "text_g", "text_l", "t5xxl", "clip_l", "prompt")
_MODEL_INPUTS = ("ckpt_name", "unet_name", "model_name", "gguf_name", "model_path")
_VALUE_INPUTS = ("value", "seed", "noise_seed", "int", "float", "number", "string", "text",
                 "String")
_LOAD_CLASSES = ("LoadImage", "LoadImageMask", "LoadImageOutput", "VHS_LoadVideo",
                 "LoadVideo", "LoadImageFromPath")


def parse(tags: Tags) -> Finding | None:
    texts = _find_texts(tags)
    if not texts:
        return None
    finding = Finding(format=FORMAT)
    finding.set("generator", GENERATOR)
    graph = workflow = None
    if "prompt" in texts:
        where, text = texts["prompt"]
        finding.keep_raw(where, "comfyui-prompt", text)
        data = load_json(finding, where, text)
        if isinstance(data, dict) and _looks_like_api_graph(data):
            graph = data
    if "workflow" in texts:
        where, text = texts["workflow"]
        finding.keep_raw(where, "comfyui-workflow", text)
        if graph is None:
            data = load_json(finding, where, text)
            if isinstance(data, dict) and isinstance(data.get("nodes"), list):
                workflow = data
    if graph is not None:
        _ApiGraph(graph, finding).read()
    elif workflow is not None:
        _EditorGraph(workflow, finding).read()
    elif not any(n.code == "json_invalid" for n in finding.notices):
        return None                    # well-formed JSON, but not ComfyUI's
    return finding


def _find_texts(tags: Tags) -> dict[str, tuple[str, str]]:
    """{"prompt"|"workflow": (where, json text)} from PNG text or WebP EXIF strings."""
    found: dict[str, tuple[str, str]] = {}
    for name in ("PNG:Prompt", "PNG:Workflow"):
        value = tags.text(name)
        if value and value.lstrip().startswith("{"):
            found[name.split(":")[1].lower()] = (tags.key_of(name) or name, value)
    for name in ("IFD0:Model", "IFD0:Make", "IFD0:ImageDescription"):
        value = tags.text(name)
        if not value:
            continue
        label, sep, rest = value.partition(":")
        if sep and label in ("prompt", "workflow") and rest.lstrip().startswith("{"):
            found.setdefault(label, (tags.key_of(name) or name, rest))
    return found


def _looks_like_api_graph(data: dict) -> bool:
    nodes = [v for v in data.values() if isinstance(v, dict)]
    return bool(nodes) and any("class_type" in v for v in nodes)


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))
            and isinstance(value[1], int) and not isinstance(value[1], bool))


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


class _ApiGraph:
    """The executed graph, ``{"id": {"class_type", "inputs"}}``."""

    def __init__(self, graph: dict, finding: Finding) -> None:
        self.nodes = {str(k): v for k, v in graph.items()
                      if isinstance(v, dict) and isinstance(v.get("inputs", {}), dict)}
        self.finding = finding

    def cls(self, node_id: str) -> str:
        return str(self.nodes.get(node_id, {}).get("class_type", ""))

    def inputs(self, node_id: str) -> dict[str, Any]:
        return self.nodes.get(node_id, {}).get("inputs", {}) or {}

    # -- reading --

    def read(self) -> None:
        f = self.finding
        sampler = self._main_sampler()
        if sampler is not None:
            f.set("seed", self._param(sampler, ("seed", "noise_seed")))
            f.set("steps", self._param(sampler, ("steps",)))
            f.set("cfg_scale", self._param(sampler, ("cfg",)))
            f.set("sampler", self._param(sampler, ("sampler_name",)))
            scheduler = self._param(sampler, ("scheduler",))
            f.generation.scheduler = str(scheduler) if scheduler is not None else None
            denoise = self._param(sampler, ("denoise",))
            if isinstance(denoise, (int, float)) and not isinstance(denoise, bool):
                f.generation.denoise = float(denoise)
            holder = self._holder_of(sampler, "positive")
            if holder is not None:
                f.set("prompt", self._prompt(holder, "positive"))
                f.set("negative_prompt", self._prompt(holder, "negative"))
            model_holder = self._holder_of(sampler, "model")
            if model_holder is not None:
                self._model(model_holder)
            for key in ("width", "height"):
                value = self._upstream_scalar(sampler, (key,), via=("latent_image", "latent"))
                if isinstance(value, int):
                    setattr(f.generation, key, value)
            f.generation.extra["sampler_node"] = self.cls(sampler)
        else:
            encoders = [n for n in self.nodes if "TextEncode" in self.cls(n)]
            if len(encoders) == 1:
                f.set("prompt", self._encoder_text(encoders[0]))
        if "model" not in f.values:
            for node_id in self.nodes:
                name = self._model_name(node_id)
                if name:
                    f.set("model", name)
                    break
        self._sources()

    def _main_sampler(self) -> str | None:
        samplers = [n for n in self.nodes if self._is_sampler(n)]
        if not samplers:
            return None
        outputs = [n for n in self.nodes if self.cls(n).startswith("Save")
                   or any(h in self.cls(n) for h in _OUTPUT_HINTS)]
        for out in outputs:
            for node_id in self._upstream(out):
                if node_id in samplers:
                    return node_id
        return samplers[0]

    def _is_sampler(self, node_id: str) -> bool:
        cls = self.cls(node_id)
        inputs = self.inputs(node_id)
        if cls.startswith("KSampler") or cls.startswith("SamplerCustom"):
            return True
        return ("positive" in inputs and "negative" in inputs
                and ("seed" in inputs or "noise_seed" in inputs))

    def _upstream(self, start: str, via: tuple[str, ...] | None = None):
        """Node ids upstream of ``start`` (breadth first, nearest first), start excluded."""
        seen = {start}
        queue = deque([(start, 0)])
        first = True
        while queue:
            node_id, depth = queue.popleft()
            if depth >= MAX_DEPTH:
                continue
            for name, value in self.inputs(node_id).items():
                if first and via is not None and name not in via:
                    continue
                if _is_link(value):
                    src = str(value[0])
                    if src in self.nodes and src not in seen:
                        seen.add(src)
                        yield src
                        queue.append((src, depth + 1))
            first = False

    def _resolve(self, value: Any, keys: tuple[str, ...]) -> Any:
        """A literal, or the literal a link leads to (primitive / seed / string nodes)."""
        names = tuple(dict.fromkeys(keys + _VALUE_INPUTS))
        seen: set[str] = set()
        while _is_link(value):
            node_id = str(value[0])
            if node_id in seen or len(seen) >= MAX_DEPTH:
                return None            # a cycle, or a chain too long to be real
            seen.add(node_id)
            src = self.inputs(node_id)
            value = next((src[k] for k in names if k in src), None)
        return value if _scalar(value) else None

    def _param(self, sampler: str, keys: tuple[str, ...]) -> Any:
        inputs = self.inputs(sampler)
        for key in keys:
            if key in inputs:
                return self._resolve(inputs[key], keys)
        return self._upstream_scalar(sampler, keys)

    def _upstream_scalar(self, start: str, keys: tuple[str, ...],
                         via: tuple[str, ...] | None = None) -> Any:
        for node_id in self._upstream(start, via):
            inputs = self.inputs(node_id)
            for key in keys:
                if key in inputs:
                    value = self._resolve(inputs[key], keys)
                    if value is not None:
                        return value
        return None

    def _holder_of(self, sampler: str, input_name: str) -> str | None:
        """The sampler, or the nearest upstream node (a guider) that has ``input_name``."""
        if input_name in self.inputs(sampler):
            return sampler
        for node_id in self._upstream(sampler):
            if input_name in self.inputs(node_id):
                return node_id
        return None

    def _prompt(self, holder: str, role: str) -> str | None:
        link = self.inputs(holder).get(role)
        if not _is_link(link):
            return None
        texts: list[str] = []
        seen: set[str] = set()
        stack = [(str(link[0]), 0)]
        while stack:
            node_id, depth = stack.pop()
            if node_id in seen or node_id not in self.nodes or depth > MAX_DEPTH:
                continue
            seen.add(node_id)
            if "TextEncode" in self.cls(node_id):
                text = self._encoder_text(node_id)
                if text and text not in texts:
                    texts.append(text)
                continue
            inputs = self.inputs(node_id)
            if role in inputs:
                names = [role]
            else:
                names = [n for n in inputs if "conditioning" in n.lower()]
            for name in reversed(names):
                value = inputs.get(name)
                if _is_link(value):
                    stack.append((str(value[0]), depth + 1))
        return "\n".join(texts) if texts else None

    def _encoder_text(self, node_id: str) -> str | None:
        inputs = self.inputs(node_id)
        parts: list[str] = []
        for key in _TEXT_INPUTS:
            if key in inputs:
                value = self._resolve(inputs[key], ("text", "string", "value"))
                if isinstance(value, str) and value.strip() and value not in parts:
                    parts.append(value)
        return "\n".join(parts) if parts else None

    def _model(self, holder: str) -> None:
        loras = []
        node_id: str | None = holder
        seen: set[str] = set()
        while node_id is not None and node_id not in seen and len(seen) < MAX_DEPTH:
            seen.add(node_id)
            inputs = self.inputs(node_id)
            name = self._model_name(node_id)
            if name and node_id != holder:
                self.finding.set("model", name)
                break
            if "lora_name" in inputs and _scalar(inputs["lora_name"]):
                loras.append({"name": inputs["lora_name"],
                              "strength": inputs.get("strength_model")})
            link = inputs.get("model")
            node_id = str(link[0]) if _is_link(link) else None
        if loras:
            self.finding.generation.extra["loras"] = loras

    def _model_name(self, node_id: str) -> str | None:
        inputs = self.inputs(node_id)
        for key in _MODEL_INPUTS:
            value = inputs.get(key)
            if isinstance(value, str) and value.strip():
                return value
        return None

    def _sources(self) -> None:
        consumers: dict[str, list[tuple[str, str]]] = {}
        for node_id in self.nodes:
            for name, value in self.inputs(node_id).items():
                if _is_link(value):
                    consumers.setdefault(str(value[0]), []).append((node_id, name))
        for node_id in self.nodes:
            cls = self.cls(node_id)
            inputs = self.inputs(node_id)
            if cls not in _LOAD_CLASSES and not (isinstance(inputs.get("image"), str)
                                                 and "upload" in inputs):
                continue
            name = next((inputs[k] for k in ("image", "video", "file", "path")
                         if isinstance(inputs.get(k), str)), None)
            self.finding.sources.append(Source(
                role=self._role(node_id, consumers), origin=FORMAT, name=name,
                details={"node": node_id, "class_type": cls}))

    def _role(self, start: str, consumers: dict[str, list[tuple[str, str]]]) -> str:
        queue = deque([(start, 0)])
        seen = {start}
        while queue:
            node_id, depth = queue.popleft()
            for consumer, input_name in consumers.get(node_id, []):
                cls = self.cls(consumer)
                if "ControlNet" in cls:
                    return "controlnet"
                if "IPAdapter" in cls or "StyleModel" in cls or "CLIPVision" in cls:
                    return "ip_adapter"
                if input_name == "mask":
                    return "mask"
                if cls.startswith("VAEEncode") or "InpaintModelConditioning" in cls:
                    return "init_image"
                if consumer not in seen and depth < MAX_DEPTH:
                    seen.add(consumer)
                    queue.append((consumer, depth + 1))
        return "load_image"


# Editor-graph widget orders of common nodes: widgets_values index -> field.
_WIDGETS = {
    "KSampler": {0: "seed", 2: "steps", 3: "cfg_scale", 4: "sampler", 5: "scheduler",
                 6: "denoise"},
    "KSamplerAdvanced": {1: "seed", 3: "steps", 4: "cfg_scale", 5: "sampler",
                         6: "scheduler"},
}


class _EditorGraph:
    """The editor's graph: ``{"nodes": [...], "links": [[id, from, slot, to, slot, type]]}``."""

    def __init__(self, workflow: dict, finding: Finding) -> None:
        self.nodes = {n["id"]: n for n in workflow.get("nodes") or []
                      if isinstance(n, dict) and isinstance(n.get("id"), (int, str))}
        self.link_origin: dict[Any, Any] = {}
        links = workflow.get("links")
        for link in links if isinstance(links, list) else []:
            if isinstance(link, list) and len(link) >= 2 and isinstance(link[0], (int, str)):
                self.link_origin[link[0]] = link[1]
        self.finding = finding

    @staticmethod
    def _list(node: dict, key: str) -> list:
        value = node.get(key)
        return value if isinstance(value, list) else []

    def _node(self, node_id: Any) -> dict | None:
        return self.nodes.get(node_id) if isinstance(node_id, (int, str)) else None

    def read(self) -> None:
        f = self.finding
        samplers = [n for n in self.nodes.values()
                    if isinstance(n.get("type"), str) and n["type"] in _WIDGETS]
        if samplers:
            node = samplers[-1]
            widgets = self._list(node, "widgets_values")
            for index, name in _WIDGETS[node.get("type")].items():
                if index < len(widgets) and _scalar(widgets[index]):
                    if name == "scheduler":
                        f.generation.scheduler = str(widgets[index])
                    elif name == "denoise" and isinstance(widgets[index], (int, float)):
                        f.generation.denoise = float(widgets[index])
                    else:
                        f.set(name, widgets[index])
            f.set("prompt", self._text(node, "positive"))
            f.set("negative_prompt", self._text(node, "negative"))
        for node in self.nodes.values():
            widgets = self._list(node, "widgets_values")
            kind = node.get("type") if isinstance(node.get("type"), str) else ""
            if kind in ("CheckpointLoaderSimple", "UNETLoader", "CheckpointLoader") and widgets:
                if isinstance(widgets[0], str):
                    f.set("model", widgets[0])
            elif kind == "EmptyLatentImage" and len(widgets) >= 2:
                if isinstance(widgets[0], int) and isinstance(widgets[1], int):
                    f.generation.width, f.generation.height = widgets[0], widgets[1]
            elif kind in _LOAD_CLASSES and widgets and isinstance(widgets[0], str):
                f.sources.append(Source(role="load_image", origin=FORMAT, name=widgets[0],
                                        details={"node": str(node.get("id")),
                                                 "class_type": kind}))

    def _text(self, node: dict, role: str) -> str | None:
        texts: list[str] = []
        seen: set[Any] = set()
        stack = [self._origin(node, role)]
        while stack:
            current = stack.pop()
            if current is None or current["id"] in seen or len(seen) > MAX_DEPTH:
                continue
            seen.add(current["id"])
            if "TextEncode" in str(current.get("type", "")):
                widgets = self._list(current, "widgets_values")
                if widgets and isinstance(widgets[0], str) and widgets[0].strip():
                    texts.append(widgets[0])
                continue
            names = [i.get("name") for i in self._list(current, "inputs")
                     if isinstance(i, dict) and isinstance(i.get("name"), str)]
            wanted = [role] if role in names else [n for n in names
                                                   if "conditioning" in n.lower()]
            for name in wanted:
                stack.append(self._origin(current, name))
        return "\n".join(texts) if texts else None

    def _origin(self, node: dict, input_name: str) -> dict | None:
        for item in self._list(node, "inputs"):
            if isinstance(item, dict) and item.get("name") == input_name:
                link = item.get("link")
                if isinstance(link, (int, str)):
                    return self._node(self.link_origin.get(link))
        return None
