"""``DATASET@VERSION`` as the commands take it, and the names a near miss most likely meant.

Every command names a dataset version ``DATASET@VERSION`` (``service.actions.split_ref``). ``dataset version``
used to take ``DATASET --version VERSION``; that form still works for one release, with a note on stderr.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable

from lineage.errors import InvalidInput, NotFound
from service.cli.common import err

__all__ = ["closest", "new_version_ref", "parent_version", "split_version_ref", "with_suggestion"]

# The record's words for a dataset or a version it does not have (``lineage.datasets.catalog``).
_NO_DATASET = re.compile(r"no dataset named '(?P<dataset>[^']+)'")
_NO_VERSION = re.compile(r"dataset '(?P<dataset>[^']+)' has no version '(?P<version>[^']+)'")


def split_version_ref(ref: str, *, field: str = "DATASET@VERSION") -> tuple[str, str]:
    """``DATASET@VERSION`` → ``(dataset, version)``; ``InvalidInput`` naming ``field`` otherwise."""
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise InvalidInput(f"expected DATASET@VERSION, got {ref!r}", field=field)
    return name, version


def new_version_ref(ref: str, old_version: str | None) -> tuple[str, str]:
    """The dataset and the name of the version ``dataset version`` creates: ``ref`` is ``DATASET@VERSION``; the
    deprecated form ``DATASET --version VERSION`` is accepted with a note on stderr."""
    if "@" in ref:
        dataset, version = split_version_ref(ref)
        if old_version is not None and old_version != version:
            raise InvalidInput(
                f"{ref} names version {version!r} but --version says {old_version!r}: drop --version",
                field="--version",
            )
        return dataset, version
    if old_version is None:
        raise InvalidInput(
            f"expected DATASET@VERSION, got {ref!r} (the new version: `labelgate dataset version {ref}@v1`)",
            field="DATASET@VERSION",
        )
    err.print(
        f"note: `dataset version {ref} --version {old_version}` is deprecated and goes in the next release; "
        f"write `dataset version {ref}@{old_version}`"
    )
    return ref, old_version


def parent_version(dataset: str, parent: str) -> str:
    """``--parent``'s version name: ``VERSION``, or ``DATASET@VERSION`` of the same dataset."""
    if "@" not in parent:
        return parent
    name, version = split_version_ref(parent, field="--parent")
    if name != dataset:
        raise InvalidInput(f"--parent {parent} is a version of {name!r}, not of {dataset!r}", field="--parent")
    return version


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` most likely meant (a typo, another case), or None when none is close."""
    candidates = list(known)
    by_case = [c for c in candidates if c.lower() == name.lower()]
    if by_case:
        return by_case[0]
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def with_suggestion(exc: NotFound, refs: Callable[[], Iterable[str]]) -> NotFound:
    """``exc`` (an unknown dataset or version), its message ending ``; did you mean 'street@v2'?`` when one of
    the ``DATASET@VERSION`` names ``refs`` lists is close (another case, a typo). ``refs`` is called only here,
    on the error path; a lookup that fails leaves ``exc`` as it was."""
    message = exc.message
    missing_version = _NO_VERSION.search(message)
    missing_dataset = _NO_DATASET.search(message)
    if missing_version is None and missing_dataset is None:
        return exc
    try:
        known = [ref.partition("@") for ref in refs()]
    except Exception:  # a hint is a courtesy: the error stands without it
        return exc
    if missing_version is not None:
        dataset = missing_version["dataset"]
        guess = closest(missing_version["version"], [v for d, _, v in known if d == dataset])
        hint = f"{dataset}@{guess}" if guess else None
    else:
        assert missing_dataset is not None
        hint = closest(missing_dataset["dataset"], {d for d, _, _ in known})
    if hint is None:
        return exc
    return NotFound(f"{message}; did you mean {hint!r}?", field=exc.field)
