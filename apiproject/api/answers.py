"""Observers of how a request was answered: whoever checked the request's credentials may
need the final status (a key's usage counts its errors), whatever produced the answer (a
view, DRF's exception handler, or the envelope of an unhandled exception). Called once, by
APIErrorMiddleware, for requests under /api/."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

AnswerObserver = Callable[[int], None]


def on_answer(request: Any, observer: AnswerObserver) -> None:
    """Call `observer` with the status of the answer to `request` (Django's, or DRF's which
    wraps it: the observer is kept on Django's, which the middleware sees)."""
    http_request = getattr(request, "_request", request)
    observers = getattr(http_request, "answer_observers", None)
    if observers is None:
        observers = http_request.answer_observers = []
    observers.append(observer)


def answered(request: HttpRequest, status: int) -> None:
    for observer in getattr(request, "answer_observers", ()):
        observer(status)
