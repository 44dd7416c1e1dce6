"""The prompt library: the prompts of approved assets, grouped by model and generator,
each with its best-rated results (``GET /api/v1/prompts``).

A *prompt* is one (model, generator, prompt, negative prompt) as the records name them:
every approved current version written with it is one of its results. Results are
ordered by review rating (``xmp:Rating``, 5 best, -1 rejected; unrated counts as 0, as
in XMP), ties by the newest commit; a prompt shows its :data:`BEST` first results, and its seed and parameters are
those of its best result (the settings worth copying). Prompts are ordered by model,
then generator (case-insensitive; none last), then by their best result. The library is
found through the catalog's search indexes (the ``approved`` review term, and the prompt
words of ``q`` as search splits them), so it reads only approved versions, and each
search's result is kept until the catalog changes (:class:`PromptLibrary`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from gateway.catalog import search as searching
from gateway.catalog.index import normalise

# Results shown per prompt.
BEST = 4
DEFAULT_LIMIT = 50

# Record generation settings shown as a prompt's parameters (beside the tool's own,
# ``generation.extra``); the raw metadata stays in the record.
_SETTINGS = ("steps", "sampler", "cfg_scale", "model_version")
_GENERATION = ("width", "height", "scheduler", "denoise", "model_hash")


def rating_of(entry: dict) -> int | None:
    review = entry.get("review") or {}
    rating = review.get("rating", (entry.get("record") or {}).get("rating"))
    return rating if isinstance(rating, int) and not isinstance(rating, bool) else None


def parameters(record: dict) -> dict:
    """What to set in the generator besides prompt and seed to make this again."""
    out = {name: record[name] for name in _SETTINGS if record.get(name) is not None}
    generation = record.get("generation") or {}
    out.update({name: generation[name] for name in _GENERATION
                if generation.get(name) is not None})
    for name, value in (generation.get("extra") or {}).items():
        out.setdefault(name, value)
    return out


@dataclass
class _Prompt:
    model: str | None
    generator: str | None
    prompt: str
    negative_prompt: str | None
    best: list[tuple] = field(default_factory=list)   # (rank, hit), best first, <= BEST
    seed: int | None = None                             # of the best result
    parameters: dict = field(default_factory=dict)

    def add(self, rank: tuple, hit: dict, record: dict) -> None:
        if not self.best or rank < self.best[0][0]:
            self.seed, self.parameters = record.get("seed"), parameters(record)
        self.best.append((rank, hit))
        self.best.sort(key=lambda item: item[0])
        del self.best[BEST:]

    def to_json(self) -> dict:
        return {"prompt": self.prompt, "negative_prompt": self.negative_prompt,
                "parameters": self.parameters, "seed": self.seed,
                "best": [hit for _, hit in self.best]}


def _rank(rating: int | None, committed: float) -> tuple:
    return (-(rating if rating is not None else 0), -committed)


def _group_order(value: str | None) -> tuple:
    return (value is None, normalise(value) if value is not None else "")


def collect(catalog, query: searching.Query, buckets=None) -> list[_Prompt]:
    """Every prompt of the approved versions ``query`` finds, in library order."""
    prompts: dict[tuple, _Prompt] = {}
    for indexed, entry in catalog.matching_versions(query, buckets=buckets):
        record = entry.get("record") or {}
        text = record.get("prompt")
        if not text:
            continue
        negative = record.get("negative_prompt")
        model_name, tool = record.get("model"), record.get("generator")
        identity = (normalise(model_name or ""), normalise(tool or ""), text, negative or "")
        found = prompts.get(identity)
        if found is None:
            found = prompts[identity] = _Prompt(model_name, tool, text, negative)
        rating = rating_of(entry)
        found.add(_rank(rating, entry["committed"]),
                  {"bucket": indexed["bucket"], "key": indexed["key"],
                   "version_id": indexed["version_id"], "rating": rating}, record)
    return sorted(prompts.values(), key=lambda p: (
        _group_order(p.model), _group_order(p.generator), p.best[0][0], p.prompt))


def page(ordered: list[_Prompt], limit: int, offset: int) -> dict:
    """The API answer for prompts ``offset`` to ``offset + limit`` of ``ordered``."""
    groups: list[dict] = []
    last = None
    for item in ordered[offset:offset + limit]:
        where = (normalise(item.model or ""), normalise(item.generator or ""))
        if not groups or where != last:
            groups.append({"model": item.model, "generator": item.generator, "prompts": []})
            last = where
        groups[-1]["prompts"].append(item.to_json())
    return {"groups": groups, "total": len(ordered)}


class PromptLibrary:
    """The library over one catalog, each search's prompts kept until the catalog changes
    (paging through a result, or many people opening the library, reads the catalog once).

    ``catalog``       the :class:`gateway.catalog.Catalog`
    ``skip_buckets``  never listed (the quarantine bucket)
    ``keep``          searches kept (the most recently used)
    """

    def __init__(self, catalog, skip_buckets: tuple[str, ...] = (), keep: int = 32) -> None:
        self.catalog = catalog
        self.skip_buckets = tuple(b for b in skip_buckets if b)
        self.keep = keep
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple, tuple[int, list[_Prompt]]] = OrderedDict()

    def page(self, *, q: str | None = None, model: str | None = None,
             generator: str | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0,
             buckets=None) -> dict:
        """``{"groups": [{"model", "generator", "prompts": [...]}], "total"}``: the page
        of prompts from ``offset`` (at most ``limit``), ``total`` of them in all.

        ``q``: words every prompt holds (as search matches them); ``model``,
        ``generator``: exact, case-insensitive; ``buckets``: the caller's scope (None:
        all). Blocking (reads the catalog). InvalidArgument for a bad value.
        """
        query = searching.build_query(prompt=q, model=model, generator=generator,
                                      review="approved", skip_buckets=self.skip_buckets)
        scope = None if buckets is None else tuple(sorted(set(buckets)))
        which = (query, scope)
        generation = self.catalog.env.generation()
        with self._lock:
            kept = self._kept.get(which)
            if kept is not None and kept[0] == generation:
                self._kept.move_to_end(which)
                return page(kept[1], limit, offset)
        ordered = collect(self.catalog, query, buckets)
        with self._lock:
            self._kept[which] = (generation, ordered)
            self._kept.move_to_end(which)
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return page(ordered, limit, offset)


def parse_offset(value) -> int:
    if value is None:
        return 0
    text = str(value).strip()
    if not text.isdigit() or len(text) > 9:
        raise searching.invalid("offset", "must be a whole number, 0 or more")
    return int(text)
