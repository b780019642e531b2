"""Email templates: Jinja2 in a bounded sandbox, HTML autoescaped, compiled and checked when an automation is validated.

Rendering one field is bounded. Its output is at most ``MAX_OUTPUT`` bytes; any text or collection the template
makes is at most ``MAX_TEXT`` characters (as printed), and all the texts it makes together at most
``MAX_ALLOCATED``; a range has at most ``MAX_RANGE`` items, a number at most ``MAX_INT_BITS`` bits; calls (macros,
``caller()``, recursive loops, blocks) nest at most ``MAX_DEPTH`` deep. The work has a deterministic budget of
``MAX_STEPS`` units of about 10 ns: each run of a loop body, macro, caller or block costs the units of its nodes,
and calls, operators, filters over large inputs, lazy sequences and searches with ``in`` cost by their size. The
budget runs out in about 50 ms; the rendering's CPU time, checked every few thousand units, stops it at
``MAX_SECONDS`` whatever happens. Lists and dicts cannot be changed (an immutable sandbox).

Nothing is evaluated when a template compiles. What breaks a bound visibly in the source (``range(10**9)``,
``'a' * 10**9``, ``9 ** (9 ** 9)``, ``x | center(10**9)``, a macro that calls itself, nesting beyond
``MAX_NESTING`` levels) refuses the template when it is checked, with its line. At render time a broken bound, like
any other failure, is a ``TemplateError`` with the reason and, where known, the line.
"""

from __future__ import annotations

import html as html_lib
import math
import operator
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache, update_wrapper
from string import Formatter
from types import BuiltinMethodType, GeneratorType, MethodType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateAssertionError,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_context,
    pass_eval_context,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    is_internal_attribute,
    modifies_known_mutable,
)
from jinja2.utils import Namespace, generate_lorem_ipsum
from markupsafe import Markup

from automations.errors import TemplateError

if TYPE_CHECKING:
    from decimal import Decimal

    from babel import Locale

_T = TypeVar("_T")

#: Rendered in place of ``{{ unsubscribe_url }}``; the sender swaps in each recipient's signed link.
UNSUBSCRIBE_PLACEHOLDER = "__AUTOMATIONS_UNSUBSCRIBE_URL__"

# --- bounds -------------------------------------------------------------------------------------------------

MAX_OUTPUT: Final = 1_000_000  #: bytes (UTF-8) of one rendered field
MAX_TEXT: Final = 1_000_000  #: characters of any one text, or of a collection as printed, that a template makes
MAX_ALLOCATED: Final = 8_000_000  #: characters of all the texts one rendering makes
MAX_RANGE: Final = 10_000  #: items of a range, and of a batch or slice count
MAX_INT_BITS: Final = 4096  #: bits of a number a template computes
MAX_DEPTH: Final = 30  #: nested calls: macros, caller(), recursive loops, blocks
MAX_STEPS: Final = 5_000_000  #: work units of one rendering (about 10 ns each)
MAX_SECONDS: Final = 0.1  #: CPU time of one rendering (a backstop of the work budget)
MAX_NESTING: Final = 50  #: levels of the parsed template (statements and expressions)
MAX_LOOP_NESTING: Final = 8  #: loops inside loops
MAX_BRACKETS: Final = 30  #: brackets inside brackets
MAX_LIPSUM: Final = 20  #: paragraphs of ``lipsum()``
MAX_LIPSUM_WORDS: Final = 100  #: words of a ``lipsum()`` paragraph
MAX_JSON_INDENT: Final = 16  #: ``tojson(indent)``

# Work units (about 10 ns each on one core).
_RUN = 20  # one run of a loop's body, macro, caller or block, plus the units of each node of that body:
_PER_NODE = 50  # a node that does something (an attribute, a filter, a call, an operator, an output, an if)
_NODE_UNITS = {nodes.TemplateData: 2, nodes.Const: 2, nodes.Name: 5, nodes.Keyword: 0, nodes.Pair: 0, nodes.Output: 80}
_CALL = 400  # a call: macro, method, global
_FILTER = 10  # a filter with checks, plus per character or per item of its input
_PER_ITEM = 2  # each item of a collection a filter receives
_BINOP = 60  # an intercepted operator
_VISIT = 20  # each value visited to weigh a collection
_ITEM = 50  # each item a lazy filter yields
_WORD = 100  # each word of lorem ipsum
_CHECK_EVERY = 2_000  # units between two reads of the clock
_SMALL = 256  # a filter's input or result this short (characters or items) is not charged
_PIECE = 4  # values joined into one piece of output before its size is checked
#: Lazy filters doing more for each item than passing it on (calling a filter or a test): units per item.
_PER_LAZY_ITEM = {"map": 250, "select": 150, "reject": 150, "selectattr": 150, "rejectattr": 150}
#: Filters doing Python-level work for each character of their input: units per character.
_PER_CHAR = {"urlize": 40, "wordwrap": 15, "unique": 15, "title": 8, "urlencode": 4, "wordcount": 3, "striptags": 3}


class _Unknown:
    """A value the static check cannot know before rendering."""

    def __repr__(self) -> str:
        return "<unknown>"


_UNKNOWN: Final = _Unknown()
_END: Final = object()
#: Method names that modify a list, dict, set or deque (refused by the immutable sandbox).
_MUTATORS = frozenset(
    {"add", "append", "appendleft", "clear", "difference_update", "discard", "extend", "extendleft", "insert"}
    | {"intersection_update", "pop", "popitem", "popleft", "remove", "reverse", "rotate", "setdefault", "sort"}
    | {"symmetric_difference_update", "update"}
)
_LAZY = (GeneratorType, map, filter, reversed, zip)
_VIEWS: tuple[type[Collection[Any]], ...] = (type({}.keys()), type({}.values()), type({}.items()))
_COLLECTIONS: tuple[type[Collection[Any]], ...] = (list, tuple, dict, set, frozenset, *_VIEWS)
_SIZED: tuple[type[Collection[Any]], ...] = (str, bytes, *_COLLECTIONS)
_CONTAINERS: tuple[type, ...] = (*_COLLECTIONS, Namespace)


def _over(what: str, size: int, limit: int, unit: str) -> OverflowError:
    return OverflowError(f"{what} of {size:,} {unit} is over the limit of {limit:,}")


class _Budget:
    """What one rendering may still spend: work units, characters, call depth, and a deadline."""

    __slots__ = ("chars", "checkpoint", "deadline", "depth", "steps", "weights")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.checkpoint = MAX_STEPS - _CHECK_EVERY
        self.chars = MAX_ALLOCATED
        self.depth = 0
        self.deadline = 0.0  # set at the first check: the work before it is at most _CHECK_EVERY units
        self.weights: dict[int, tuple[Any, int]] = {}  # id -> (collection, weight), see _weigh

    def spend(self, units: int) -> None:
        self.steps -= units
        if self.steps < self.checkpoint:
            self.check()

    def check(self) -> None:
        if self.steps < 0:
            raise TimeoutError(f"rendering takes more than {MAX_STEPS:,} steps")
        now = time.thread_time()
        if not self.deadline:
            self.deadline = now + MAX_SECONDS
        elif now > self.deadline:
            raise TimeoutError(f"rendering takes more than {MAX_SECONDS * 1000:.0f} ms")
        self.checkpoint = self.steps - _CHECK_EVERY

    def allocate(self, chars: int) -> None:
        self.chars -= chars
        if self.chars < 0:
            raise OverflowError(f"rendering makes more than {MAX_ALLOCATED:,} characters of text")

    def iterate(self, iterable: Iterable[Any], units: int) -> Iterator[Any]:
        for item in iterable:
            self.steps -= units
            if self.steps < self.checkpoint:
                self.check()
            yield item


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _weigh(value: Any, budget: _Budget | None, indent: int = 0, units: int = _VISIT) -> int:
    """About how many characters ``str(value)`` has, nested collections included; stops once over ``MAX_TEXT``.

    Templates cannot change lists and dicts, so the weight of a collection is remembered for the rest of the
    rendering: a structure that shares its parts (a tuple of ten copies of a tuple of ten ...) is weighed once
    per part, not once per path. A collection holding a namespace (which ``{% set ns.x = ... %}`` changes) is
    weighed again each time.
    """
    if isinstance(value, (str, bytes)):
        return len(value)
    weights = budget.weights if budget is not None and not indent else None
    total = 0
    visited = 0
    changing = 0  # the frames at the bottom of the stack that hold a namespace
    stack: list[tuple[Iterator[Any], int, Any, int]] = [(iter((value,)), 0, None, 0)]
    while stack and total <= MAX_TEXT:
        items, depth, container, start = stack[-1]
        item: Any
        for item in items:
            visited += 1
            total += indent * depth
            kind = type(item)
            if kind is str or kind is Markup or kind is bytes:
                total += len(item) + 4
            elif kind is int:
                total += item.bit_length() // 3 + 3
            elif isinstance(item, _COLLECTIONS):
                known = weights.get(id(item)) if weights is not None else None
                if known is not None and known[0] is item:
                    total += known[1]
                else:
                    entries = item.items() if isinstance(item, dict) else item
                    stack.append((iter(entries), depth + 1, _cacheable(item), total))
                    total += 4
                    visited += 2  # entering a collection costs about three values
                    break
            elif isinstance(item, Namespace):
                changing = len(stack)
                stack.append((iter(item._Namespace__attrs.items()), depth + 1, None, total))
                total += 14
                break
            elif isinstance(item, (str, bytes)):
                total += len(item) + 4
            elif isinstance(item, int):
                total += item.bit_length() // 3 + 3
            elif item is not _UNKNOWN:
                total += 24
            if total > MAX_TEXT:
                break
        else:
            stack.pop()
            if len(stack) < changing:
                changing = len(stack)
            elif weights is not None and container is not None:
                weights[id(container)] = (container, total - start)
    if budget is not None:
        budget.spend(visited * units)
    return total


def _cacheable(item: Collection[Any]) -> Collection[Any] | None:
    return item if len(item) >= 8 and not isinstance(item, _VIEWS) else None


def _checked(value: Any, budget: _Budget | None, item_units: int = _ITEM) -> Any:
    """``value`` if it is within the bounds (a lazy sequence comes back counted), else ``OverflowError``."""
    if isinstance(value, str):
        size = len(value)
        if size > MAX_TEXT:
            raise _over("a text", size, MAX_TEXT, "characters")
        if budget is not None:
            budget.allocate(size)
    elif isinstance(value, _CONTAINERS):
        size = _weigh(value, budget)
        if size > MAX_TEXT:
            raise _over(f"a {type(value).__name__}", size, MAX_TEXT, "characters")
    elif isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise _over("a number", value.bit_length(), MAX_INT_BITS, "bits")
    elif isinstance(value, bytes):
        if len(value) > MAX_TEXT:
            raise _over("a text", len(value), MAX_TEXT, "bytes")
        if budget is not None:
            budget.allocate(len(value))
    elif budget is not None and isinstance(value, _LAZY):
        return budget.iterate(value, item_units)
    return value


def _check_size(what: str, size: int, limit: int = MAX_TEXT, unit: str = "characters") -> None:
    if size > limit:
        raise _over(what, size, limit, unit)


def _digits(text: str) -> int:
    return int(text) if len(text) < 10 else 10**10


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


# --- operators ----------------------------------------------------------------------------------------------

_PRINTF = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.?)", re.S)
_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "**": operator.pow,
    "%": operator.mod,
}


def _printf_size(fmt: str, args: Any, budget: _Budget | None) -> int:
    """An upper bound of the length of ``fmt % args``, from its fields, their widths and their values."""
    positional = args if isinstance(args, tuple) else (args,)
    mapping = args if isinstance(args, Mapping) else {}
    size = len(fmt)
    index = 0
    for match in _PRINTF.finditer(fmt):
        key, width, precision, kind = match.groups()
        if kind == "%":
            continue
        sizes = [0]
        for part in (width, precision):
            if part == "*":
                star = positional[index] if index < len(positional) else 0
                index += 1
                sizes.append(abs(star) if isinstance(star, int) else 0)
            elif part:
                sizes.append(_digits(part))
        if key is not None:
            value = mapping.get(key, _UNKNOWN)
        elif index < len(positional):
            value = positional[index]
            index += 1
        else:
            value = _UNKNOWN
        size += max(*sizes, _weigh(value, budget))
        if size > MAX_TEXT:
            break
    return size


def _check_binop(op: str, left: Any, right: Any, budget: _Budget | None) -> None:
    """Refuse an operation whose result would break a bound, before it is computed."""
    if op == "*":
        if isinstance(left, int) and isinstance(right, int):
            _check_size("a number", left.bit_length() + right.bit_length(), MAX_INT_BITS, "bits")
            return
        seq, times = (left, right) if isinstance(right, int) else (right, left)
        if not isinstance(times, int) or times < 2:
            return
        if isinstance(seq, (str, bytes)):
            _check_size("a text", len(seq) * times)
        elif isinstance(seq, (list, tuple)):
            _check_size(f"a {type(seq).__name__}", _weigh(seq, budget) * times)
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 1 and abs(left) > 1:
            bits = right if right > MAX_INT_BITS else math.ceil(right * math.log2(abs(left)))
            _check_size("a number", bits, MAX_INT_BITS, "bits")
    elif op == "+":
        if isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)):
            _check_size("a text", len(left) + len(right))
        elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            _check_size(f"a {type(left).__name__}", _weigh(left, budget) + _weigh(right, budget))
    elif op == "%" and isinstance(left, str):
        _check_size("a text", _printf_size(left, right, budget))


# --- globals ------------------------------------------------------------------------------------------------


def _range(*args: int) -> range:
    """``range`` of at most ``MAX_RANGE`` items."""
    rng = range(*args)
    _check_size("a range", max(0, -((rng.start - rng.stop) // rng.step)), MAX_RANGE, "items")
    return rng


def _check_lipsum(n: Any = 5, html: Any = True, min: Any = 20, max: Any = 100) -> None:
    if isinstance(n, int):
        _check_size("lorem ipsum", n, MAX_LIPSUM, "paragraphs")
    for words in (min, max):
        if isinstance(words, int):
            _check_size("a lorem ipsum paragraph", words, MAX_LIPSUM_WORDS, "words")


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """``lipsum`` of at most ``MAX_LIPSUM`` paragraphs of at most ``MAX_LIPSUM_WORDS`` words."""
    _check_lipsum(n, html, min, max)
    budget = _BUDGET.get()
    if budget is not None and isinstance(n, int) and isinstance(max, int):
        budget.spend(_WORD * n * max)
    return generate_lorem_ipsum(n, html, min, max)


class _Namespace(Namespace):
    """``namespace()`` whose printed form is bounded like any collection."""

    def __repr__(self) -> str:
        _checked(self, _BUDGET.get())
        return super().__repr__()


# --- methods of texts ---------------------------------------------------------------------------------------

_Check = Callable[[Any, tuple[Any, ...], Mapping[str, Any], "_Budget | None"], "tuple[Any, ...] | None"]


def _replaced_size(text: Any, old: Any, new: Any, count: Any) -> int:
    if not (isinstance(text, (str, bytes)) and isinstance(old, type(text)) and isinstance(new, type(text))):
        return 0
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _width_method(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    width = _arg(args, kwargs, 0, "width", 0)
    if isinstance(width, int):
        _check_size("a text", width)


def _expandtabs_method(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    size = _arg(args, kwargs, 0, "tabsize", 8)
    if isinstance(size, int):
        tab = "\t" if isinstance(text, str) else b"\t"
        _check_size("a text", len(text) + text.count(tab) * size)


def _replace_method(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    count = _arg(args, kwargs, 2, "count", -1)
    _check_size("a text", _replaced_size(text, _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new"), count))


def _join_method(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> tuple[Any]:
    items = list(args[0])
    _check_size("a text", sum(_weigh(item, budget) for item in items) + len(text) * len(items))
    if budget is not None:
        budget.spend(_ITEM * len(items))
    return (items,)


def _translate_method(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    table = _arg(args, kwargs, 0, "table")
    if isinstance(table, Mapping):
        longest = max((len(v) for v in table.values() if isinstance(v, (str, bytes))), default=1)
        _check_size("a text", len(text) * longest)


def _format_method(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    for _, _, spec, _ in Formatter().parse(text):
        for digits in re.findall(r"\d+", spec or ""):
            _check_size("a text", _digits(digits))


_TEXT_METHODS: dict[str, _Check] = {
    "center": _width_method,
    "ljust": _width_method,
    "rjust": _width_method,
    "zfill": _width_method,
    "expandtabs": _expandtabs_method,
    "replace": _replace_method,
    "join": _join_method,
    "translate": _translate_method,
    "format": _format_method,  # at render time ``str.format`` counts its fields as it goes (see _SizedFields)
}


def _check_method(
    obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None
) -> tuple[Any, ...]:
    """Refuse a call of a text's method whose result would break a bound, before it runs."""
    owner = getattr(obj, "__self__", None)
    if isinstance(owner, (str, bytes)):
        check = _TEXT_METHODS.get(getattr(obj, "__name__", ""))
        if check is not None:
            return check(owner, args, kwargs, budget) or args
    elif isinstance(owner, int) and getattr(obj, "__name__", "") == "to_bytes":
        length = _arg(args, kwargs, 0, "length", 1)
        if isinstance(length, int):
            _check_size("a text", length, MAX_TEXT, "bytes")
    return args


class _SizedFields(Formatter):
    """``str.format`` that adds up the size of its fields and stops once over ``MAX_TEXT``."""

    _size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        widths = [_digits(d) for d in re.findall(r"\d+", format_spec)]
        self._size += max(_weigh(value, _BUDGET.get()), *widths, 0)
        _check_size("a text", self._size)
        return super().format_field(value, format_spec)


class _Formatter(_SizedFields, SandboxedFormatter):
    pass


class _EscapeFormatter(_SizedFields, SandboxedEscapeFormatter):
    pass


# --- filters ------------------------------------------------------------------------------------------------


def _default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """``default`` that also treats null and "" as missing: ``first_name | default("there")``."""
    if isinstance(value, Undefined) or value is None or value == "" or (boolean and not value):
        return fallback
    return value


def _short(text: str) -> str:
    """``text``, checked against the bounds and charged to the budget when it is long."""
    return text if len(text) <= _SMALL else _checked(text, _BUDGET.get())


# --- formatting in the reader's time zone and language ------------------------------------------------------
#
# ``date``, ``time``, ``datetime``, ``money``, ``number`` and ``percent`` format with Babel (the CLDR data) in
# the time zone and language of the run: ``contact.timezone`` and ``contact.locale``, else the automation's
# (``automation.timezone``, ``automation.locale``), else UTC and English. An unknown zone or language is passed
# over for the next one and reported in the log once per value, never failing the rendering; a value that cannot
# be formatted (not a timestamp, not a number, an unknown currency or pattern) is a ``TemplateError``. A missing
# value (undefined, null or "") prints as nothing, as it does without a filter. Babel is imported by the first
# filter that formats, not with this module, so that a cold start that renders nothing does not pay for it.

#: The named formats of ``date``, ``time`` and ``datetime`` (the default is ``medium``); any other format is a
#: CLDR pattern such as ``EEEE d MMMM, HH:mm``.
DATE_FORMATS: Final = ("short", "medium", "long", "full")
DEFAULT_ZONE: Final = "UTC"  #: when neither the contact nor the automation names a known time zone
DEFAULT_LOCALE: Final = "en"  #: when neither the contact nor the automation names a known language
MAX_PATTERN: Final = 100  #: characters of a date or number pattern
MAX_NUMBER_DIGITS: Final = 21  #: digits before the decimal point of a number the filters format

#: Each formatting filter's arguments, in order (``money`` needs its currency).
_FORMAT_FILTERS: Final = {
    "date": ("format",),
    "time": ("format",),
    "datetime": ("format",),
    "money": ("currency",),
    "number": ("format",),
    "percent": ("format",),
}
_FORMAT_UNITS = 1_500  # one formatting by Babel (about 15 µs)
_MAX_VALUE = 64  # characters of a timestamp, number or currency given as text
_MAX_TAG = 64  # characters of a language tag or time zone name
_MAX_REPORTED = 1_000  # distinct unknown values one process reports in the log
_REPORTED: set[tuple[str, str]] = set()
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_NOT_ZONES = frozenset({"localtime", "posixrules"})  # the host's settings, not zones
_STRFTIME = re.compile(r"%[A-Za-z]")
_QUOTED = re.compile(r"'([^']*)'")
_JOINED = re.compile(r"\{([01])\}")
_DIGITS = re.compile(r"[0#@]")


def parse_locale(text: str) -> Locale | None:
    """The language of a BCP 47 tag (``de-CH``) or a locale name (``de_CH``), or None if Babel has no data for it.

    A tag more precise than the data is matched by its longest known prefix, as in BCP 47 lookup (RFC 4647):
    ``de-CH-1996`` is ``de_CH`` and ``fr-XX`` is ``fr``; extensions (``-u-…``, ``-x-…``) are ignored, and the
    undetermined ``und`` is not a language.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TAG:
        return None
    return _parse_locale(text.strip())


@lru_cache(maxsize=256)
def _parse_locale(text: str) -> Locale | None:
    from babel import Locale

    subtags: list[str] = []
    for subtag in re.split(r"[-_]", text):
        if len(subtag) <= 1:  # an extension's singleton, or an empty subtag
            break
        subtags.append(subtag)
    if not subtags or subtags[0].lower() in ("und", "root") or not subtags[0].isalpha():
        return None
    while subtags:
        try:
            return Locale.parse("_".join(subtags))
        except Exception:  # unknown (UnknownLocaleError) or malformed (ValueError)
            subtags.pop()
    return None


def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone (``Europe/Lisbon``, ``UTC``) this process can convert to."""
    return _zone(name) is not None


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo | None:
    if not isinstance(name, str) or len(name) > _MAX_TAG or name in _NOT_ZONES or not _ZONE_NAME.fullmatch(name):
        return None
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except (LookupError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError; a folder is an OSError
        return None


def _report(what: str, source: str, value: Any) -> None:
    """Log, once per value and process, that a ``source``'s ``what`` is unknown and the next one is used."""
    text = repr(value)[:_MAX_TAG]
    if (what, text) in _REPORTED or len(_REPORTED) >= _MAX_REPORTED:
        return
    _REPORTED.add((what, text))
    import logging

    logging.getLogger(__name__).warning(
        f"unknown {what} in the {source}'s settings, formatting with the next one",
        extra={"setting": what, "source": source, "value": text},
    )


def _setting(context: Context, key: str, what: str, resolve: Callable[[str], _T | None], default: str) -> _T:
    for source in ("contact", "automation"):
        holder = context.get(source)
        if not isinstance(holder, Mapping):
            continue
        value = holder.get(key)
        if value is None or value == "" or isinstance(value, Undefined):
            continue
        found = resolve(value) if isinstance(value, str) else None
        if found is not None:
            return found
        _report(what, source, value)
    found = resolve(default)
    assert found is not None
    return found


def _locale(context: Context) -> Locale:
    return _setting(context, "locale", "locale", parse_locale, DEFAULT_LOCALE)


def _zone_of(context: Context) -> tzinfo:
    return _setting(context, "timezone", "time zone", _zone, DEFAULT_ZONE)


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, Undefined) or (isinstance(value, str) and not value.strip())


def _moment(name: str, value: Any) -> date | datetime:
    """A timestamp (UTC when it names no offset) or a calendar date, from a datetime, a date or ISO-8601 text."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) <= _MAX_VALUE:
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise TemplateError(f"{name}: {_shown(value)} is not an ISO-8601 date or timestamp")


def _amount(name: str, value: Any) -> Decimal:
    """A finite number of at most ``MAX_NUMBER_DIGITS`` digits before the point, from a number or its text."""
    from decimal import Decimal, InvalidOperation

    amount: Decimal | None = None
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value if value.bit_length() <= 4 * MAX_NUMBER_DIGITS else 10**MAX_NUMBER_DIGITS)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str) and len(value) <= _MAX_VALUE:
        try:
            amount = None if "_" in value else Decimal(value.strip())
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite():
        raise TemplateError(f"{name}: {_shown(value)} is not a number")
    if amount.adjusted() >= MAX_NUMBER_DIGITS:
        raise TemplateError(f"{name}: {_shown(value)} has more than {MAX_NUMBER_DIGITS} digits")
    return amount


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "...'"


def _date_format(name: str, fmt: Any) -> str:
    """``fmt`` if it names a format or is a valid CLDR date pattern, else a ``TemplateError`` saying why."""
    if fmt is None or isinstance(fmt, Undefined):
        return "medium"
    if not isinstance(fmt, str):
        raise TemplateError(f"{name}: the format must be a text, not {type(fmt).__name__}")
    if fmt in DATE_FORMATS:
        return fmt
    _check_date_pattern(name, fmt)
    return fmt


#: Pattern fields of the calendar (era, year, quarter, month, week, day, weekday) and of the clock (period, hour,
#: minute, second, zone name): Babel cannot format the first from a time of day, nor the second from a date.
_DATE_FIELDS = frozenset("GyYuUrQqMLlwWdDFgEec")
_CLOCK_FIELDS = frozenset("abBhHKkmsSAzvV")


@lru_cache(maxsize=256)
def _check_date_pattern(name: str, pattern: str) -> None:
    choices = "short, medium, long, full or a pattern such as 'EEEE d MMMM y, HH:mm'"
    if pattern.lower() in DATE_FORMATS:
        raise TemplateError(f"{name}: unknown format {pattern!r} ({choices})")
    if len(pattern) > MAX_PATTERN:
        raise TemplateError(f"{name}: a pattern has at most {MAX_PATTERN} characters")
    if _STRFTIME.search(_QUOTED.sub("", pattern)):
        raise TemplateError(f"{name}: {pattern!r} is a strftime format; use {choices}")
    if pattern.replace("''", "").count("'") % 2:
        raise TemplateError(f"{name}: the pattern {pattern!r} has an unclosed quote")
    from babel.dates import PATTERN_CHARS, parse_pattern

    letters = {char for char in _QUOTED.sub("", pattern) if char.isascii() and char.isalpha()}
    unknown = sorted(letters - set(PATTERN_CHARS))
    if unknown:
        raise TemplateError(f"{name}: {unknown[0]!r} is not a field of a date pattern ({choices})")
    # A time of day has no calendar fields, and a date no clock fields: refused here, not when a run renders.
    if name == "time" and (fields := sorted(letters & _DATE_FIELDS)):
        raise TemplateError(f"time: {fields[0]!r} is a field of a date, not of a time of day; use datetime")
    if name == "date" and (fields := sorted(letters & _CLOCK_FIELDS)):
        raise TemplateError(f"date: {fields[0]!r} is a field of a time of day, not of a date; use datetime")
    try:
        parse_pattern(pattern)
    except ValueError as exc:
        raise TemplateError(f"{name}: {exc}") from None


def _number_format(name: str, fmt: Any) -> str | None:
    if fmt is None or isinstance(fmt, Undefined):
        return None
    if not isinstance(fmt, str):
        raise TemplateError(f"{name}: the format must be a text, not {type(fmt).__name__}")
    _check_number_pattern(name, fmt)
    return fmt


@lru_cache(maxsize=256)
def _check_number_pattern(name: str, pattern: str) -> None:
    if len(pattern) > MAX_PATTERN:
        raise TemplateError(f"{name}: a pattern has at most {MAX_PATTERN} characters")
    if not _DIGITS.search(_QUOTED.sub("", pattern)):
        raise TemplateError(f"{name}: {pattern!r} is not a number pattern such as '#,##0.00'")
    from babel.numbers import parse_pattern

    try:
        parse_pattern(pattern)
    except Exception as exc:  # NumberFormatError (a ValueError) and whatever a malformed pattern raises
        raise TemplateError(f"{name}: {pattern!r} is not a number pattern: {exc}") from None


def _currency(currency: Any) -> str:
    """An ISO 4217 currency code (``EUR``; case does not matter), else a ``TemplateError``."""
    if _missing(currency):
        raise TemplateError("money: no currency (an ISO 4217 code such as 'EUR')")
    if not isinstance(currency, str) or len(currency) > _MAX_VALUE:
        raise TemplateError(f"money: the currency must be a code such as 'EUR', not {_shown(currency)}")
    code = currency.strip().upper()
    if code not in _currencies():
        raise TemplateError(f"money: unknown currency {currency!r}")
    return code


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def _check_format_argument(name: str, parameter: str, value: Any) -> None:
    """Refuse, when the template is checked, a literal argument the filter would refuse when it renders."""
    if parameter == "currency":
        _currency(value)
    elif name in ("date", "time", "datetime"):
        _date_format(name, value)
    else:
        _number_format(name, value)


def _formatted(name: str, format: Callable[[], str]) -> str:
    """Run one formatting, charged to the budget; any failure of it is a ``TemplateError`` naming the filter."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(_FORMAT_UNITS)
    try:
        text = format()
    except TemplateError:
        raise
    except Exception as exc:
        raise TemplateError(f"{name}: {type(exc).__name__}: {exc}") from None
    return _short(text)


def _join_date_time(pattern: str, date_text: str, time_text: str) -> str:
    """Fill a CLDR date-time joining pattern (``{1} 'um' {0}``): quotes removed, ``''`` as one quote."""
    joined = _QUOTED.sub(lambda found: found.group(1) or "'", pattern)
    return _JOINED.sub(lambda found: date_text if found.group(1) == "1" else time_text, joined)


@pass_context
def _date_filter(context: Context, value: Any, format: Any = None) -> str:
    """A calendar date, in the reader's time zone when it is a timestamp: ``{{ data.due | date('long') }}``."""
    if _missing(value):
        return ""
    moment = _moment("date", value)
    pattern = _date_format("date", format)
    locale = _locale(context)
    zone = _zone_of(context) if isinstance(moment, datetime) else None

    def formatted() -> str:
        from babel.dates import format_date

        day = moment.astimezone(zone).date() if isinstance(moment, datetime) else moment
        return format_date(day, pattern, locale=locale)

    return _formatted("date", formatted)


@pass_context
def _time_filter(context: Context, value: Any, format: Any = None) -> str:
    """A time of day in the reader's time zone: ``{{ data.session.starts_at | time('short') }}``."""
    if _missing(value):
        return ""
    moment = _moment("time", value)
    if not isinstance(moment, datetime):
        raise TemplateError(f"time: {_shown(value)} is a date, with no time of day")
    pattern = _date_format("time", format)
    locale = _locale(context)
    zone = _zone_of(context)

    def formatted() -> str:
        from babel.dates import format_time

        return format_time(moment, pattern, tzinfo=zone, locale=locale)

    return _formatted("time", formatted)


@pass_context
def _datetime_filter(context: Context, value: Any, format: Any = None) -> str:
    """A date and time in the reader's time zone: ``{{ data.session.starts_at | datetime('full') }}``.

    A date alone formats as a date. The long and full forms join the date and the time as a moment ("Tuesday,
    December 1, 2026 at 10:00:00 AM …", "Dienstag, 1. Dezember 2026 um 10:00:00 …"), as ICU does.
    """
    if _missing(value):
        return ""
    moment = _moment("datetime", value)
    pattern = _date_format("datetime", format)
    locale = _locale(context)
    zone = _zone_of(context) if isinstance(moment, datetime) else None

    def formatted() -> str:
        from babel.dates import format_date, format_datetime, format_time, get_datetime_format

        if not isinstance(moment, datetime):
            return format_date(moment, pattern, locale=locale)
        if pattern not in DATE_FORMATS:
            return format_datetime(moment, pattern, tzinfo=zone, locale=locale)
        local = moment.astimezone(zone)
        named = cast("Literal['short', 'medium', 'long', 'full']", pattern)
        joining = locale.datetime_formats_relative.get(named) if named in ("long", "full") else None
        return _join_date_time(
            str(joining or get_datetime_format(named, locale=locale)),
            format_date(local, pattern, locale=locale),
            format_time(local, pattern, tzinfo=zone, locale=locale),
        )

    return _formatted("datetime", formatted)


@pass_context
def _money_filter(context: Context, value: Any, currency: Any = None) -> str:
    """An amount in a currency, as the reader writes it: ``{{ 640 | money('EUR') }}`` is ``640,00 €`` in German."""
    if _missing(value):
        return ""
    amount = _amount("money", value)
    code = _currency(currency)
    locale = _locale(context)

    def formatted() -> str:
        from babel.numbers import format_currency

        return format_currency(amount, code, locale=locale)

    return _formatted("money", formatted)


def _numeric_filter(name: str, babel_function: str, description: str) -> Callable[..., str]:
    """A filter that formats a number with one of Babel's number functions, in the reader's locale, or by a
    CLDR pattern (``#,##0.00``)."""

    @pass_context
    def numeric(context: Context, value: Any, format: Any = None) -> str:
        if _missing(value):
            return ""
        amount = _amount(name, value)
        pattern = _number_format(name, format)
        locale = _locale(context)

        def formatted() -> str:
            from babel import numbers

            return str(getattr(numbers, babel_function)(amount, pattern, locale=locale))

        return _formatted(name, formatted)

    numeric.__doc__ = description
    return numeric


_number_filter = _numeric_filter(
    "number", "format_decimal", "A number as the reader writes it (``1.234,5`` in German), or by a CLDR pattern."
)
_percent_filter = _numeric_filter(
    "percent", "format_percent", "A ratio as a percentage (``0.25`` is ``25%``, ``25 %`` in German), or by a pattern."
)


_FORMATTERS: Final[dict[str, Callable[..., str]]] = {
    "date": _date_filter,
    "time": _time_filter,
    "datetime": _datetime_filter,
    "money": _money_filter,
    "number": _number_filter,
    "percent": _percent_filter,
}


def _center_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    width = _arg(args, kwargs, 0, "width", 80)
    if isinstance(width, int):
        _check_size("a text", width)


def _indent_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    width = _arg(args, kwargs, 0, "width", 4)
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    text = value if isinstance(value, str) else ""
    _check_size("a text", len(text) + (text.count("\n") + 1) * step)


def _wordwrap_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    width = _arg(args, kwargs, 0, "width", 79)
    wrapstring = _arg(args, kwargs, 2, "wrapstring")
    if isinstance(value, str) and isinstance(width, int):
        lines = len(value) // max(width, 1) + value.count("\n") + 1
        _check_size("a text", len(value) + lines * (len(wrapstring) if isinstance(wrapstring, str) else 1))


def _replace_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
    if not isinstance(value, str) or old is _UNKNOWN or new is _UNKNOWN:
        return
    old, new = str(old), str(new)
    _check_size("a text", _replaced_size(str(value), old, new, _arg(args, kwargs, 2, "count")))


def _format_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    if isinstance(value, str):
        _check_size("a text", _printf_size(value, dict(kwargs) or args, budget))


def _batch_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    count = _arg(args, kwargs, 0, "linecount")
    if isinstance(count, int):
        _check_size("a batch", count, MAX_RANGE, "items")


def _slice_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    count = _arg(args, kwargs, 0, "slices")
    if isinstance(count, int):
        _check_size("a slice", count, MAX_RANGE, "items")


def _tojson_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    indent = _arg(args, kwargs, 0, "indent")
    step = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    _check_size("a JSON indent", step, MAX_JSON_INDENT, "characters")
    if value is not _UNKNOWN:
        _check_size("a text", _weigh(value, budget, indent=step + 1))


def _pprint_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget | None) -> None:
    if value is not _UNKNOWN:
        _check_size("a text", _weigh(value, budget, indent=2, units=_VISIT * 8))


_FILTER_CHECKS: dict[str, _Check] = {
    "center": _center_filter,
    "indent": _indent_filter,
    "wordwrap": _wordwrap_filter,
    "replace": _replace_filter,
    "format": _format_filter,
    "batch": _batch_filter,
    "slice": _slice_filter,
    "tojson": _tojson_filter,
    "pprint": _pprint_filter,
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its arguments and result checked against the bounds, and large inputs charged to the budget.

    The call itself is charged with the body it is part of (see ``_bound_runs``); a short input and a short
    result cost nothing more, so that ordinary filters stay fast.
    """
    check = _FILTER_CHECKS.get(name)
    per_char = _PER_CHAR.get(name, 0)
    item_units = _PER_LAZY_ITEM.get(name, _ITEM)
    skip = 0 if getattr(func, "jinja_pass_arg", None) is None else 1

    def bounded(*args: Any, **kwargs: Any) -> Any:
        value: Any = args[skip] if len(args) > skip else None
        if check is not None or per_char:
            budget = _BUDGET.get()
            if check is not None:
                check(value, args[skip + 1 :], kwargs, budget)
            if budget is not None:
                if isinstance(value, str):
                    budget.spend(_FILTER + per_char * len(value))
                elif isinstance(value, _COLLECTIONS):
                    budget.spend(_FILTER + (per_char + _PER_ITEM) * len(value))
        elif isinstance(value, _SIZED) and len(value) > _SMALL:
            budget = _BUDGET.get()
            if budget is not None:
                budget.spend(len(value) >> 3 if isinstance(value, str) else _PER_ITEM * len(value))
        result = func(*args, **kwargs)
        if (type(result) is str or type(result) is Markup) and len(result) <= _SMALL:
            return result
        return _checked(result, _BUDGET.get(), item_units)

    return update_wrapper(bounded, func)


def _bounded_join(func: Callable[..., str]) -> Callable[..., str]:
    """``join`` that adds up the size of the items before joining them."""

    @pass_eval_context
    def join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
        budget = _BUDGET.get()
        items = list(value)
        if attribute is not None:
            items = list(map(make_attrgetter(eval_ctx.environment, attribute), items))
        if budget is not None:
            budget.spend(_FILTER + _ITEM * len(items))
        separator = len(d) if isinstance(d, str) else _weigh(d, budget)
        _check_size("a text", sum(_weigh(item, budget) for item in items) + separator * len(items))
        return _checked(func(eval_ctx, items, d), budget)  # type: ignore[no-any-return]

    return join


def _bounded_loop(iterable: Iterable[Any], units: int) -> Iterable[Any]:
    """The iterable of a ``{% for %}``, each iteration charged ``units`` (set when the template compiles)."""
    budget = _BUDGET.get()
    return iterable if budget is None else budget.iterate(iterable, max(units, _RUN))


def _bounded_run(value: None, units: int) -> None:
    """Charge one run of a macro, caller, block or recursive loop body ``units`` (set when the template compiles)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(max(units, _RUN))


def _charge_search(container: Any) -> None:
    """Charge a search through a text (1 unit per 8 characters) or a list (2 units per item)."""
    if isinstance(container, (str, bytes)):
        units = len(container) >> 3
    elif isinstance(container, (list, tuple)):
        units = len(container) * _PER_ITEM
    else:
        return
    budget = _BUDGET.get()
    if units and budget is not None:
        budget.spend(units)


def _test_in(value: Any, seq: Any) -> bool:
    """The ``in`` test, charged like the ``in`` operator."""
    _charge_search(seq)
    return value in seq


def _concat(parts: Iterable[str]) -> str:
    """Join the output a macro, block or ``{% set %}`` buffers, within the bounds."""
    if not isinstance(parts, list):
        parts = list(parts)
    size = sum(map(len, parts))
    _check_size("a text", size)
    budget = _BUDGET.get()
    if budget is not None:
        budget.allocate(size)
    return "".join(parts)


# --- environment --------------------------------------------------------------------------------------------


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles without evaluating anything, and checks the texts and collections a template builds."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: CodeGenerator._FinalizeInfo) -> str:
        if not isinstance(node, (nodes.TemplateData, nodes.Const)):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def visit_EvalContextModifier(self, node: nodes.EvalContextModifier, frame: Frame) -> None:
        for keyword in node.options:
            self.writeline(f"context.eval_ctx.{keyword.key} = ")
            self.visit(keyword.value, frame)
            if isinstance(keyword.value, nodes.Const):
                setattr(frame.eval_ctx, keyword.key, keyword.value.value)
            else:
                frame.eval_ctx.volatile = True

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        """Outside buffers, yield a piece per few children, not one per child: the rendering checks each piece.

        A piece joins at most ``_PIECE`` values, so that at most that many values are made before the size of
        the output is checked again.
        """
        if frame.buffer is not None or len(node.nodes) < 2:
            super().visit_Output(node, frame)
            return
        if frame.require_output_check:
            if self.has_known_extends:
                return
            self.writeline("if parent_template is None:")
            self.indent()
        finalize = self._make_finalize()
        values = _PIECE
        for child in node.nodes:
            if values == _PIECE:
                if child is not node.nodes[0]:
                    self.outdent()
                    self.writeline("))")
                self.writeline("yield ''.join((")
                self.indent()
                values = 0
            if isinstance(child, nodes.TemplateData):
                self.writeline(repr(self._output_child_to_const(child, frame, finalize)) + ",")
                continue
            values += 1
            self.newline(child)
            self._output_child_pre(child, frame, finalize)
            self.visit(child, frame)
            self._output_child_post(child, frame, finalize)
            self.write(",")
        self.outdent()
        self.writeline("))")
        if frame.require_output_check:
            self.outdent()

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: CodeGenerator._FinalizeInfo) -> None:
        if frame.buffer is not None:  # output kept for a macro, block, caller or {% set %}: counted as made
            self.write("environment.checked(")
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: CodeGenerator._FinalizeInfo) -> None:
        super()._output_child_post(node, frame, finalize)
        if frame.buffer is not None:
            self.write(")")

    def visit_Operand(self, node: nodes.Operand, frame: Frame) -> None:
        if node.op not in ("in", "notin"):
            super().visit_Operand(node, frame)
            return
        self.write(" in " if node.op == "in" else " not in ")
        self.write("environment.searched(")
        self.visit(node.expr, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked(")
        super().visit_Concat(node, frame)
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        if all(isinstance(item, nodes.Const) for item in node.items):
            super().visit_List(node, frame)
            return
        self.write("environment.checked(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load" or all(isinstance(item, nodes.Const) for item in node.items):
            super().visit_Tuple(node, frame)
            return
        self.write("environment.checked(")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        if all(isinstance(item.key, nodes.Const) and isinstance(item.value, nodes.Const) for item in node.items):
            super().visit_Dict(node, frame)
            return
        self.write("environment.checked(")
        super().visit_Dict(node, frame)
        self.write(")")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with every bound of a rendering enforced (see the module's description)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator
    concat = staticmethod(_concat)

    def __init__(self, **options: Any) -> None:
        super().__init__(optimized=False, **options)
        self.globals.update(range=_range, lipsum=_lipsum, namespace=_Namespace)
        filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}
        filters.update(
            join=_bounded_join(self.filters["join"]),
            default=_default,
            d=_default,
            **_FORMATTERS,
            _bounded_loop=_bounded_loop,
            _bounded_run=_bounded_run,
        )
        self.filters = filters
        self.tests["in"] = _test_in

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_") or is_internal_attribute(obj, attr):
            return False
        return attr not in _MUTATORS or not modifies_known_mutable(obj, attr)

    def checked(self, value: Any) -> Any:
        """``value`` if it is within the bounds; called by compiled templates."""
        return _checked(value, _BUDGET.get())

    def searched(self, value: Any) -> Any:
        """``value``, the right side of ``in``, with the search through it charged to the budget."""
        _charge_search(value)
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _BUDGET.get()
        if budget is not None:
            budget.spend(_BINOP)
        _check_binop(operator, left, right, budget)
        return _checked(self.binop_table[operator](left, right), budget)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _BUDGET.get()
        args = _check_method(obj, args, kwargs, budget)
        if budget is None:
            return _checked(super().call(context, obj, *args, **kwargs), None)
        budget.spend(_CALL)
        if budget.depth >= MAX_DEPTH:
            raise RecursionError(f"calls nest more than {MAX_DEPTH} levels deep")
        budget.depth += 1
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        return _checked(result, budget)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, (MethodType, BuiltinMethodType)) or value.__name__ not in ("format", "format_map"):
            return None
        text: Any = value.__self__
        if not isinstance(text, str):
            return None
        kind = type(text)
        is_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            formatter: SandboxedFormatter
            if isinstance(text, Markup):
                formatter = _EscapeFormatter(self, escape=text.escape)
            else:
                formatter = _Formatter(self)
            return kind(formatter.vformat(text, args, kwargs))

        return update_wrapper(wrapper, value)


#: While :func:`shown_undefined` records: where the context's mappings are (by id), and the names shown empty.
_SHOWN: ContextVar[tuple[dict[int, str], list[str]] | None] = ContextVar("shown_undefined", default=None)


class _NoticedUndefined(ChainableUndefined):
    """A missing value (``ChainableUndefined``: it renders empty) whose full name, e.g. ``data.invoice.number``,
    is noted when it is shown while :func:`shown_undefined` records; tests and filters (``is defined``,
    ``default``) do not show it."""

    __slots__ = ()

    def __getattr__(self, name: str) -> ChainableUndefined:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self._further(name)

    def __getitem__(self, name: Any) -> ChainableUndefined:  # type: ignore[override]
        return self._further(name)

    def _further(self, name: Any) -> ChainableUndefined:
        if _SHOWN.get() is None:
            return self
        return type(self)(obj=self._undefined_obj, name=f"{self._undefined_name}.{name}")

    def __str__(self) -> str:
        shown = _SHOWN.get()
        if shown is not None:
            places, names = shown
            prefix = places.get(id(self._undefined_obj))
            name = str(self._undefined_name)
            names.append(f"{prefix}.{name}" if prefix else name)
        return super().__str__()


def _places(value: Any, name: str, places: dict[int, str], depth: int = 0) -> None:
    if isinstance(value, Mapping) and depth < 8:
        if name:
            places.setdefault(id(value), name)
        for key, inner in value.items():
            _places(inner, f"{name}.{key}" if name else str(key), places, depth + 1)


class shown_undefined:
    """Record the names a rendering shows without a value (they render empty), as ``names``: ``with
    shown_undefined(context) as names: render(...)``; the context gives the names their full path."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        places: dict[int, str] = {}
        _places(context, "", places)
        self.names: list[str] = []
        self._state = (places, self.names)

    def __enter__(self) -> list[str]:
        self._token = _SHOWN.set(self._state)
        return self.names

    def __exit__(self, *exc: object) -> None:
        _SHOWN.reset(self._token)


def _make_env(autoescape: bool) -> BoundedEnvironment:
    return BoundedEnvironment(autoescape=autoescape, undefined=_NoticedUndefined, keep_trailing_newline=True)


@lru_cache(maxsize=2)
def environment(autoescape: bool) -> BoundedEnvironment:
    """The sandboxed environment; ``autoescape`` for HTML bodies, plain for subjects and text parts."""
    return _make_env(autoescape)


# --- compiling and checking ---------------------------------------------------------------------------------


def _describe(exc: JinjaTemplateError) -> str:
    message = str(getattr(exc, "message", None) or exc)
    found = re.match(r"No filter named '([^']+)'", message)
    if found:
        return f"unknown filter '{found.group(1)}'"
    found = re.match(r"No test named '([^']+)'", message)
    if found:
        return f"unknown test '{found.group(1)}'"
    return message.rstrip(".")


def _parse(env: BoundedEnvironment, source: str) -> nodes.Template:
    """The template's tree, refusing brackets nested deeper than ``MAX_BRACKETS`` before parsing."""
    parser: Parser | None = None
    try:
        depth = 0
        for line, kind, value in env.lex(source):
            if kind == "operator" and value in ("(", "[", "{"):
                depth += 1
                if depth > MAX_BRACKETS:
                    raise TemplateError(f"brackets nest more than {MAX_BRACKETS} levels deep", line)
            elif kind == "operator" and value in (")", "]", "}"):
                depth -= 1
        parser = Parser(env, source)
        return parser.parse()
    except TemplateError:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateError(_describe(exc), exc.lineno) from None
    except RecursionError:
        raise TemplateError("the template nests too deeply", _parsed_line(parser)) from None
    except Exception as exc:  # a literal Python refuses (an integer of more than 4300 digits)
        raise TemplateError(f"{type(exc).__name__}: {exc}", _parsed_line(parser)) from None


def _parsed_line(parser: Parser | None) -> int | None:
    return None if parser is None else parser.stream.current.lineno


def _check_names(env: BoundedEnvironment, tree: nodes.Template) -> None:
    """Jinja defers unknown filters and tests inside ``{% if %}`` and ``x if y else z`` to render time.

    The environment's own filters (``_bounded_loop``, ``_bounded_run``) are unknown to templates.
    """
    unknown = [
        (node.lineno, "test" if isinstance(node, nodes.Test) else "filter", node.name)
        for node in tree.find_all((nodes.Filter, nodes.Test))
        if node.name not in (env.tests if isinstance(node, nodes.Test) else env.filters) or node.name.startswith("_")
    ]
    if unknown:
        line, kind, name = min(unknown)
        raise TemplateError(f"unknown {kind} '{name}'", line)


def _check_formats(tree: nodes.Template) -> None:
    """Refuse a formatting filter given arguments it does not take, or a literal format or currency it refuses.

    A format or currency that is not a literal (``money(data.invoice.currency)``) is checked when it renders.
    """
    for node in tree.find_all(nodes.Filter):
        parameters = _FORMAT_FILTERS.get(node.name)
        if parameters is None or node.dyn_args is not None or node.dyn_kwargs is not None:
            continue
        takes = f"filter '{node.name}' takes at most one argument: {parameters[0]}"
        if len(node.args) > len(parameters):
            raise TemplateError(takes, node.lineno)
        given: dict[str, nodes.Expr] = dict(zip(parameters, node.args, strict=False))
        for keyword in node.kwargs:
            key = str(keyword.key)
            if key not in parameters or key in given:
                raise TemplateError(takes, node.lineno)
            given[key] = keyword.value
        if node.name == "money" and "currency" not in given:
            raise TemplateError("filter 'money' needs a currency, as in money('EUR')", node.lineno)
        for parameter, argument in given.items():
            if isinstance(argument, nodes.Const):
                try:
                    _check_format_argument(node.name, parameter, argument.value)
                except TemplateError as exc:
                    raise TemplateError(exc.message, node.lineno) from None


def _static_value(node: nodes.Node, known: Mapping[int, Any]) -> Any:
    """The value of a constant expression, checked against the bounds; ``_UNKNOWN`` if not constant or large.

    Only numbers and short texts are computed, and only after the same check as at render time passed, so that
    checking a template never computes anything large.
    """

    def of(child: nodes.Node | None) -> Any:
        return _UNKNOWN if child is None else known.get(id(child), _UNKNOWN)

    if isinstance(node, nodes.Const):
        return node.value if isinstance(node.value, (int, float, str)) else _UNKNOWN
    if isinstance(node, (nodes.Neg, nodes.Pos)):
        value = of(node.node)
        return (-value if isinstance(node, nodes.Neg) else value) if isinstance(value, (int, float)) else _UNKNOWN
    if isinstance(node, nodes.BinExpr) and node.operator in _BINOPS:
        left, right = of(node.left), of(node.right)
        _check_binop(node.operator, left, right, None)
        if not _worth_computing(node.operator, left, right):
            return _UNKNOWN
        try:
            value = _BINOPS[node.operator](left, right)
        except Exception:
            return _UNKNOWN
        _checked(value, None)
        return value
    if isinstance(node, nodes.List) or (isinstance(node, nodes.Tuple) and node.ctx == "load"):
        items = [of(item) for item in node.items]
        if any(item is _UNKNOWN for item in items) or sum(_weigh(item, None) for item in items) > 1000:
            return _UNKNOWN
        return items if isinstance(node, nodes.List) else tuple(items)
    if isinstance(node, nodes.Concat):
        parts = [of(part) for part in node.nodes]
        _check_size("a text", sum(_weigh(part, None) for part in parts))
        return _UNKNOWN
    if isinstance(node, nodes.Call) and node.dyn_args is None and node.dyn_kwargs is None:
        args = tuple(of(arg) for arg in node.args)
        kwargs = {keyword.key: of(keyword.value) for keyword in node.kwargs}
        if isinstance(node.node, nodes.Name) and node.node.name == "range" and not kwargs:
            if all(isinstance(arg, int) for arg in args):
                _range(*args)
        elif isinstance(node.node, nodes.Name) and node.node.name == "lipsum":
            _check_lipsum(*args, **kwargs)
        elif isinstance(node.node, nodes.Getattr) and isinstance(of(node.node.node), str):
            check = _TEXT_METHODS.get(node.node.attr)
            if check is not None:
                check(of(node.node.node), args, kwargs, None)
        return _UNKNOWN
    if isinstance(node, nodes.Filter) and node.dyn_args is None and node.dyn_kwargs is None:
        check = _FILTER_CHECKS.get(node.name)
        if check is not None:
            args = tuple(of(arg) for arg in node.args)
            check(of(node.node), args, {str(keyword.key): of(keyword.value) for keyword in node.kwargs}, None)
        return _UNKNOWN
    return _UNKNOWN


def _worth_computing(op: str, left: Any, right: Any) -> bool:
    """Whether a constant operation is cheap to compute at check time: numbers, or a short text."""
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return True
    if op == "+":
        return isinstance(left, str) and isinstance(right, str) and len(left) + len(right) <= 1000
    if op == "*":
        text, times = (left, right) if isinstance(left, str) else (right, left)
        return isinstance(text, str) and isinstance(times, int) and len(text) * times <= 1000
    return False


def _check_bounds(tree: nodes.Template) -> None:
    """Refuse what breaks a bound visibly: deep nesting, constant sizes over the limits, recursive macros."""
    known: dict[int, Any] = {}
    stack: list[tuple[nodes.Node, int, int, bool]] = [(tree, 0, 0, False)]
    while stack:
        node, depth, loops, done = stack.pop()
        if not done:
            if depth > MAX_NESTING:
                raise TemplateError(f"the template nests more than {MAX_NESTING} levels deep", node.lineno)
            if isinstance(node, nodes.For):
                loops += 1
                if loops > MAX_LOOP_NESTING:
                    raise TemplateError(f"loops nest more than {MAX_LOOP_NESTING} levels deep", node.lineno)
            stack.append((node, depth, loops, True))
            stack.extend((child, depth + 1, loops, False) for child in node.iter_child_nodes())
            continue
        try:
            value = _static_value(node, known)
        except (OverflowError, RecursionError, TimeoutError) as exc:
            raise TemplateError(f"{type(exc).__name__}: {exc}", node.lineno) from None
        except Exception:  # an error the rendering reports with its own message
            value = _UNKNOWN
        if value is not _UNKNOWN:
            known[id(node)] = value
    _check_recursion(tree)


def _check_recursion(tree: nodes.Template) -> None:
    """Refuse a macro that calls itself, directly or through other macros, and a block that calls itself."""
    macros = {macro.name: macro for macro in tree.find_all(nodes.Macro)}
    calls: dict[str, list[tuple[str, int]]] = {}
    for name, macro in macros.items():
        params = {arg.name for arg in macro.args}
        calls[name] = [
            (call.node.name, call.lineno)
            for call in macro.find_all(nodes.Call)
            if isinstance(call.node, nodes.Name) and call.node.name in macros and call.node.name not in params
        ]
    for name in macros:
        seen: set[str] = set()
        pending = [(callee, line, callee) for callee, line in calls[name]]
        while pending:
            callee, line, through = pending.pop()
            if callee == name:
                path = "" if through == name else f" through '{through}'"
                raise TemplateError(f"RecursionError: macro '{name}' calls itself{path}", line)
            if callee not in seen:
                seen.add(callee)
                pending.extend((next_callee, line, through) for next_callee, _ in calls[callee])
    for block in tree.find_all(nodes.Block):
        for call in block.find_all(nodes.Call):
            target = call.node
            if (
                isinstance(target, nodes.Getattr)
                and target.attr == block.name
                and isinstance(target.node, nodes.Name)
                and target.node.name == "self"
            ):
                raise TemplateError(f"RecursionError: block '{block.name}' calls itself", call.lineno)


def _units(parts: Iterable[nodes.Node | None]) -> int:
    """The work units of running ``parts`` once, from the kinds of their nodes."""
    found = [node for part in parts if part is not None for node in (part, *part.find_all(nodes.Node))]
    return sum(_NODE_UNITS.get(type(node), _PER_NODE) for node in found)


def _bound_runs(env: BoundedEnvironment, tree: nodes.Template) -> None:
    """Charge each run of each loop body, macro, caller and block to the rendering's budget, by the body's size."""
    for node in list(tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock, nodes.Block))):
        assert isinstance(node, (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Block))
        test = node.test if isinstance(node, nodes.For) else None
        units = nodes.Const(_RUN + _units([*node.body, test]), lineno=node.lineno)
        if isinstance(node, nodes.For) and not node.recursive:
            node.iter = nodes.Filter(node.iter, "_bounded_loop", [units], [], None, None, lineno=node.lineno)
            node.iter.set_environment(env)
        else:
            charge = nodes.Filter(nodes.Const(None), "_bounded_run", [units], [], None, None, lineno=node.lineno)
            node.body.insert(0, nodes.ExprStmt(charge, lineno=node.lineno))
            node.body[0].set_environment(env)


@lru_cache(maxsize=1024)
def _compile(source: str, autoescape: bool) -> Template:
    env = environment(autoescape)
    tree = _parse(env, source)
    _check_bounds(tree)
    _check_names(env, tree)
    _check_formats(tree)
    _bound_runs(env, tree)
    try:
        return env.from_string(tree)
    except (TemplateSyntaxError, TemplateAssertionError) as exc:
        raise TemplateError(_describe(exc), exc.lineno) from None
    except (RecursionError, SyntaxError):  # Python's own limits on the compiled code
        raise TemplateError("the template nests too deeply") from None
    except Exception as exc:
        raise TemplateError(f"{type(exc).__name__}: {exc}") from None


def check_template(source: str, *, html: bool) -> None:
    """Compile a template now, so that a broken one is refused when the automation is saved."""
    _compile(source, html)


def _line(exc: BaseException) -> int | None:
    """The template line an exception was raised at, from the traceback Jinja rewrites."""
    line = None
    trace = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def render(source: str, context: Mapping[str, Any], *, html: bool) -> str:
    """Render a template with the run's context within the bounds; any failure is a ``TemplateError``."""
    template = _compile(source, html)
    values = dict(context)
    values.setdefault("unsubscribe_url", UNSUBSCRIBE_PLACEHOLDER)
    token = _BUDGET.set(_Budget())
    parts: list[str] = []
    size = 0
    try:
        try:
            append = parts.append
            for part in template.root_render_func(template.new_context(values)):
                size += len(part)
                if size > MAX_OUTPUT:
                    raise OverflowError(f"the output is over the limit of {MAX_OUTPUT:,} bytes")
                append(part)
        except Exception:
            template.environment.handle_exception()  # raises it again, with the template's lines in its traceback
        out = "".join(parts)
        if size > MAX_OUTPUT // 4 and len(out.encode("utf-8", "surrogatepass")) > MAX_OUTPUT:
            raise OverflowError(f"the output is over the limit of {MAX_OUTPUT:,} bytes")
        return out
    except JinjaTemplateError as exc:
        raise TemplateError(_describe(exc), getattr(exc, "lineno", None) or _line(exc)) from None
    except TemplateError as exc:  # a filter's own reason (a value it cannot format)
        raise TemplateError(exc.message, exc.line or _line(exc)) from None
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise TemplateError(reason, _line(exc)) from None
    finally:
        _BUDGET.reset(token)


# --- text part ----------------------------------------------------------------------------------------------

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
