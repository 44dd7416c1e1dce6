"""Midjourney: images downloaded from the Midjourney website.

Where (ExifTool names): ``PNG:Description`` = the prompt as typed, its parameters, then
``Job ID: <uuid>``, e.g.::

    a lighthouse at dusk --ar 16:9 --stylize 250 --v 6.1 Job ID: 0f2e7c1a-...-9d1c

``PNG:Author`` = the Midjourney user name (the prompt's author); ``PNG:CreationTime``.
The same files carry XMP with ``Iptc4xmpExt:DigImageGUID`` (the job id) and
``Iptc4xmpExt:DigitalSourceType`` in its ``https://`` spelling; that XMP is read by the
general XMP reader, which normalises the URI.

The prompt is the text before the first ``--parameter``; parameters go to
``generation.extra["parameters"]``; ``--v N`` is the model version, ``--niji N`` means
the Niji model, ``--seed N`` the seed, ``--no x`` the negative prompt.
"""

from __future__ import annotations

import re

from gateway.provenance.generators.finding import Finding
from gateway.provenance.tags import Tags

FORMAT = "midjourney"
GENERATOR = "Midjourney"
_JOB = re.compile(r"\s*Job ID:\s*([0-9A-Fa-f-]{8,64})\s*$")
_PARAM = re.compile(r"(?:^|\s)--([A-Za-z][\w-]*)(?:\s+((?:(?!\s--).)*))?", re.S)


def parse(tags: Tags) -> Finding | None:
    description = tags.text("PNG:Description", "XMP-dc:Description", "IFD0:ImageDescription")
    if not description:
        return None
    job = _JOB.search(description)
    if job is None:
        return None
    finding = Finding(format=FORMAT)
    where = tags.key_of("PNG:Description", "XMP-dc:Description", "IFD0:ImageDescription")
    finding.keep_raw(where or "PNG:Description", "midjourney-description", description)
    finding.set("generator", GENERATOR)
    finding.set("job_id", job.group(1))
    text = description[:job.start()].strip()
    first = re.search(r"(?:^|\s)--[A-Za-z]", text)
    prompt = text[:first.start()].strip() if first else text
    params = {}
    if first:
        for name, value in _PARAM.findall(text[first.start():]):
            params[name.lower()] = value.strip()
    finding.set("prompt", prompt)
    if "niji" in params:
        finding.set("model", "Niji")
        finding.set("model_version", params["niji"] or None)
    else:
        finding.set("model", GENERATOR)
        finding.set("model_version", params.get("v") or params.get("version") or None)
    finding.set("seed", params.get("seed") or None)
    finding.set("negative_prompt", params.get("no") or None)
    if params:
        finding.generation.extra["parameters"] = params
    finding.set("prompt_author", tags.text("PNG:Author"))
    finding.set("created_at", tags.text("PNG:CreationTime"))
    return finding
