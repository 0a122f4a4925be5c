"""Entity-level precision, recall and F1 on the CoNLL-2003 development set, per label, for
Wirestream's NER stage and for raw spaCy (the same model, no Wirestream code) in one run.

Documents are fed as the stage sees them: each `-DOCSTART-` document's tokens rebuilt into text
(tokens joined by spaces, sentences as paragraphs). spaCy labels map onto CoNLL's four:
PERSON->PER, ORG->ORG, GPE/LOC/FAC->LOC, NORP/EVENT/PRODUCT/WORK_OF_ART/LAW/LANGUAGE->MISC;
numeric types are dropped. The stage's title mentions (`the Secretary of State`) are
references, not names, so they are not scored.

    python bench/ner_conll.py [--data PATH] [--model en_core_web_sm] [--limit N]
"""

from __future__ import annotations

import argparse
import bisect
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import SHARED_DATA, article_message

from pipeline.events import Article
from pipeline.settings import Settings
from pipeline.stages.ner import build_ner_stage, load_nlp

LABEL_MAP = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
}
LABELS = ("PER", "ORG", "LOC", "MISC")
TokenSpan = tuple[int, int, str]  # first token, end token (exclusive), CoNLL label


@dataclass
class Document:
    text: str
    token_starts: list[int]
    token_ends: list[int]
    gold: set[TokenSpan]

    def to_tokens(self, start: int, end: int) -> tuple[int, int]:
        """Character span -> the tokens it covers."""
        first = bisect.bisect_right(self.token_starts, start) - 1
        last = bisect.bisect_left(self.token_ends, end)
        return max(first, 0), min(last, len(self.token_starts) - 1) + 1


def gold_spans(tags: Sequence[str]) -> set[TokenSpan]:
    """Entity spans from IOB1/IOB2 tags."""
    spans, start, label = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        if start is not None and (tag == "O" or prefix == "B" or kind != label):
            spans.add((start, i, label))
            start = label = None
        if tag != "O" and start is None:
            start, label = i, kind
    return spans


def read_conll(path: Path) -> list[Document]:
    documents: list[list[list[tuple[str, str]]]] = []
    sentence: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.split()
        if not columns:
            if sentence and documents:
                documents[-1].append(sentence)
            sentence = []
        elif columns[0] == "-DOCSTART-":
            documents.append([])
        else:
            sentence.append((columns[0], columns[-1]))
    if sentence and documents:
        documents[-1].append(sentence)
    return [_build(sentences) for sentences in documents if sentences]


def _build(sentences: list[list[tuple[str, str]]]) -> Document:
    parts, starts, ends, tags = [], [], [], []
    position = 0
    for s, sentence in enumerate(sentences):
        if s:
            parts.append("\n\n")
            position += 2
        for t, (token, tag) in enumerate(sentence):
            if t:
                parts.append(" ")
                position += 1
            starts.append(position)
            parts.append(token)
            position += len(token)
            ends.append(position)
            tags.append(tag)
    return Document("".join(parts), starts, ends, gold_spans(tags))


def to_token_spans(document: Document, spans: Iterable[tuple[int, int, str]]) -> set[TokenSpan]:
    out = set()
    for start, end, label in spans:
        mapped = LABEL_MAP.get(label)
        if mapped:
            out.add((*document.to_tokens(start, end), mapped))
    return out


def score(documents: Sequence[Document], predicted: Sequence[set[TokenSpan]]) -> dict[str, tuple]:
    tp, fp, fn = Counter(), Counter(), Counter()
    for document, found in zip(documents, predicted, strict=True):
        for span in found:
            (tp if span in document.gold else fp)[span[2]] += 1
        for span in document.gold - found:
            fn[span[2]] += 1
    rows = {}
    for label in (*LABELS, "all"):
        t = sum(tp.values()) if label == "all" else tp[label]
        p_all = t + (sum(fp.values()) if label == "all" else fp[label])
        g_all = t + (sum(fn.values()) if label == "all" else fn[label])
        precision = t / p_all if p_all else 0.0
        recall = t / g_all if g_all else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[label] = (precision, recall, f1, g_all)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "conll2003" / "valid.txt")
    parser.add_argument("--model", default="en_core_web_sm")
    parser.add_argument("--limit", type=int, default=0, help="only the first N documents")
    args = parser.parse_args()

    documents = read_conll(args.data)
    if args.limit:
        documents = documents[: args.limit]
    texts = [d.text for d in documents]
    print(
        f"CoNLL-2003 dev: {len(documents)} documents, {sum(len(d.gold) for d in documents)} "
        f"gold entities; model {args.model}"
    )

    raw_nlp = load_nlp(args.model, repair_labels=False)
    started = time.perf_counter()
    with raw_nlp.memory_zone():
        raw = [
            to_token_spans(d, ((e.start_char, e.end_char, e.label_) for e in doc.ents))
            for d, doc in zip(documents, raw_nlp.pipe(texts, batch_size=32), strict=True)
        ]
    raw_seconds = time.perf_counter() - started

    stage = build_ner_stage(Settings.load({"spacy_model": args.model}, env={}))
    started = time.perf_counter()
    results = stage.process([article_message(t, article_id=str(i)) for i, t in enumerate(texts)])
    stage_seconds = time.perf_counter() - started
    ours = []
    for document, article in zip(documents, results, strict=True):
        assert isinstance(article, Article), article
        ours.append(
            to_token_spans(
                document,
                (
                    (m.start, m.end, e.label)
                    for e in article.entities or []
                    for m in e.mentions
                    if m.kind == "name"
                ),
            )
        )

    raw_rows, our_rows = score(documents, raw), score(documents, ours)
    print(
        f"{'label':6} {'gold':>6} | {'raw spaCy P':>11} {'R':>6} {'F1':>6} | "
        f"{'Wirestream P':>12} {'R':>6} {'F1':>6} | {'dF1':>6}"
    )
    for label in (*LABELS, "all"):
        rp, rr, rf, gold = raw_rows[label]
        op, orr, of, _ = our_rows[label]
        print(
            f"{label:6} {gold:6d} | {rp:11.3f} {rr:6.3f} {rf:6.3f} | "
            f"{op:12.3f} {orr:6.3f} {of:6.3f} | {of - rf:+6.3f}"
        )
    print(f"time: raw spaCy {raw_seconds:.1f}s, Wirestream stage {stage_seconds:.1f}s")


if __name__ == "__main__":
    main()
