"""What a reviewer may send, checked before anything is stored.

Every door (admin API, CLI through the API, S3 tagging) hands raw values to these
functions; a value that is out of range, of the wrong type, or too large raises
``errors.InvalidArgument`` naming the field, and nothing is stored.
"""

from __future__ import annotations

import math
import re

from gateway import errors
from gateway.review.states import decision_named

# A note on a decision and a comment's text: enough for a paragraph of feedback, small
# enough that a record with hundreds of them stays a few hundred KiB.
MAX_TEXT_CHARS = 4000
# Comments and replies on one version (a record holds them all).
MAX_COMMENTS = 500
# Longest time range a comment may name, in seconds (a 100-day recording).
MAX_SECONDS = 100 * 24 * 3600.0
RATINGS = range(0, 6)              # xmp:Rating 0 (unrated) .. 5 stars
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
COMMENT_ID = re.compile(r"^c[1-9][0-9]{0,5}$")


def decision(value: object) -> str:
    named = decision_named(value)
    if named is None:
        raise errors.InvalidArgument(
            f"decision must be approve, request-changes or reject, not {_shown(value)}")
    return named


def text(value: object, field: str, *, required: bool) -> str | None:
    """A note or comment text: a string of at most MAX_TEXT_CHARS, no control characters
    other than tab and newline."""
    if value is None or value == "":
        if required:
            raise errors.InvalidArgument(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise errors.InvalidArgument(f"{field} must be a string")
    if len(value) > MAX_TEXT_CHARS:
        raise errors.InvalidArgument(f"{field} is {len(value)} characters long; at most "
                                     f"{MAX_TEXT_CHARS} are kept")
    if _CONTROL.search(value):
        raise errors.InvalidArgument(f"{field} holds control characters")
    if required and not value.strip():
        raise errors.InvalidArgument(f"{field} must not be blank")
    return value


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise errors.InvalidArgument(f"{field} must be a finite number, not {_shown(value)}")
    return float(value)


def region(value: object) -> dict[str, float] | None:
    """``{x, y, w, h}``: fractions of the image's width and height, from its top left;
    the rectangle must lie inside the image and have an area."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"x", "y", "w", "h"}:
        raise errors.InvalidArgument("region must be an object with exactly x, y, w, h")
    box = {k: _number(value[k], f"region.{k}") for k in ("x", "y", "w", "h")}
    if not (0 <= box["x"] <= 1 and 0 <= box["y"] <= 1):
        raise errors.InvalidArgument("region.x and region.y must lie in 0..1")
    if not (0 < box["w"] <= 1 and 0 < box["h"] <= 1):
        raise errors.InvalidArgument("region.w and region.h must lie in (0, 1]")
    if box["x"] + box["w"] > 1 + 1e-9 or box["y"] + box["h"] > 1 + 1e-9:
        raise errors.InvalidArgument("region must lie inside the image (x + w <= 1, y + h <= 1)")
    return box


def timecode(value: object) -> dict[str, float] | None:
    """``{start, end}`` in seconds from the start of the media, ``start <= end``."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"start", "end"} or "start" not in value:
        raise errors.InvalidArgument("timecode must be an object with start (and end) in seconds")
    start = _number(value["start"], "timecode.start")
    end = _number(value.get("end", value["start"]), "timecode.end")
    if not 0 <= start <= end <= MAX_SECONDS:
        raise errors.InvalidArgument(
            f"timecode must satisfy 0 <= start <= end <= {MAX_SECONDS:.0f} seconds")
    return {"start": start, "end": end}


def rating(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in RATINGS:
        raise errors.InvalidArgument(f"rating must be an integer 0..5, not {_shown(value)}")
    return value


def comment_id(value: object, field: str = "reply_to") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not COMMENT_ID.match(value):
        raise errors.InvalidArgument(f"{field} must be a comment id such as c1")
    return value


def _shown(value: object) -> str:
    text_ = repr(value)
    return text_ if len(text_) <= 40 else text_[:37] + "..."
