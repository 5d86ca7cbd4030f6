"""First and last names of 105 countries, from the `names-dataset` package, kept compact.

The package ships two pickles (730 K first names, 980 K last names, each with its rank in
up to ten countries); loading them whole takes ~2 GB and 15-20 s. Scrub needs only "is this
word a first (or last) name somewhere, and is it a common one": the names ranked in the top
MAX_RANK of some country, the first names split at FIRST_RANK. So the first use derives
that once, in a child process (its memory is returned when it exits), into a
small file in the user's cache folder (`$SLIMLINE_NAMES_CACHE`, else
`$XDG_CACHE_HOME/slimline`, else `~/.cache/slimline`), keyed by the package's version;
every later load reads that file (well under a second). A lock keeps parallel analysis
processes from deriving it twice.

Without the package, `load()` returns empty tables and scrub falls back on Faker's lists.

`python -m slimline.tasks.scrub.namedata OUT` derives the file (what the first use runs).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import subprocess
import sys
import time
from functools import cache
from importlib import metadata
from pathlib import Path

DERIVE_VERSION = "2"
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
    return cache_dir() / f"names-dataset-{version}-r{MAX_RANK}-v{DERIVE_VERSION}.tsv.gz"


@cache
def load() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(first names ranked in the top FIRST_RANK of some country, the other first names,
    last names), lower case; empty without the package."""
    version = package_version()
    if version is None:
        _LOG.warning("names-dataset is not installed: names are judged by Faker's lists only")
        return frozenset(), frozenset(), frozenset()
    path = cache_file(version)
    if not path.is_file():
        _derive_once(path)
    return _read(path)


def _derive_once(path: Path) -> None:
    """Derive `path` in a child process, unless another process does it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_suffix(".lock")
    with lock.open("w") as handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover (not POSIX): a rare double derivation
            pass
        if path.is_file():
            return
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


def _read(path: Path) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        parts = f.read().split("\n#")
    found = {}
    for part in parts:
        head, _, body = part.lstrip("#").partition("\n")
        found[head] = frozenset(body.split("\n")) - {""}
    return found["first-top"], found["first-rest"], found["last"]


def best_ranks(table: dict[str, dict]) -> Ranks:
    """One of the package's tables as {lower-case single-word name: best rank}."""
    out: Ranks = {}
    for name, info in table.items():
        ranks = [r for r in (info.get("rank") or {}).values() if r is not None]
        if not ranks or " " in name or not _NAME.fullmatch(name):
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
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as f:
        for kind in ("first", "last"):
            with gzip.open(folder / f"{kind}_names.pkl.gz") as src:
                ranks = best_ranks(pickle.load(src))
            if kind == "first":
                top = sorted(n for n, r in ranks.items() if r <= FIRST_RANK)
                rest = sorted(n for n, r in ranks.items() if r > FIRST_RANK)
                f.write("#first-top\n" + "\n".join(top) + "\n#first-rest\n" + "\n".join(rest))
            else:
                f.write("\n#last\n" + "\n".join(sorted(ranks)) + "\n")
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
