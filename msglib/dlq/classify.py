"""Transient or permanent? Deciding whether a failed message deserves another try.

A *transient* failure may go away by itself: a timeout, a refused connection,
a 503 from an overloaded service, a 429 "slow down". Retrying later is the
cure. A *permanent* failure will fail the same way every time: a payload that
does not parse, a field of the wrong type, a 400 or a 404. Retrying it wastes
every attempt, delays the messages behind it, and only postpones the dead
letter. So permanent failures skip the retries and go straight to the DLQ.

Spring Kafka ships a list of such *fatal* exceptions (deserialization and
conversion errors, ``ClassCastException``, ``NoSuchMethodException``...) and
retries everything else; msglib's defaults are their Python counterparts.
HTTP status codes carry the same distinction: 408, 429 and 5xx say "later",
the other 4xx say "never".
"""
from __future__ import annotations

from typing import Callable, Iterable

Classifier = Callable[[BaseException], bool]   # True: transient, retry it


class TransientError(Exception):
    """A failure worth retrying later."""


class PermanentError(Exception):
    """A failure that will repeat on every attempt."""


class DeserializationError(PermanentError, ValueError):
    """The payload's bytes do not decode (Spring: DeserializationException)."""


class MessageConversionError(PermanentError, ValueError):
    """The decoded payload cannot become the expected type (Spring: MessageConversionException)."""


class HttpError(Exception):
    """A downstream HTTP call answered with an error status."""

    def __init__(self, status: int, message: str = "") -> None:
        self.status = status
        super().__init__(f"HTTP {status}" + (f": {message}" if message else ""))


# Python counterparts of Spring Kafka's default fatal exceptions
DEFAULT_FATAL: tuple[type[BaseException], ...] = (PermanentError, DeserializationError, MessageConversionError,
                                                  TypeError, AttributeError, NotImplementedError)
DEFAULT_TRANSIENT: tuple[type[BaseException], ...] = (TransientError, TimeoutError, ConnectionError)


def http_status_is_transient(status: int) -> bool:
    """408 Request Timeout, 429 Too Many Requests and 5xx are worth retrying; other 4xx are not."""
    return status in (408, 429) or 500 <= status <= 599


def is_transient(exc: BaseException) -> bool:
    """msglib's default classification (module 09's exercise writes its own).

    * :class:`HttpError`: by status (408, 429, 5xx transient; other 4xx permanent);
    * timeouts, connection errors, :class:`TransientError`: transient;
    * :class:`PermanentError` (deserialization, conversion), ``ValueError``,
      ``KeyError``, ``TypeError``, ``AttributeError``: permanent, the data or
      the code is wrong and another try cannot change that;
    * anything else: transient (retry; the attempt limit still bounds it).
    """
    if isinstance(exc, HttpError):
        return http_status_is_transient(exc.status)
    if isinstance(exc, DEFAULT_TRANSIENT):
        return True
    if isinstance(exc, DEFAULT_FATAL + (ValueError, KeyError)):
        return False
    return True


class ExceptionClassifier:
    """A configurable classifier in Spring's style.

    ``fatal`` exceptions skip retries; ``retryable`` ones (checked first) are
    always retried; anything else gets ``default_retryable``. With
    ``traverse_causes`` an exception whose ``__cause__`` chain holds a
    classified exception takes that classification (a ``RuntimeError``
    wrapping a ``DeserializationError`` is fatal).
    """

    def __init__(self, fatal: Iterable[type[BaseException]] = DEFAULT_FATAL,
                 retryable: Iterable[type[BaseException]] = (), *, default_retryable: bool = True,
                 traverse_causes: bool = False) -> None:
        self.fatal = tuple(fatal)
        self.retryable = tuple(retryable)
        self.default_retryable = default_retryable
        self.traverse_causes = traverse_causes

    def add_fatal(self, *types: type[BaseException]) -> None:
        self.fatal += types

    def remove_fatal(self, *types: type[BaseException]) -> None:
        self.fatal = tuple(t for t in self.fatal if t not in types)

    def _classify_one(self, exc: BaseException) -> bool | None:
        if self.retryable and isinstance(exc, self.retryable):
            return True
        if isinstance(exc, self.fatal):
            return False
        if isinstance(exc, HttpError):
            return http_status_is_transient(exc.status)
        return None

    def __call__(self, exc: BaseException) -> bool:
        """True if ``exc`` should be retried."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            verdict = self._classify_one(current)
            if verdict is not None:
                return verdict
            if not self.traverse_causes:
                break
            current = current.__cause__
        return self.default_retryable


__all__ = ["Classifier", "TransientError", "PermanentError", "DeserializationError", "MessageConversionError",
           "HttpError", "DEFAULT_FATAL", "DEFAULT_TRANSIENT", "http_status_is_transient",
           "is_transient", "ExceptionClassifier"]
