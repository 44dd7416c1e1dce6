"""Content Credentials on the delivered copy: a C2PA manifest signed with the studio's key.

``c2pa_sign = true`` signs what is delivered (after XMP embedding, so the signature
covers it) with ``[c2pa] cert`` / ``key`` (or ``key_env``) / ``alg``. The manifest:

- the stored version as the ``parentOf`` ingredient (its own manifest, if the generator
  signed one, is carried inside it);
- a ``c2pa.actions`` assertion with ``c2pa.opened`` (that ingredient) and
  ``c2pa.published`` naming the review decision (who approved, when, which target);
- the generator's ``digitalSourceType`` (IPTC URI) on both actions, so the AI marking
  survives in the credential.

c2pa-python runs in a worker thread (it is blocking native code).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from gateway.distribution.settings import C2paSigning

SOFTWARE = {"name": "provgate", "version": "0.1.0"}
INGREDIENT_LABEL = "stored-version"


class SignError(Exception):
    """c2pa could not sign this copy (an unsupported format, a key that does not match)."""


@dataclass
class Publication:
    """What the credential says about the publishing step."""

    title: str
    content_type: str
    decision: str                     # e.g. "approved by alice at 2026-12-06T19:00:00Z"
    target: str
    digital_source_type: str | None   # full IPTC URI
    instance_id: str                  # xmpMM:InstanceID of the stored version


def manifest_for(pub: Publication) -> dict:
    def action(name: str, **extra) -> dict:
        out = {"action": name, "softwareAgent": SOFTWARE, **extra}
        if pub.digital_source_type:
            out["digitalSourceType"] = pub.digital_source_type
        return out

    return {
        "claim_generator_info": [SOFTWARE],
        "title": pub.title,
        "format": pub.content_type,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            action("c2pa.opened", parameters={"ingredientIds": [INGREDIENT_LABEL]}),
            action("c2pa.published", description=f"{pub.decision}; published to {pub.target}",
                   parameters={"review": pub.decision, "target": pub.target}),
        ]}}],
    }


def _sign(signing: C2paSigning, pub: Publication, source: Path, ingredient: Path,
          dest: Path) -> None:
    import c2pa
    info = c2pa.C2paSignerInfo(signing.alg.encode(), signing.cert_pem, signing.key_pem,
                               signing.tsa_url.encode() if signing.tsa_url else None)
    try:
        signer = c2pa.Signer.from_info(info)
        with c2pa.Builder(json.dumps(manifest_for(pub))) as builder:
            with open(ingredient, "rb") as ing:
                builder.add_ingredient({"title": pub.title, "relationship": "parentOf",
                                        "label": INGREDIENT_LABEL,
                                        "instance_id": pub.instance_id},
                                       pub.content_type, ing)
            with open(source, "rb") as src, open(dest, "w+b") as out:
                builder.sign(signer, pub.content_type, src, out)
    except c2pa.C2paError as exc:
        raise SignError(f"C2PA signing failed for {pub.content_type}: {exc}") from None


async def sign_copy(signing: C2paSigning, pub: Publication, source: Path, ingredient: Path,
                    dest: Path) -> None:
    await asyncio.to_thread(_sign, signing, pub, source, ingredient, dest)
