"""Friendly run names (``crimson-otter``), as Prefect gives its runs."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "crimson",
    "dapper",
    "eager",
    "fancy",
    "gentle",
    "golden",
    "happy",
    "honest",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "mellow",
    "nimble",
    "quiet",
    "rapid",
    "silver",
    "steady",
    "swift",
    "tidy",
    "vivid",
    "witty",
)
_ANIMALS = (
    "badger",
    "beaver",
    "bison",
    "crane",
    "dingo",
    "falcon",
    "ferret",
    "gecko",
    "heron",
    "ibis",
    "jackal",
    "koala",
    "lemur",
    "lynx",
    "marmot",
    "newt",
    "ocelot",
    "otter",
    "panda",
    "puffin",
    "quail",
    "raven",
    "salmon",
    "tapir",
    "toucan",
    "walrus",
    "wombat",
    "yak",
)


def run_name() -> str:
    """Return a random two-word run name."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_ANIMALS)}"
