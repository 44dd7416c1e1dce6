"""Controlled vocabularies the record uses, and their normalisation.

Three vocabularies carry legal meaning in a provenance record, so their values are always
stored in one canonical spelling (the full URI the standard defines), whatever form a
writer or a file used:

- IPTC Digital Source Type (``source_type``): how the content was made. Canonical form
  ``http://cv.iptc.org/newscodes/digitalsourcetype/<term>``. Accepted input: the bare term
  (any letter case), the full URI, the ``https://`` form (Midjourney writes it; IPTC's
  identifiers are ``http://``), a trailing slash, or the ``digsrctype:`` QCode.
- PLUS Data Mining (``data_mining``): whether the content may be used for data mining /
  AI training. Canonical form ``http://ns.useplus.org/ldf/vocab/DMI-<VALUE>``. Accepted
  input: the code with or without the ``DMI-`` prefix, any letter case, or the full URI.
- PLUS Model Release Status (part of ``model_release``): ``MR-NON``, ``MR-NAP``,
  ``MR-UMR``, ``MR-LMR``, stored as ``http://ns.useplus.org/ldf/vocab/MR-...``. A
  ``model_release`` value that is not one of these is a model release *ID*.
"""

from __future__ import annotations

IPTC_DST_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
PLUS_VOCAB_BASE = "http://ns.useplus.org/ldf/vocab/"

# IPTC Digital Source Type NewsCodes, current and retired (retired terms still occur in
# existing files and remain valid identifiers).
DIGITAL_SOURCE_TYPES = (
    "digitalCapture",                       # captured from real life by a digital device
    "computationalCapture",                 # captured with computational processing (phone HDR)
    "negativeFilm", "positiveFilm", "print",  # digitised from a physical medium
    "humanEdits",                           # human-edited
    "minorHumanEdits",                      # minor human edits (crop, levels)
    "compositeCapture",                     # composite of captures
    "algorithmicallyEnhanced",              # enhanced by an algorithm (AI upscaling, denoise)
    "dataDrivenMedia",                      # made from data by an algorithm (charts)
    "digitalCreation",                      # made by a human with digital tools
    "digitalArt",                           # retired name of digitalCreation
    "virtualRecording",                     # recorded inside a virtual environment
    "screenCapture",                        # a screenshot or screen recording
    "compositeSynthetic",                   # composite including synthetic elements
    "composite",                            # composite of mixed sources
    "trainedAlgorithmicMedia",              # made by a trained (generative AI) model
    "compositeWithTrainedAlgorithmicMedia",  # composite including generative-AI parts
    "algorithmicMedia",                     # made by a non-trained algorithm
    "softwareImage",                        # retired: created by software
)
_DST_BY_LOWER = {term.lower(): term for term in DIGITAL_SOURCE_TYPES}

TRAINED_ALGORITHMIC_MEDIA = IPTC_DST_BASE + "trainedAlgorithmicMedia"

# PLUS DataMining vocabulary (PLUS LDF 1.2.1, IPTC Photo Metadata 2023.1).
DATA_MINING_VALUES = (
    "DMI-UNSPECIFIED",                          # no prohibition defined
    "DMI-ALLOWED",                              # allowed
    "DMI-PROHIBITED-AIMLTRAINING",              # prohibited for AI/ML training
    "DMI-PROHIBITED-GENAIMLTRAINING",           # prohibited for generative AI/ML training
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",  # prohibited except search engine indexing
    "DMI-PROHIBITED",                           # prohibited
    "DMI-PROHIBITED-SEECONSTRAINT",             # prohibited, see plus:OtherConstraints
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR",     # prohibited, see embedded rights expression
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR",       # prohibited, see linked rights expression
)

# PLUS ModelReleaseStatus vocabulary.
MODEL_RELEASE_STATUSES = (
    "MR-NON",   # none
    "MR-NAP",   # not applicable (no people, or a generated image of no real person)
    "MR-UMR",   # unlimited model releases
    "MR-LMR",   # limited or incomplete model releases
)


def normalize_source_type(value: str) -> str:
    """Return the canonical IPTC URI for a Digital Source Type; ValueError if unknown."""
    text = value.strip()
    lowered = text.lower()
    for prefix in ("http://cv.iptc.org/newscodes/digitalsourcetype/",
                   "https://cv.iptc.org/newscodes/digitalsourcetype/",
                   "digsrctype:"):
        if lowered.startswith(prefix):
            text = text[len(prefix):]
            break
    term = _DST_BY_LOWER.get(text.strip("/").lower())
    if term is None:
        raise ValueError(f"{value!r} is not an IPTC Digital Source Type "
                         f"(expected e.g. trainedAlgorithmicMedia or {TRAINED_ALGORITHMIC_MEDIA})")
    return IPTC_DST_BASE + term


def source_type_term(uri: str) -> str:
    """The bare term of a canonical Digital Source Type URI (for messages and policies)."""
    return uri[len(IPTC_DST_BASE):] if uri.startswith(IPTC_DST_BASE) else uri


def _plus_code(value: str) -> str:
    text = value.strip()
    lowered = text.lower()
    for prefix in ("http://ns.useplus.org/ldf/vocab/", "https://ns.useplus.org/ldf/vocab/"):
        if lowered.startswith(prefix):
            return text[len(prefix):].upper()
    return text.upper()


def normalize_data_mining(value: str) -> str:
    """Return the canonical PLUS DataMining URI; ValueError if not in the vocabulary."""
    code = _plus_code(value).replace("_", "-")
    if not code.startswith("DMI-"):
        code = "DMI-" + code
    if code not in DATA_MINING_VALUES:
        raise ValueError(f"{value!r} is not a PLUS DataMining value "
                         f"(expected one of {', '.join(DATA_MINING_VALUES)})")
    return PLUS_VOCAB_BASE + code


def model_release_status(value: str) -> str | None:
    """The canonical PLUS ModelReleaseStatus URI if ``value`` is a status, else None (an ID)."""
    code = _plus_code(value)
    return PLUS_VOCAB_BASE + code if code in MODEL_RELEASE_STATUSES else None
