"""The checksum of an object completed from parts, as S3 computes and checks it.

CreateMultipartUpload names an algorithm and a checksum type (``x-amz-checksum-type``;
see ``gateway.wire.checksums``); every part then carries that algorithm's checksum (the
gateway computes it when the client did not send it). CompleteMultipartUpload may name
each part's checksum (``<ChecksumCRC32>`` beside ``<ETag>``), the whole object's
(``x-amz-checksum-<algorithm>``), the type and the object size
(``x-amz-mp-object-size``); each one given must agree with what was stored:

- a part checksum that differs from the stored part's: InvalidPart (400); none for a
  part of a COMPOSITE upload: InvalidRequest (400);
- an object checksum that differs from the one computed: BadDigest (400);
- a type other than the upload's, a checksum of another algorithm, or a size other than
  the parts' total: InvalidRequest (400).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway import errors
from gateway.storage.base import ObjectAttributes, ObjectPart
from gateway.wire import checksums


@dataclass
class CompletionChecks:
    """What a CompleteMultipartUpload request says about checksums and size."""

    part_checksums: dict[int, dict[str, str]] = field(default_factory=dict)  # n -> alg -> b64
    object_checksums: dict[str, str] = field(default_factory=dict)           # alg -> b64
    checksum_type: str | None = None
    object_size: int | None = None


def upload_checksum(algorithm: str | None, kind: str | None) -> tuple[str | None, str | None]:
    """The (algorithm, type) a CreateMultipartUpload asks for, checked: InvalidRequest
    for a type without an algorithm or a pair S3 does not offer (FULL_OBJECT SHA, COMPOSITE
    CRC64NVME); the type defaults to the algorithm's (``checksums.DEFAULT_TYPE``)."""
    if algorithm is None:
        if kind is not None:
            raise errors.InvalidRequest("The x-amz-checksum-type header can only be used "
                                        "with the x-amz-checksum-algorithm header.")
        return None, None
    normalized = checksums.normalize_algorithm(algorithm)
    if normalized is None:
        raise errors.InvalidRequest("Checksum algorithm provided is unsupported. Please try "
                                    "again with any of the valid types: "
                                    f"[{', '.join(checksums.ALGORITHMS)}]")
    if kind is None:
        return normalized, checksums.DEFAULT_TYPE[normalized]
    kind = kind.strip().upper()
    if kind not in checksums.TYPES_ALLOWED[normalized]:
        raise errors.InvalidRequest(f"The {normalized} checksum algorithm does not support "
                                    f"the {kind} checksum type.")
    return normalized, kind


def part_algorithms(upload: ObjectAttributes, sent: tuple[str, ...] | None) -> tuple[str, ...]:
    """The algorithm a part of ``upload`` must get, given those the client sent (a header,
    a trailer, ``x-amz-sdk-checksum-algorithm``; None for a part copied from an object,
    which the gateway always checksums itself). As S3: a checksum of another algorithm
    than the upload's is InvalidRequest, and so is none at all for a COMPOSITE upload (its
    checksum is made of the client's part checksums); a FULL_OBJECT upload's part without
    one gets it computed by the gateway."""
    algorithm = upload.checksum_algorithm
    if algorithm is None:
        return ()
    if sent is None:
        return (algorithm,)
    others = [a for a in sent if a != algorithm]
    if others or (not sent and upload.checksum_type == checksums.COMPOSITE):
        actual = others[0].lower() if others else "null"
        raise errors.InvalidRequest(f"Checksum Type mismatch occurred, expected checksum "
                                    f"Type: {algorithm.lower()}, actual checksum Type: {actual}")
    return (algorithm,)


def object_checksums(upload: ObjectAttributes, parts: list[ObjectPart],
                     checks: CompletionChecks) -> dict[str, str]:
    """The checksums the completed object keeps (algorithm -> wire value; empty when the
    upload named no algorithm), after checking ``checks`` against the parts."""
    for part in parts:
        named = checks.part_checksums.get(part.number, {})
        for algorithm, value in named.items():
            if part.checksums.get(algorithm) != value:
                raise errors.InvalidPart(PartNumber=str(part.number))
        if upload.checksum_type == checksums.COMPOSITE and upload.checksum_algorithm not in named:
            raise errors.InvalidRequest(
                f"The upload was created using a {upload.checksum_algorithm.lower()} checksum. "
                f"The complete request must include the checksum for each part. It was "
                f"missing for part {part.number} in the request.")
    if checks.object_size is not None and checks.object_size != sum(p.size for p in parts):
        raise errors.InvalidRequest(
            f"The provided 'x-amz-mp-object-size' header value {checks.object_size} does not "
            f"match what was computed: {sum(p.size for p in parts)}")
    algorithm, kind = upload.checksum_algorithm, upload.checksum_type
    if checks.checksum_type is not None and checks.checksum_type.upper() != (kind or ""):
        raise errors.InvalidRequest(f"The upload was created using the {kind or 'null'} "
                                    f"checksum mode. The complete request must use the same "
                                    f"checksum mode.")
    for named in checks.object_checksums:
        if named != algorithm:
            raise errors.InvalidRequest(f"The upload was created using the "
                                        f"{algorithm or 'null'} checksum algorithm; the "
                                        f"complete request names {named}.")
    if algorithm is None:
        return {}
    values = [p.checksums.get(algorithm) for p in parts]
    if None in values:
        # A part stored before the gateway computed the upload's algorithm for every part.
        return {}
    if kind == checksums.FULL_OBJECT:
        value = checksums.full_object(algorithm, [(v, p.size) for v, p in zip(values, parts)])
        given = checks.object_checksums.get(algorithm)
        if given is not None and given != value:
            raise errors.BadDigest(f"The {algorithm} you specified did not match the "
                                   f"calculated checksum.")
    else:
        value = checksums.composite(algorithm, values)
        given = checks.object_checksums.get(algorithm)
        if given is not None and given.split("-")[0] != value.split("-")[0]:
            raise errors.BadDigest(f"The {algorithm} you specified did not match the "
                                   f"calculated checksum.")
    return {algorithm: value}
