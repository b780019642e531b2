"""Email templates: Jinja2 in a sandbox, HTML autoescaped, compiled when an automation is validated."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateAssertionError, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.sandbox import SandboxedEnvironment

from automations.errors import TemplateError

#: Rendered in place of ``{{ unsubscribe_url }}``; the sender swaps in each recipient's signed link.
UNSUBSCRIBE_PLACEHOLDER = "__AUTOMATIONS_UNSUBSCRIBE_URL__"


def _default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """``default`` that also treats null and "" as missing: ``first_name | default("there")``."""
    if isinstance(value, Undefined) or value is None or value == "" or (boolean and not value):
        return fallback
    return value


def _datetime(value: Any, fmt: str = "%d %b %Y %H:%M") -> str:
    """Format an ISO-8601 timestamp: ``{{ data.session.starts_at | datetime('%A %d %B, %H:%M') }}``."""
    if isinstance(value, Undefined) or value in (None, ""):
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return moment.strftime(fmt)


def _money(value: Any, currency: str = "") -> str:
    """Format an amount with two decimals and thousands separators: ``640`` -> ``640.00``."""
    if isinstance(value, Undefined) or value in (None, ""):
        return ""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{amount:,.2f}"
    return f"{currency} {text}".strip() if currency else text


def _make_env(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=autoescape, undefined=ChainableUndefined, keep_trailing_newline=True)
    env.filters["default"] = _default
    env.filters["d"] = _default
    env.filters["datetime"] = _datetime
    env.filters["money"] = _money
    return env


@lru_cache(maxsize=2)
def environment(autoescape: bool) -> SandboxedEnvironment:
    """The sandboxed environment; ``autoescape`` for HTML bodies, plain for subjects and text parts."""
    return _make_env(autoescape)


def _describe(exc: JinjaTemplateError) -> str:
    message = str(getattr(exc, "message", None) or exc)
    found = re.match(r"No filter named '([^']+)'", message)
    if found:
        return f"unknown filter '{found.group(1)}'"
    found = re.match(r"No test named '([^']+)'", message)
    if found:
        return f"unknown test '{found.group(1)}'"
    return message.rstrip(".")


def _check_names(env: SandboxedEnvironment, source: str) -> None:
    """Jinja defers unknown filters and tests inside ``{% if %}`` and ``x if y else z`` to render time."""
    unknown = [
        (node.lineno, "test" if isinstance(node, nodes.Test) else "filter", node.name)
        for node in env.parse(source).find_all((nodes.Filter, nodes.Test))
        if node.name not in (env.tests if isinstance(node, nodes.Test) else env.filters)
    ]
    if unknown:
        line, kind, name = min(unknown)
        raise TemplateError(f"unknown {kind} '{name}'", line)


@lru_cache(maxsize=1024)
def _compile(source: str, autoescape: bool) -> Any:
    env = environment(autoescape)
    try:
        template = env.from_string(source)
    except (TemplateSyntaxError, TemplateAssertionError) as exc:
        raise TemplateError(_describe(exc), exc.lineno) from None
    _check_names(env, source)
    return template


def check_template(source: str, *, html: bool) -> None:
    """Compile a template now, so that a broken one is refused when the automation is saved."""
    _compile(source, html)


def render(source: str, context: Mapping[str, Any], *, html: bool) -> str:
    """Render a template with the run's context; a failure at render time is a ``TemplateError``."""
    template = _compile(source, html)
    values = dict(context)
    values.setdefault("unsubscribe_url", UNSUBSCRIBE_PLACEHOLDER)
    try:
        return str(template.render(values))
    except JinjaTemplateError as exc:
        raise TemplateError(_describe(exc), getattr(exc, "lineno", None)) from None
    except (ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise TemplateError(f"{type(exc).__name__}: {exc}") from None


_BLOCK = re.compile(r"</?(p|div|br|tr|h[1-6]|li|ul|ol|table|section|article|header|footer)\b[^>]*>", re.I)
_LINK = re.compile(r"<a\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*>(.*?)</a>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
_DROP = re.compile(r"<(style|script|head)\b[^>]*>.*?</\1>", re.I | re.S)


def html_to_text(markup: str) -> str:
    """A readable text part from an HTML body: blocks become lines, links keep their address."""

    def link(match: re.Match[str]) -> str:
        label = _TAG.sub("", match.group(2)).strip()
        href = match.group(1)
        return f"{label} ({href})" if label and label != href else href

    text = _DROP.sub("", markup)
    text = _LINK.sub(link, text)
    text = _BLOCK.sub("\n", text)
    text = _TAG.sub("", text)
    text = html_lib.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"
