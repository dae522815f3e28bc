"""Content negotiation by RFC 9110 (section 12.5.1), and media ranges refused as bodies.

DRF orders `Accept` by specificity but ignores quality values, so `application/json;q=0`
would get JSON. Here the most specific range that matches a representation decides its
quality, as the RFC says: `application/json;q=0, */*` refuses JSON (406) and
`*/*;q=0.1, application/json` accepts it.
"""

import re
from typing import Any

from django.utils.http import parse_header_parameters
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


class MediaRange:
    """One element of an Accept header: `type/subtype;param=value;q=0.5`."""

    def __init__(self, text: str) -> None:
        try:
            full_type, params = parse_header_parameters(text)
        except ValueError:  # past Django's header length limit: matches nothing
            full_type, params = "", {}
        self.type, _, self.subtype = full_type.partition("/")
        quality = params.pop("q", "1")
        # A malformed qvalue is read as 1, as DRF reads every element.
        self.quality = float(quality) if _QVALUE.fullmatch(quality) else 1.0
        self.params = params

    def matches(self, media_type: str) -> bool:
        type_, _, subtype = media_type.partition("/")
        if not self.type or not self.subtype:
            return False
        return self.type in ("*", type_) and self.subtype in ("*", subtype)

    @property
    def specificity(self) -> int:
        if self.type == "*":
            return 0
        if self.subtype == "*":
            return 1
        return 3 if self.params else 2


def quality_of(media_type: str, ranges: list[MediaRange]) -> tuple[float, MediaRange | None]:
    """The quality the most specific matching range gives `media_type` (0 when none
    matches), with that range."""
    matching = [media_range for media_range in ranges if media_range.matches(media_type)]
    if not matching:
        return 0.0, None
    decisive = max(matching, key=lambda media_range: media_range.specificity)
    quality = max(
        media_range.quality
        for media_range in matching
        if media_range.specificity == decisive.specificity
    )
    return quality, decisive


def is_media_range(content_type: str) -> bool:
    """`*/*` or `application/*`: a pattern for Accept, never the type of a body."""
    type_, _, subtype = content_type.partition("/")
    return "*" in (type_, subtype)


class RFC9110ContentNegotiation(DefaultContentNegotiation):
    def select_parser(self, request: Request, parsers: list[BaseParser]) -> BaseParser | None:
        # DRF's matching lets `Content-Type: */*` pick the JSON parser; it names no media
        # type, so the body gets 415 like any other (docs/api.md, "Transport").
        if is_media_range(request.content_type or ""):
            return None
        return super().select_parser(request, parsers)

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        # get_accept_list keeps DRF's limits on the header's length and number of elements.
        # An empty Accept header is read as none at all: any type.
        ranges = [MediaRange(token) for token in self.get_accept_list(request) or ["*/*"]]
        best: tuple[float, BaseRenderer, MediaRange | None] | None = None
        for renderer in renderers:
            quality, decisive = quality_of(renderer.media_type, ranges)
            if quality > 0 and (best is None or quality > best[0]):
                best = (quality, renderer, decisive)
        if best is None:
            raise exceptions.NotAcceptable(available_renderers=renderers)
        _, renderer, decisive = best
        # Parameters of an exact range reach the renderer as in DRF (`indent=4`).
        params = decisive.params if decisive is not None and decisive.specificity == 3 else {}
        media_type = ";".join([renderer.media_type, *(f"{k}={v}" for k, v in params.items())])
        return renderer, media_type
