"""C2PA manifests (Content Credentials) through c2pa-python's ``Reader``.

DALL-E / ChatGPT, Adobe Firefly, Bing Image Creator / Designer and a growing number of
cameras sign a C2PA manifest into the file. ExifTool 12.57 sees the JUMBF box only in
JPEG and PNG (group ``JUMBF``), and cannot verify it; c2pa-python (c2pa-rs) reads and
validates manifests in JPEG, PNG, WebP, AVIF/HEIF, TIFF, MP4/MOV, WAV, MP3, PDF, ...

The summary keeps what provenance needs: the claim generator, the actions (with their
``digitalSourceType`` and software agent), the ingredients, and the validation state —
c2pa-rs's ``Invalid`` (a signature or hash does not verify), ``Valid`` (it verifies; the
signer may be unknown: ``signingCredential.untrusted`` is then listed among the failure
codes) or ``Trusted`` (the signer chains to a configured trust anchor).

Network access is disabled: reading a manifest never fetches a remote manifest or an
OCSP response (an uploaded file must not make the gateway issue requests).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from gateway.provenance.record import C2paAction, C2paIngredient, C2paSummary, Notice

try:
    import c2pa
except (ImportError, OSError):  # a dependency, but a broken native library must not stop intake
    c2pa = None

# No network: remote manifests and OCSP responses are never fetched.
_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
_local = threading.local()


def available() -> bool:
    return c2pa is not None


def supported_mime_types() -> frozenset[str]:
    if c2pa is None:
        return frozenset()
    try:
        return frozenset(t for t in c2pa.Reader.get_supported_mime_types() if "/" in t)
    except Exception:  # noqa: BLE001 - treat as "no support"
        return frozenset()


def _context():
    # one Context per thread: the native handle is not documented as thread-safe
    ctx = getattr(_local, "context", None)
    if ctx is None:
        ctx = c2pa.Context(c2pa.Settings.from_dict(_SETTINGS))
        _local.context = ctx
    return ctx


def read_manifest(path: str | os.PathLike,
                  mime_type: str | None) -> tuple[C2paSummary | None, list[Notice]]:
    """The active manifest's summary (None if the file has none) and any notices. Blocking."""
    notices: list[Notice] = []
    if c2pa is None:
        notices.append(Notice(code="c2pa_unavailable", severity="error",
                              message="c2pa-python is not installed; C2PA manifest not read"))
        return None, notices
    try:
        with open(path, "rb") as fh:
            reader = c2pa.Reader.try_create(mime_type or None, fh, None, _context())
            if reader is None:
                return None, notices
            with reader:
                summary = summarize(json.loads(reader.json()))
    except Exception as exc:  # noqa: BLE001 - c2pa errors, I/O errors, odd manifests alike
        name = type(exc).__name__.lstrip("_")
        notices.append(Notice(code="c2pa_error", severity="error", message=(
            f"C2PA manifest could not be read ({name}: {str(exc)[:300]})")))
        return None, notices
    if summary is not None and summary.validation_state == "Invalid":
        notices.append(Notice(code="c2pa_invalid", message="C2PA manifest does not validate: "
                              + ", ".join(summary.validation_failures or ["unknown reason"])))
    return summary, notices


def summarize(store: dict[str, Any]) -> C2paSummary | None:
    """Summary of a c2pa-rs manifest store (``Reader.json()``)."""
    label = store.get("active_manifest")
    manifests = store.get("manifests")
    manifest = manifests.get(label) if isinstance(manifests, dict) and isinstance(label, str) \
        else None
    if not isinstance(manifest, dict):
        return None
    summary = C2paSummary(manifest_label=label, title=_text(manifest.get("title")))
    summary.claim_generator = _claim_generator(manifest)
    assertions = manifest.get("assertions")
    for assertion in assertions if isinstance(assertions, list) else []:
        if not isinstance(assertion, dict):
            continue
        data = assertion.get("data")
        if str(assertion.get("label", "")).startswith("c2pa.actions") and isinstance(data, dict):
            actions = data.get("actions")
            for action in actions if isinstance(actions, list) else []:
                if isinstance(action, dict) and isinstance(action.get("action"), str):
                    summary.actions.append(C2paAction(
                        action=action["action"],
                        digital_source_type=_text(action.get("digitalSourceType")),
                        software_agent=_agent(action.get("softwareAgent")),
                        when=_text(action.get("when"))))
    created = [a for a in summary.actions if a.action == "c2pa.created" and a.digital_source_type]
    with_type = created or [a for a in summary.actions if a.digital_source_type]
    if with_type:
        summary.digital_source_type = with_type[0].digital_source_type
    ingredients = manifest.get("ingredients")
    for ingredient in ingredients if isinstance(ingredients, list) else []:
        if isinstance(ingredient, dict):
            summary.ingredients.append(C2paIngredient(
                title=_text(ingredient.get("title")), format=_text(ingredient.get("format")),
                relationship=_text(ingredient.get("relationship")),
                instance_id=_text(ingredient.get("instance_id")),
                document_id=_text(ingredient.get("document_id"))))
    summary.validation_state = _text(store.get("validation_state"))
    status = store.get("validation_status")
    summary.validation_failures = [s["code"] for s in (status if isinstance(status, list) else [])
                                   if isinstance(s, dict) and isinstance(s.get("code"), str)]
    signature = manifest.get("signature_info") or {}
    if isinstance(signature, dict):
        summary.signature_issuer = _text(signature.get("issuer"))
        summary.signature_time = _text(signature.get("time"))
    return summary


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _agent(value: Any) -> str | None:
    if isinstance(value, dict):
        name, version = _text(value.get("name")), value.get("version")
        if name and version is not None:
            return f"{name} {version}"
        return name
    return _text(value)


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    infos = manifest.get("claim_generator_info")
    for info in infos if isinstance(infos, list) else []:
        if isinstance(info, dict) and _text(info.get("name")):
            version = info.get("version")
            return f"{info['name']}/{version}" if version is not None else info["name"]
    return _text(manifest.get("claim_generator"))

