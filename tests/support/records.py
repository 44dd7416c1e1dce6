"""The XMP record of a stored version as ExifTool reads it (``<key>.xmp`` over S3)."""

from __future__ import annotations

import json
import subprocess
import uuid

from defusedxml import ElementTree as SafeET

from gateway.provenance import CONFIG_FILE
from tests.conftest import client


def record_events(server, tmp_path, bucket, name) -> list[dict]:
    """The xmpMM:History of the stored record as ExifTool reads it (-X: RDF/XML)."""
    body = client(server.endpoint).get_object(Bucket=bucket, Key=name + ".xmp")["Body"].read()
    path = tmp_path / f"{uuid.uuid4().hex}.xmp"
    path.write_bytes(body)
    out = subprocess.run(["exiftool", "-config", str(CONFIG_FILE), "-X", "-struct", str(path)],
                         check=True, capture_output=True, text=True).stdout
    root = SafeET.fromstring(out)            # parses as RDF/XML or fails the test
    history = next(e for e in root.iter() if e.tag.endswith("}History"))
    events = []
    for item in history.iter():
        if item.tag.endswith("}li") and len(item):
            events.append({child.tag.split("}")[1]: child.text for child in item.iter()
                           if child is not item and child.text and child.text.strip()})
    return events


def exiftool_json(server, tmp_path, bucket, name) -> dict:
    body = client(server.endpoint).get_object(Bucket=bucket, Key=name + ".xmp")["Body"].read()
    path = tmp_path / f"{uuid.uuid4().hex}.xmp"
    path.write_bytes(body)
    out = subprocess.run(["exiftool", "-config", str(CONFIG_FILE), "-j", "-struct", "-G1",
                          str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]
