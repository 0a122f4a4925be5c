"""Training topic models: the shipped IPTC model from the licensed corpora, or a user's own.

The shipped model learns from English Wikinews (CC BY 2.5) and the HuffPost News Category
Dataset (CC BY 4.0) under ``../shared/data``, their labels mapped to IPTC Media Topics below.
BBC and CoNLL files are never read here: their licences allow evaluation only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.events import StageInfo
from pipeline.topics.model import TopicModel, tokenize
from pipeline.topics.taxonomy import Taxonomy, iptc_media_topics

SHIPPED_NAME = "wirestream-iptc-topics"
SHIPPED_VERSION = "2026.11.2"
DEFAULT_SEED = 20261101
DEFAULT_DATA_DIR = Path("../shared/data")
WIKINEWS_TOPICS = Path("wikinews-topics/wikinews_ml4nlp_topics.jsonl")
WIKINEWS_RANDOM = Path("wikinews-full/wikinews_50_random.json")
HUFFPOST = Path("huffpost/news_category_subset.jsonl")
# Short news snippets written for Wirestream (no third-party text), labelled with IPTC codes;
# each weighs ``FitOptions.written_weight`` stories. news-snippets.jsonl (round 1) covers what
# the corpora barely do (consumer and internet technology, labour, society, lifestyle,
# religion); iptc-topics.jsonl (round 2) goes through the subjects IPTC lists under each of
# the 17 topics. See the model card for how each set was written.
WRITTEN_DIR = Path(__file__).parent / "data" / "written"
WRITTEN_SNIPPETS = (WRITTEN_DIR / "news-snippets.jsonl", WRITTEN_DIR / "iptc-topics.jsonl")

# Wikinews topic portals -> IPTC Media Topics. "Local only" names no subject and is dropped.
# Obituaries and Wackynews are stories about people and oddities: IPTC's human interest.
WIKINEWS_TO_IPTC: dict[str, str] = {
    "Politics and conflicts": "medtop:11000000",
    "Crime and law": "medtop:02000000",
    "Disasters and accidents": "medtop:03000000",
    "Economy and business": "medtop:04000000",
    "Sports": "medtop:15000000",
    "Culture and entertainment": "medtop:01000000",
    "Media": "medtop:01000000",
    "Science and technology": "medtop:13000000",
    "Health": "medtop:07000000",
    "Obituaries": "medtop:08000000",
    "Wackynews": "medtop:08000000",
    "Environment": "medtop:06000000",
    "Weather": "medtop:17000000",
    "Education": "medtop:05000000",
    "Women": "medtop:14000000",
}

# HuffPost categories -> IPTC. U.S. NEWS and WORLD NEWS say where, not what, and are dropped.
HUFFPOST_TO_IPTC: dict[str, str] = {
    "POLITICS": "medtop:11000000",
    "ENTERTAINMENT": "medtop:01000000",
    "COMEDY": "medtop:01000000",
    "MEDIA": "medtop:01000000",
    "CULTURE & ARTS": "medtop:01000000",
    "CRIME": "medtop:02000000",
    "BUSINESS": "medtop:04000000",
    "MONEY": "medtop:04000000",
    "EDUCATION": "medtop:05000000",
    "ENVIRONMENT": "medtop:06000000",
    "WELLNESS": "medtop:07000000",
    "WEIRD NEWS": "medtop:08000000",
    "STYLE & BEAUTY": "medtop:10000000",
    "HOME & LIVING": "medtop:10000000",
    "FOOD & DRINK": "medtop:10000000",
    "TRAVEL": "medtop:10000000",
    "WEDDINGS": "medtop:10000000",
    "RELIGION": "medtop:12000000",
    "TECH": "medtop:13000000",
    "SCIENCE": "medtop:13000000",
    "BLACK VOICES": "medtop:14000000",
    "QUEER VOICES": "medtop:14000000",
    "LATINO VOICES": "medtop:14000000",
    "WOMEN": "medtop:14000000",
    "PARENTING": "medtop:14000000",
    "IMPACT": "medtop:14000000",
    "SPORTS": "medtop:15000000",
}


@dataclass(frozen=True, slots=True)
class LexiconRule:
    """Adds a topic no source labels directly (Wikinews folds war into politics, has no labour
    or religion portal) to a story already labelled with one of ``within``, when at least
    ``minimum`` distinct phrases of the lexicon occur in it."""

    code: str
    within: frozenset[str]
    phrases: frozenset[str]
    minimum: int = 2

    def applies(self, words: str, codes: Iterable[str]) -> bool:
        if self.within.isdisjoint(codes):
            return False
        return sum(1 for p in self.phrases if f" {p} " in words) >= self.minimum


def _lexicon(phrases: str) -> frozenset[str]:
    return frozenset(p.strip() for p in phrases.split(","))


LEXICON_RULES: tuple[LexiconRule, ...] = (
    LexiconRule(
        "medtop:16000000",
        frozenset({"medtop:11000000", "medtop:02000000"}),
        _lexicon(
            "war, wars, warfare, military, militants, militant, troops, soldiers, soldier, army, "
            "armed, ceasefire, truce, insurgents, insurgency, insurgent, rebels, rebel, airstrike, "
            "airstrikes, air strike, bombing, bombings, suicide bomber, shelling, hostilities, "
            "peacekeepers, peacekeeping, invasion, combat, guerrilla, guerrillas, taliban, "
            "terrorist, terrorists, terrorism, coup, missile, missiles, artillery, clashes, "
            "peace talks, peace process, peace deal"
        ),
    ),
    LexiconRule(
        "medtop:09000000",
        frozenset({"medtop:04000000", "medtop:11000000"}),
        _lexicon(
            "strike, strikes, strikers, unemployment, unemployed, jobless, layoffs, laid off, "
            "redundancies, wages, minimum wage, workers, employees, walkout, pensions, "
            "trade union, trade unions, labor union, labour union, industrial action, "
            "collective bargaining"
        ),
    ),
    LexiconRule(
        "medtop:12000000",
        frozenset(WIKINEWS_TO_IPTC.values()),
        _lexicon(
            "church, churches, catholic, pope, vatican, bishop, archbishop, priest, priests, "
            "mosque, muslim, muslims, christian, christians, christianity, religious, religion, "
            "jewish, judaism, synagogue, hindu, buddhist, clergy"
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text; ``key`` identifies it for the held-out split."""

    title: str
    text: str
    codes: tuple[str, ...]
    source: str
    key: str
    weight: float = 1.0


# Below this many texts (a user's first few examples) every word is kept as a feature and the
# scores are the logistic heads' own, uncalibrated.
SMALL_CORPUS = 200


@dataclass(frozen=True, slots=True)
class FitOptions:
    min_df: int = 2
    max_df: float = 0.5
    logistic_c: float = 4.0
    bayes_alpha: float = 0.1
    title_repeat: int = 2
    folds: int = 5
    written_weight: float = 3.0
    # Each story's weight is multiplied by (mean topic frequency / its topics' frequency) to
    # this power: the sources' mix of topics (a third politics) says nothing of a user's stream.
    topic_balance: float = 0.5
    # Naive Bayes margin per unit of logistic margin in the calibrated score; None fits it.
    # Naive Bayes ranks the primary topic of a long story better, logistic regression says
    # better which other topics apply (see the model card's ablation).
    bayes_share: float | None = 4.0


@dataclass(slots=True)
class Corpus:
    train: list[Example]
    held_out: list[Example]
    counts: dict[str, Any] = field(default_factory=dict)


class TrainingDataError(ValueError):
    """Training input that cannot train a model (missing file, bad record, too few labels)."""


def is_held_out(key: str) -> bool:
    """A fixed tenth of the Wikinews stories, chosen by a hash of their URL, is never trained on."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 10 == 0


def _words(title: str, text: str) -> str:
    return " " + " ".join(tokenize(f"{title}\n{text}")) + " "


def with_lexicon_labels(title: str, text: str, codes: Iterable[str]) -> tuple[str, ...]:
    found = set(codes)
    words = _words(title, text)
    for rule in LEXICON_RULES:
        if rule.code not in found and rule.applies(words, found):
            found.add(rule.code)
    return tuple(sorted(found))


def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise TrainingDataError(f"cannot read {path}: {exc}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise TrainingDataError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(record, dict):
                raise TrainingDataError(f"{path}:{number}: not a JSON object")
            yield record


def wikinews_topic_examples(path: Path) -> list[Example]:
    examples = []
    for record in read_jsonl(path):
        codes = {
            WIKINEWS_TO_IPTC[p]
            for p in record.get("topical_categories") or ()
            if p in WIKINEWS_TO_IPTC
        }
        if not codes:
            continue
        title, text = record["title"], " ".join(record["text_sentences"])
        examples.append(
            Example(title, text, with_lexicon_labels(title, text, codes), "wikinews", record["uri"])
        )
    return examples


_CATEGORY = re.compile(r"Category:\s*([^\n]+?)(?=\s*Category:|\s*$|\s+[a-z]{2}:)")


def wikinews_random_examples(path: Path) -> list[Example]:
    """Full Wikinews articles whose trailing ``Category:`` tags name a topic portal."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingDataError(f"cannot read {path}: {exc}") from exc
    examples = []
    for record in records:
        content: str = record["content"]
        start = content.find("Category:")
        categories = _CATEGORY.findall(content[start:]) if start >= 0 else []
        codes = {WIKINEWS_TO_IPTC[c.strip()] for c in categories if c.strip() in WIKINEWS_TO_IPTC}
        if not codes:
            continue
        title, text = record["bestTitle"], content[:start].strip()
        examples.append(
            Example(title, text, with_lexicon_labels(title, text, codes), "wikinews-full", title)
        )
    return examples


def huffpost_examples(path: Path) -> list[Example]:
    examples = []
    for record in read_jsonl(path):
        code = HUFFPOST_TO_IPTC.get(record.get("category", ""))
        if code is None:
            continue
        examples.append(
            Example(
                record["headline"], record["short_description"], (code,), "huffpost", record["link"]
            )
        )
    return examples


def shipped_corpus(data_dir: Path, written_weight: float = FitOptions().written_weight) -> Corpus:
    """The shipped model's training set and its Wikinews held-out split."""
    wikinews = wikinews_topic_examples(data_dir / WIKINEWS_TOPICS)
    held_out = [e for e in wikinews if is_held_out(e.key)]
    train = [e for e in wikinews if not is_held_out(e.key)]
    train += wikinews_random_examples(data_dir / WIKINEWS_RANDOM)
    train += huffpost_examples(data_dir / HUFFPOST)
    if written_weight > 0:
        train += [
            dataclasses.replace(e, source="written", weight=written_weight)
            for path in WRITTEN_SNIPPETS
            for e in read_labelled_jsonl(path)
        ]
    counts: dict[str, Any] = {"train": len(train), "held_out": len(held_out)}
    for source in sorted({e.source for e in train}):
        counts[f"train_{source}"] = sum(1 for e in train if e.source == source)
    return Corpus(train=train, held_out=held_out, counts=counts)


def read_labelled_jsonl(path: Path) -> list[Example]:
    """A user's labelled JSONL: ``text`` (or ``body``), optional ``title``, and ``labels`` (a
    list of codes) or ``label`` (one code)."""
    examples = []
    for number, record in enumerate(read_jsonl(path), 1):
        text = record.get("text") or record.get("body")
        labels = record.get("labels", [record["label"]] if "label" in record else None)
        if not isinstance(text, str) or not text.strip():
            raise TrainingDataError(f"{path} record {number}: no text")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(c, str) for c in labels)
        ):
            raise TrainingDataError(f"{path} record {number}: no labels")
        examples.append(
            Example(
                str(record.get("title") or ""),
                text,
                tuple(sorted(set(labels))),
                path.name,
                str(number),
            )
        )
    return examples


def training_text(example: Example, title_repeat: int) -> str:
    """Titles are repeated: a headline says more about topic than any sentence of the body."""
    return (
        "\n".join([example.title] * title_repeat + [example.text])
        if example.title
        else example.text
    )


@dataclass(slots=True)
class _Heads:
    vectorizer: TfidfVectorizer
    logistic_weights: np.ndarray
    logistic_bias: np.ndarray
    bayes_weights: np.ndarray

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        features = self.vectorizer.transform(texts)
        logistic = features @ self.logistic_weights + self.logistic_bias
        bayes = features @ self.bayes_weights
        bayes -= _logsumexp_rows(bayes)[:, None]
        return logistic, bayes


def _logsumexp_rows(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=1)
    return top + np.log(np.exp(x - top[:, None]).sum(axis=1))


def _prior_logit(positives: float, total: int) -> float:
    rate = (positives + 0.5) / (total + 1.0)
    return float(np.log(rate / (1.0 - rate)))


def _fit_heads(
    texts: Sequence[str],
    targets: np.ndarray,
    sample_weight: np.ndarray,
    options: FitOptions,
    seed: int,
) -> _Heads:
    # scikit-learn is imported where training happens: it costs a second at every start of
    # `wirestream`, and workers only predict.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB

    vectorizer = TfidfVectorizer(
        analyzer=tokenize,
        sublinear_tf=True,
        min_df=options.min_df if len(texts) >= SMALL_CORPUS else 1,
        max_df=options.max_df if len(texts) >= SMALL_CORPUS else 1.0,
        dtype=np.float32,
    )
    features = vectorizer.fit_transform(texts)
    terms, topics = features.shape[1], targets.shape[1]
    logistic_weights = np.zeros((terms, topics), dtype=np.float32)
    logistic_bias = np.zeros(topics, dtype=np.float32)
    for k in range(topics):
        column = targets[:, k]
        if 0 < column.sum() < len(column):
            classifier = LogisticRegression(
                C=options.logistic_c, solver="liblinear", random_state=seed
            ).fit(features, column, sample_weight=sample_weight)
            logistic_weights[:, k] = classifier.coef_[0]
            logistic_bias[k] = classifier.intercept_[0]
        else:
            logistic_bias[k] = _prior_logit(column.sum(), len(column))
    # Naive Bayes is single-label: a story with k topics counts 1/k towards each of them.
    rows, ks = np.nonzero(targets)
    weights = sample_weight[rows] / targets.sum(axis=1)[rows]
    present = np.unique(ks)
    bayes = ComplementNB(alpha=options.bayes_alpha).fit(features[rows], ks, sample_weight=weights)
    bayes_weights = np.full((terms, topics), float(bayes.feature_log_prob_.min()), dtype=np.float32)
    bayes_weights[:, present] = bayes.feature_log_prob_.T if len(present) > 1 else 0.0
    return _Heads(vectorizer, logistic_weights, logistic_bias, bayes_weights)


def topic_balance_weights(targets: np.ndarray, weights: np.ndarray, power: float) -> np.ndarray:
    """Story weights times (mean topic frequency / frequency of the story's topics) ** power,
    averaged over its topics, so that frequent topics do not win every close call."""
    if power == 0:
        return weights
    frequency = (targets * weights[:, None]).sum(axis=0)
    present = frequency > 0
    factor = np.ones_like(frequency)
    factor[present] = (frequency[present].mean() / frequency[present]) ** power
    return weights * (targets * factor).sum(axis=1) / np.maximum(targets.sum(axis=1), 1)


def _fit_calibration(
    logistic: np.ndarray, bayes: np.ndarray, targets: np.ndarray, bayes_share: float | None
) -> np.ndarray:
    """One logistic regression from the two heads' held-out scores to the labels of all topics:
    shared slopes keep scores comparable across topics (the best is the primary topic), and a
    per-topic intercept carries each topic's base rate. With ``bayes_share`` the two heads enter
    as ``logistic + bayes_share * bayes`` under one fitted slope. Rows of the result: a, b, c."""
    from sklearn.linear_model import LogisticRegression

    rows, topics = targets.shape
    inputs = [logistic, bayes] if bayes_share is None else [logistic + bayes_share * bayes]
    design = np.zeros((rows * topics, len(inputs) + topics))
    for column, scores in enumerate(inputs):
        design[:, column] = scores.ravel()
    design[np.arange(rows * topics), len(inputs) + np.tile(np.arange(topics), rows)] = 1.0
    model = LogisticRegression(C=100.0, fit_intercept=False, max_iter=1000).fit(
        design, targets.ravel()
    )
    fitted, intercepts = model.coef_[0][: len(inputs)], model.coef_[0][len(inputs) :]
    slopes = fitted if bayes_share is None else np.array([fitted[0], fitted[0] * bayes_share])
    return np.column_stack([np.tile(slopes, (topics, 1)), intercepts])


def _out_of_fold_calibration(
    examples: Sequence[Example],
    texts: Sequence[str],
    targets: np.ndarray,
    weights: np.ndarray,
    options: FitOptions,
    seed: int,
) -> np.ndarray:
    """The calibration fitted on each story's scores from heads that never saw it."""
    from sklearn.model_selection import KFold

    folds = KFold(n_splits=options.folds, shuffle=True, random_state=seed)
    logistic = np.zeros(targets.shape)
    bayes = np.zeros(targets.shape)
    for fit_rows, score_rows in folds.split(texts):
        heads = _fit_heads(
            [texts[i] for i in fit_rows], targets[fit_rows], weights[fit_rows], options, seed
        )
        logistic[score_rows], bayes[score_rows] = heads.scores(
            [_untitled(examples[i]) for i in score_rows]
        )
    return _fit_calibration(logistic, bayes, targets, options.bayes_share)


def fit_topic_model(
    examples: Sequence[Example],
    taxonomy: Taxonomy,
    *,
    name: str,
    version: str,
    seed: int = DEFAULT_SEED,
    options: FitOptions = FitOptions(),
    provenance: dict[str, Any] | None = None,
) -> TopicModel:
    """Fit both heads on every example and, from ``SMALL_CORPUS`` texts up, the calibration on
    out-of-fold scores."""
    index = {code: k for k, code in enumerate(taxonomy.codes)}
    unknown = sorted({c for e in examples for c in e.codes} - index.keys())
    if unknown:
        raise TrainingDataError(f"labels not in the taxonomy: {', '.join(unknown)}")
    if len(examples) < 4:
        raise TrainingDataError("training needs at least 4 labelled texts")
    texts = [training_text(e, options.title_repeat) for e in examples]
    targets = np.zeros((len(examples), len(index)), dtype=np.int8)
    for row, example in enumerate(examples):
        targets[row, [index[c] for c in example.codes]] = 1
    weights = topic_balance_weights(
        targets, np.array([e.weight for e in examples]), options.topic_balance
    )

    if len(examples) < SMALL_CORPUS:
        # Folds of a few stories calibrate nothing (their slopes can even come out negative):
        # a small model's scores are its logistic heads' own probabilities.
        calibration = np.zeros((len(index), 3))
        calibration[:, 0] = 1.0
    else:
        calibration = _out_of_fold_calibration(examples, texts, targets, weights, options, seed)

    heads = _fit_heads(texts, targets, weights, options, seed)
    vocabulary = {term: int(i) for term, i in heads.vectorizer.vocabulary_.items()}
    return TopicModel(
        info=StageInfo(model=name, model_version=version),
        taxonomy=taxonomy,
        vocabulary=vocabulary,
        idf=heads.vectorizer.idf_.astype(np.float32),
        logistic_weights=heads.logistic_weights,
        logistic_bias=heads.logistic_bias,
        bayes_weights=heads.bayes_weights,
        calibration=calibration,
        provenance={
            "trained": dt.date.today().isoformat(),
            "seed": seed,
            "options": dataclasses.asdict(options),
            **(provenance or {}),
        },
    )


def _untitled(example: Example) -> str:
    """What the classify stage passes at run time: the title once, then the text."""
    return f"{example.title}\n\n{example.text}" if example.title else example.text


def train_shipped_model(
    data_dir: Path = DEFAULT_DATA_DIR, seed: int = DEFAULT_SEED, options: FitOptions = FitOptions()
) -> tuple[TopicModel, Corpus]:
    """The shipped model from Wikinews and HuffPost, mapped to IPTC; held-out split excluded."""
    corpus = shipped_corpus(data_dir, options.written_weight)
    model = fit_topic_model(
        corpus.train,
        iptc_media_topics(),
        name=SHIPPED_NAME,
        version=SHIPPED_VERSION,
        seed=seed,
        options=options,
        provenance={
            "data": {
                "wikinews-topics": f"{WIKINEWS_TOPICS} (CC BY 2.5, en.wikinews.org)",
                "wikinews-full": f"{WIKINEWS_RANDOM} (CC BY 2.5, en.wikinews.org)",
                "huffpost": f"{HUFFPOST} (CC BY 4.0, Misra 2022)",
                "written": [
                    f"pipeline/topics/data/written/{p.name} (Wirestream)" for p in WRITTEN_SNIPPETS
                ],
            },
            "examples": corpus.counts,
        },
    )
    return model, corpus


def train_custom_model(
    examples: Sequence[Example],
    taxonomy: Taxonomy | None,
    *,
    name: str,
    version: str,
    seed: int = DEFAULT_SEED,
) -> TopicModel:
    """A model for a user's own labels; without a taxonomy the labels are their own names."""
    if taxonomy is None:
        taxonomy = Taxonomy.from_codes(sorted({c for e in examples for c in e.codes}), name=name)
    return fit_topic_model(examples, taxonomy, name=name, version=version, seed=seed)
