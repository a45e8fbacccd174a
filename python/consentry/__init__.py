"""Consentry for Python: check and filter datasets against a Consentry
registry, keep and verify its signed receipts, and register works.

Dataset builders::

    import consentry
    registry = consentry.Registry("https://registry.example", key=consentry.load_key("builder.key"))
    run = registry.check(paths_or_hashes, purpose="train-genai")
    for answer in run:
        ...                      # answer.status, answer.permits(unknown=False), answer.terms
                                 # answer.combined: with the consent signals in the file itself
    run.receipt                  # registry-signed, verified against the answers

Integrations live in :mod:`consentry.integrations` (Hugging Face
``datasets``, ``webdataset``, ``img2dataset`` shards, ``datadiligence``);
``python -m consentry`` checks and filters folders, parquet and tar shards.
Receipts are verified offline with :func:`verify_receipt`; in-file
consent signals (C2PA, IPTC, TDMRep) are read by :mod:`consentry.signals`.
"""

__version__ = "0.1.0"

from .answers import PURPOSES, Answer
from .client import CheckRun, Registry, timestamp
from .errors import (
    ConsentryError,
    ItemError,
    KeyFileError,
    Problem,
    RateLimited,
    RegistryUnreachable,
    StreamBroken,
)
from .keys import Key, generate_key, load_key


def image_codes(data, *, views=True):
    """The ISCC Image-Codes of an image (bytes or a PIL image), equal to
    ``consentry fingerprint``'s; see :func:`consentry.fingerprint.image_codes`."""
    from .fingerprint import image_codes as codes

    return codes(data, views=views)


def verify_receipt(envelope, verifier_key, **kwargs):
    """Verifies a check receipt offline; see
    :func:`consentry.receipt.verify_receipt`."""
    from .receipt import verify_receipt as verify

    return verify(envelope, verifier_key, **kwargs)


__all__ = [
    "PURPOSES",
    "Answer",
    "CheckRun",
    "Registry",
    "timestamp",
    "ConsentryError",
    "ItemError",
    "KeyFileError",
    "Problem",
    "RateLimited",
    "RegistryUnreachable",
    "StreamBroken",
    "Key",
    "generate_key",
    "load_key",
    "image_codes",
    "verify_receipt",
    "__version__",
]
