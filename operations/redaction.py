"""Secrets that travel in URLs are kept out of every log line: Django's own loggers, the
access log (gunicorn.conf.py), tracebacks and error reports.

Which path segments are secret is derived from the routes, not written here: every URL
parameter whose converter was registered as secret (`operations.registry.
register_secret_converter`; generations registers its token, signed-value and password-reset
converters) is redacted wherever a path of that route's shape appears in a line: with or
without the trailing slash, with a query, a script prefix or a host before it, or junk
after it. The rules are built from the URL resolver once per URLconf, the first time a
line is redacted after Django is ready (gunicorn's master process, which never loads
Django's URLconf, logs no request paths). The identity provider's authorization code and
state travel in the sign-in callback's query and are redacted by name.
"""

import logging
import re
import threading

REDACTED = "[redacted]"
_SECRET_IN_QUERY = re.compile(r"(?P<prefix>[?&](?:code|state)=)(?P<secret>[^&#\s\"']+)")
# A run of path that could hold a route: from a slash up to a space, a quote, a query or a
# fragment. Searching routes inside such runs keeps a loose pattern (<str:> is [^/]+) from
# reaching across into the rest of the line.
_PATH_RUN = re.compile(r"/[^\s\"'<>?#]*")
# A secret segment matches whatever the segment holds, not only its converter's shape: a
# secret with a typo or a character too many is still someone's secret.
_SEGMENT = "[^/]+"
_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")

_rules_lock = threading.Lock()
_rules_for: tuple[object, re.Pattern[str] | None] | None = None
_building = threading.local()


def redact_secrets(text):
    rule = _secret_path_rule()
    if rule is not None and "/" in text:
        text = _PATH_RUN.sub(lambda run: _redact_run(rule, run.group(0)), text)
    return _SECRET_IN_QUERY.sub(lambda m: m["prefix"] + REDACTED, text)


def _redact_run(rule, run):
    def redact(match):
        pieces, end = [], match.start()
        for name, value in match.groupdict().items():
            if value is None or not name.startswith("secret_"):
                continue
            start, stop = match.span(name)
            pieces += [run[end:start], REDACTED]
            end = stop
        return "".join(pieces) + run[end : match.end()]

    return rule.sub(redact, run)


def _secret_path_rule():
    """One pattern matching every secret-bearing route's path, its secrets in groups named
    secret_*; None before Django is ready or when no route carries a secret."""
    global _rules_for
    from django.apps import apps  # here: gunicorn's master imports this module, not Django

    if not apps.ready or getattr(_building, "active", False):
        return None
    from django.urls import get_resolver

    resolver = get_resolver()
    known = _rules_for
    if known is None or known[0] is not resolver:
        with _rules_lock:
            known = _rules_for
            if known is None or known[0] is not resolver:
                _building.active = True  # a line logged while the URLconf is imported
                try:
                    known = (resolver, _compile(secret_routes(resolver)))
                except Exception:
                    # A URLconf that cannot be imported routes no request, so no line holds
                    # a route's secret; Django reports the error itself, and this must not
                    # turn every log call into a second one.
                    return None
                finally:
                    _building.active = False
                _rules_for = known
    return known[1]


class _Secret:
    """Where a secret parameter sits in a route's fragments."""


SECRET = _Secret()


def secret_routes(resolver):
    """Each route with a secret parameter, as a list of fragments: regex text for literal
    text and other parameters (as their converters match them), SECRET for each secret, up
    to the route's last secret (what follows it needs no redacting)."""
    from operations.registry import secret_converters

    return [
        fragments
        for fragments, secret in _walk(resolver.url_patterns, [], secret_converters)
        if secret
    ]


def _walk(patterns, prefix, secret_converters):
    from django.urls import URLResolver

    for entry in patterns:
        fragments, secret = _fragments(entry.pattern, secret_converters)
        if isinstance(entry, URLResolver) and not secret:
            yield from _walk(entry.url_patterns, prefix + fragments, secret_converters)
        else:
            yield prefix + fragments, secret


def _fragments(pattern, secret_converters):
    """One level of a URL pattern as fragments, and whether it holds a secret."""
    from django.urls.converters import PathConverter
    from django.urls.resolvers import RoutePattern

    text = str(pattern)
    if not isinstance(pattern, RoutePattern):
        # A re_path (or a language prefix): its named groups must not clash with ours.
        text = text.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
        return [re.sub(r"\(\?P<[^>]+>", "(?:", text)], False
    converters = getattr(pattern, "converters", {})
    fragments, through_last_secret, position = [], 0, 0
    for match in _ROUTE_PARAMETER.finditer(text):
        fragments.append(re.escape(text[position : match.start()]))
        converter = converters.get(match["parameter"])
        if type(converter) in secret_converters:
            fragments.append(SECRET)
            through_last_secret = len(fragments)
        elif isinstance(converter, PathConverter):
            fragments.append(".+?")
        else:
            # Any segment, not only the converter's shape: the route's secret is redacted
            # even behind a malformed id.
            fragments.append(_SEGMENT)
        position = match.end()
    if through_last_secret:
        return fragments[:through_last_secret], True
    return [*fragments, re.escape(text[position:])], False


def _compile(routes):
    unique = []
    for fragments in routes:
        if fragments not in unique:  # share page, image and thumbnail: one rule
            unique.append(fragments)
    if not unique:
        return None
    alternatives, number = [], 0
    for fragments in unique:
        text = ""
        for fragment in fragments:
            if fragment is SECRET:
                text += f"(?P<secret_{number}>{_SEGMENT})"
                number += 1
            else:
                text += fragment
        alternatives.append(f"(?:{text})")
    # A route starts right after a slash: a script prefix or a host may come before it.
    return re.compile("(?<=/)(?:" + "|".join(alternatives) + ")")


class RedactSecretsFilter(logging.Filter):
    """For handlers: rewrites each record's message with the secrets taken out."""

    def filter(self, record):
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
