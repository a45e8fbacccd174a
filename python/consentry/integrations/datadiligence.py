"""Consentry rules for Spawning's ``datadiligence``: an evaluator refuses
the works that artists registered as not to be used.

>>> import datadiligence as dd
>>> from consentry.integrations.datadiligence import ConsentryRule
>>> dd.get_evaluator("postprocess").add_rule(ConsentryRule(registry, "train-genai"))

The registry knows works by their content, not their URL, so the rules
need the bytes: :class:`ConsentryRule` takes them as ``datadiligence``'s
content rules do (``body=``, ``path=``, a ``response=``, or a ``url=`` it
fetches with the rule's user agent); :class:`ConsentryBulkRule` (for a
``PreprocessEvaluator``) fetches each URL of ``urls=``. The bytes are
hashed and fingerprinted, so resized and re-encoded copies of registered
works are refused too, and read for the consent signals inside them (C2PA,
IPTC and TDMRep in XMP): a work whose own file refuses the purpose is
refused even where the registry allows it or does not know it.

Unlike rules that have nothing to say without their input, these never
answer "allowed" by default: a registry that cannot be asked, a URL that
cannot be fetched, or a call with neither bytes nor a URL raises.
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import http.client
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import requests
from datadiligence.rules import BulkRule, HttpRule

from ..answers import Answer
from ..client import Registry
from ..errors import ConsentryError
from . import _Checks

__all__ = ["ConsentryRule", "ConsentryBulkRule"]


def _fetched(url: str, response: Any) -> bytes:
    """The body of a fetched work; raises for anything but 200."""
    status = getattr(response, "status_code", None)
    if status != 200:
        raise ConsentryError(f"fetching {url} gave HTTP {status}, not the work: cannot check it")
    return _non_empty(response.content, f"the body of {url}")


def _non_empty(data: bytes, what: str) -> bytes:
    """No bytes are no work: an empty body (one read already, say) would be
    answered `unknown`, which some purposes allow."""
    if not data:
        raise ConsentryError(f"{what} is empty: there is no work to check")
    return data


class ConsentryRule(HttpRule):
    """A ``datadiligence`` rule: a work is allowed when the registry says
    it may be used for ``purpose`` and its own file does not refuse it.

    Add it to any evaluator (``HttpEvaluator``, ``PostprocessEvaluator``,
    ``FileEvaluator`` or your own)::

        rule = ConsentryRule(registry, "train-genai", receipts="receipts/")
        dd.get_evaluator("postprocess").add_rule(rule)
        dd.is_allowed(url="https://example.com/art.jpg")   # False if opted out

    Args:
        registry: a :class:`consentry.Registry` with a dataset builder's key.
        purpose: ``train-ai``, ``train-genai``, ``ai-use``, ``search`` or ``tdm``.
        unknown: allow works the registry knows nothing about; ``None``
            means the purpose's default (refused for ``train-ai`` and
            ``train-genai``, allowed otherwise).
        as_of: check consent as it was at this instant (RFC 3339).
        near: also refuse resized and re-encoded copies of registered works.
        receipts: a list each check's verified receipt is appended to, or a
            directory to write them into (``None``: not kept).
        user_agent: the user agent to fetch URLs with (``requests``' default).
        signals: also refuse works whose own file refuses the purpose
            (C2PA, IPTC, TDMRep; never allowed by it); ``False``: the
            registry's answer alone.

    Each call is one check: for many URLs use :class:`ConsentryBulkRule`.
    """

    def __init__(self, registry: Registry, purpose: str, *, unknown: bool | None = None,
                 as_of: dt.datetime | str | None = None, near: bool = True,
                 receipts: list[dict[str, Any]] | str | os.PathLike[str] | None = None,
                 user_agent: str | None = None, signals: bool = True) -> None:
        super().__init__(user_agent=user_agent)
        self._checks = _Checks(registry, purpose, unknown, as_of, near, receipts, signals)

    def is_ready(self) -> bool:
        """Always ready: a registry that cannot be asked raises at the check
        rather than letting the evaluator skip the rule."""
        return True

    def content(self, url: str | None = None, response: Any = None, body: bytes | None = None,
                path: str | os.PathLike[str] | None = None) -> bytes | Path:
        """The work to check, from the first given of ``body`` (bytes),
        ``path`` (a file), ``response`` (a ``requests.Response``, or an
        ``http.client.HTTPResponse``, whose body this reads: the caller cannot
        read it again) and ``url``
        (fetched)::

            data = rule.content(url="http://127.0.0.1:8000/a.png")   # the bytes
            data = rule.content(response=requests.get(url))          # the same
            data = rule.content(body=b"...")
        """
        if body is not None:
            return _non_empty(bytes(body), "body")
        if path is not None:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no file at {os.fspath(path)}")
            return Path(path)
        if response is not None:
            if isinstance(response, requests.Response):
                return _fetched(response.url, response)
            if isinstance(response, http.client.HTTPResponse):
                if response.status != 200:
                    raise ConsentryError(f"the response is HTTP {response.status}, not the work: cannot check it")
                if response.isclosed():
                    raise ConsentryError("the response's body was read already: pass it as body=")
                return _non_empty(response.read(), "the response's body")
            raise TypeError(f"response is a requests.Response or http.client.HTTPResponse, not "
                            f"{type(response).__name__}")
        if url is not None:
            return _fetched(url, self._handle_url(url))
        raise ConsentryError("ConsentryRule needs the work: pass body=, path=, response= or url= "
                             "(headers alone do not identify a work)")

    def answer(self, url: str | None = None, response: Any = None, body: bytes | None = None,
               path: str | os.PathLike[str] | None = None) -> Answer:
        """The registry's whole answer about the work (status, claimants,
        terms...), from the same arguments as :meth:`is_allowed`::

            a = rule.answer(url="http://127.0.0.1:8000/a.png")
            print(a.status, a.terms)
        """
        (answer,) = self._checks.check([self.content(url=url, response=response, body=body, path=path)])
        return answer

    def is_allowed(self, url: str | None = None, response: Any = None, headers: Any = None,
                   body: bytes | None = None, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> bool:
        """Whether the work may be used for the rule's purpose (``headers``
        and other keywords the evaluators pass are ignored)::

            rule.is_allowed(url="http://127.0.0.1:8000/a.png")
            rule.is_allowed(body=open("a.png", "rb").read())
            rule.is_allowed(path="a.png")
        """
        return self.answer(url=url, response=response, body=body, path=path).permits(self._checks.keep_unknown)


class ConsentryBulkRule(BulkRule):
    """A bulk ``datadiligence`` rule for URL lists (a ``PreprocessEvaluator``
    takes only bulk rules): it fetches every URL and checks all the works in
    one check (one receipt)::

        evaluator = dd.get_evaluator("preprocess")
        evaluator.add_rule(ConsentryBulkRule(registry, "train-genai"))
        allowed_urls = dd.filter_allowed(urls=urls)

    Args are those of :class:`ConsentryRule`, plus:
        fetch_errors: ``"raise"`` (default): a URL that cannot be fetched
            (network error, status other than 200) raises; ``"refuse"``: it
            is not allowed (and not checked).
        max_concurrent_requests: URLs fetched at once.
        timeout: seconds to wait for each URL.
    """

    def __init__(self, registry: Registry, purpose: str, *, unknown: bool | None = None,
                 as_of: dt.datetime | str | None = None, near: bool = True,
                 receipts: list[dict[str, Any]] | str | os.PathLike[str] | None = None,
                 user_agent: str | None = None, fetch_errors: str = "raise", max_concurrent_requests: int = 10,
                 timeout: float = 10.0, signals: bool = True) -> None:
        super().__init__()
        if fetch_errors not in ("raise", "refuse"):
            raise ValueError("fetch_errors is 'raise' or 'refuse'")
        if max_concurrent_requests < 1:
            raise ValueError("max_concurrent_requests must be at least 1")
        self._checks = _Checks(registry, purpose, unknown, as_of, near, receipts, signals)
        self.user_agent = user_agent or requests.utils.default_user_agent()
        self.fetch_errors = fetch_errors
        self.max_concurrent_requests = max_concurrent_requests
        self.timeout = timeout
        self._local = threading.local()

    def is_ready(self) -> bool:
        """Always ready (see :meth:`ConsentryRule.is_ready`)."""
        return True

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _fetch(self, url: str) -> bytes | None:
        try:
            response = self._session().get(url, headers={"User-Agent": self.user_agent}, timeout=self.timeout)
            return _fetched(url, response)
        except (requests.RequestException, ConsentryError) as e:
            if self.fetch_errors == "refuse":
                return None
            if isinstance(e, ConsentryError):
                raise
            raise ConsentryError(f"fetching {url}: {e}") from None

    def _bodies(self, urls: Sequence[str]) -> Iterator[tuple[int, bytes | None]]:
        """Each URL's body (``None`` when refused), in order, with a bounded
        number fetched ahead."""
        window = self.max_concurrent_requests * 2
        with concurrent.futures.ThreadPoolExecutor(self.max_concurrent_requests,
                                                   thread_name_prefix="consentry-fetch") as pool:
            pending: collections.deque[tuple[int, concurrent.futures.Future[bytes | None]]] = collections.deque()
            for i, url in enumerate(urls):
                pending.append((i, pool.submit(self._fetch, url)))
                if len(pending) >= window:
                    i0, f = pending.popleft()
                    yield i0, f.result()
            while pending:
                i0, f = pending.popleft()
                yield i0, f.result()

    def answers(self, urls: Sequence[str]) -> list[Answer | None]:
        """The registry's answer about each URL's work, in order (``None``
        for a URL refused because it could not be fetched)::

            answers = rule.answers(urls)
            for url, a in zip(urls, answers):
                print(url, a.status if a else "not fetched")
        """
        urls = list(urls)
        checked: list[int] = []

        def bodies() -> Iterator[bytes]:
            for i, body in self._bodies(urls):
                if body is not None:
                    checked.append(i)
                    yield body

        out: list[Answer | None] = [None] * len(urls)
        if not urls:
            return out
        for n, answer in enumerate(self._checks.check(bodies())):
            out[checked[n]] = answer
        return out

    def is_allowed(self, urls: Sequence[str] | None = None, url: str | None = None, **kwargs: Any) -> list[bool]:
        """Whether each URL's work may be used, in order::

            rule.is_allowed(urls=["http://127.0.0.1:8000/a.png", "http://127.0.0.1:8000/b.png"])
            # [True, False]
        """
        urls = _url_list(urls, url)
        keep = self._checks.keep_unknown
        return [a is not None and a.permits(keep) for a in self.answers(urls)]

    def filter_allowed(self, urls: Sequence[str] | None = None, url: str | None = None, **kwargs: Any) -> list[str]:
        """The URLs whose works may be used, in order::

            urls = ["http://127.0.0.1:8000/a.png", "http://127.0.0.1:8000/b.png"]
            allowed = rule.filter_allowed(urls=urls)
            # ["http://127.0.0.1:8000/a.png"]
        """
        urls = _url_list(urls, url)
        return [u for u, ok in zip(urls, self.is_allowed(urls=urls)) if ok]


def _url_list(urls: Sequence[str] | None, url: str | None) -> list[str]:
    if urls is not None:
        if isinstance(urls, str):
            raise TypeError("urls is a list of URLs; for one URL pass url=")
        return list(urls)
    if url is not None:
        return [url]
    raise ConsentryError("ConsentryBulkRule needs urls= (or url=)")
