"""Email templates are bounded: injections and exhaustion attacks are refused at save or fail only that message.

Every payload of the corpus is either refused by ``check_template`` (a ``TemplateError`` with a line), or renders
within the bounds: ``render`` returns at most ``MAX_OUTPUT`` bytes or raises a ``TemplateError`` (never another
exception type). The work bound is a deterministic budget of steps, so no test here measures time: the CPU
clock that backs it up is switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from automations.errors import TemplateError
from automations.language import templates
from automations.language.templates import MAX_OUTPUT, check_template, render

CONTEXT: dict[str, Any] = {
    "contact": {"first_name": "Ana", "email": "ana@example.com"},
    "data": {"n": 10**9, "small": 3, "blob": "lorem ipsum " * 20_000, "items": [{"name": "a"}, {"name": "b"}]},
}

#: What a template must never print: Python objects and their internals.
LEAKS = ("<class", "&lt;class", "<function", "&lt;function", "<module", "&lt;module", "<built-in", "&lt;built-in", "__")

REFUSED = "refused at save"  # check_template raises TemplateError with a line
FAILS = "fails at render"  # accepted at save, render raises TemplateError
RENDERS = "renders"  # accepted at save, render returns at most MAX_OUTPUT bytes


@pytest.fixture(autouse=True)
def _no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU clock is only a backstop: here the deterministic budgets alone must stop every payload."""
    monkeypatch.setattr(templates, "MAX_SECONDS", 3600.0)


@dataclass(frozen=True)
class Payload:
    id: str
    source: str
    outcome: str
    reason: str = ""  # a part of the TemplateError's message


def _chain(n: int) -> str:
    """Macros m1..mn, each calling the one before twice: 2**n calls, no recursion."""
    macros = "{% macro m0() %}x{% endmacro %}" + "".join(
        f"{{% macro m{i}() %}}{{{{ m{i - 1}() }}}}{{{{ m{i - 1}() }}}}{{% endmacro %}}" for i in range(1, n + 1)
    )
    return macros + f"{{{{ m{n}() }}}}"


def _tower(levels: int) -> str:
    """Tuples of ten of the level below: 10**levels leaves behind a few hundred characters of source."""
    source = "{% set t0 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10) %}"
    for level in range(1, levels + 1):
        source += f"{{% set t{level} = ({', '.join([f't{level - 1}'] * 10)}) %}}"
    return source + f"{{{{ {{t{levels}: 1}} }}}}"


CORPUS = [
    # --- sandbox escapes: Python internals stay out of reach ------------------------------------------------
    Payload("mro", "{{ ''.__class__.__mro__ }}", RENDERS),
    Payload("subclasses", "{{ ''.__class__.__mro__[1].__subclasses__() }}", FAILS, "unsafe"),
    Payload("cycler-globals", "{{ cycler.__init__.__globals__ }}", RENDERS),
    Payload("joiner-globals", "{{ joiner.__init__.__globals__['os'] }}", RENDERS),
    Payload("lipsum-globals", "{{ lipsum.__globals__['os'].popen('id').read() }}", FAILS),
    Payload("self-context", "{{ self._TemplateReference__context }}", RENDERS),
    Payload("namespace-attrs", "{{ namespace(a=1)._Namespace__attrs }}", RENDERS),
    Payload("macro-globals", "{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}", RENDERS),
    Payload("loop-class", "{% for x in [1] %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}", RENDERS),
    Payload("format-class", "{{ '{0.__class__.__mro__}'.format(contact) }}", RENDERS),
    Payload("format-globals", "{{ '{0.__init__.__globals__}'.format(cycler) }}", RENDERS),
    Payload("format-map", "{{ '{a.__class__}'.format_map({'a': contact}) }}", RENDERS),
    Payload("percent-class", "{{ '%s'|format(''.__class__) }}", RENDERS),
    Payload("attr-filter", "{{ contact|attr('__class__') }}", RENDERS),
    Payload("getitem-dunder", "{{ contact['__class__']['__base__'] }}", RENDERS),
    Payload("map-attribute", "{{ [contact]|map(attribute='__class__')|list }}", RENDERS),
    # --- mutation: the immutable sandbox refuses growing lists and dicts in place --------------------------------
    Payload("list-append", "{% set l = [] %}{{ l.append(1) }}", FAILS, "unsafe"),
    Payload("dict-update", "{% set d = {} %}{{ d.update(a=1) }}", FAILS, "unsafe"),
    Payload(
        "append-loop",
        "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}{{ l|length }}",
        FAILS,
        "unsafe",
    ),
    Payload("setdefault", "{% set d = {} %}{% for i in range(10000) %}{{ d.setdefault(i, i) }}{% endfor %}", FAILS),
    # --- constant folding and huge numbers -----------------------------------------------------------------------
    Payload("power-tower", "{{ (9**(9**9)) > 1 }}", REFUSED, "OverflowError"),
    Payload("power-big", "{{ 2**100000 }}", REFUSED, "bits"),
    Payload("power-variable", "{% set e = 100000 %}{{ 2**e }}", FAILS, "bits"),
    Payload("power-context", "{{ 10 ** data.n }}", FAILS, "bits"),
    Payload("float-power", "{{ 10.0 ** 400 }}", FAILS, "OverflowError"),
    Payload("negative-power", "{{ 2 ** -1000000 }}", RENDERS),
    Payload(
        "int-squaring",
        "{% set ns = namespace(x=10) %}{% for i in range(30) %}{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x }}",
        FAILS,
        "bits",
    ),
    Payload("huge-literal", "{{ 1" + "0" * 5000 + " }}", REFUSED),
    Payload("power-in-if", "{% if 9**(9**9) %}x{% endif %}", REFUSED, "bits"),
    Payload("power-in-default", "{% macro m(x=9**(9**9)) %}{% endmacro %}", REFUSED, "bits"),
    # --- repetitions -----------------------------------------------------------------------------------------------
    Payload("repeat-text", "{{ 'a'*10**9 }}", REFUSED, "a text of 1,000,000,000 characters"),
    Payload("repeat-list", "{{ [1, 2, 3]*10**8 }}", REFUSED, "a list"),
    Payload("repeat-name", "{{ contact.first_name * 10**9 }}", FAILS, "a text"),
    Payload("repeat-length", "{{ (contact.first_name*10**9)|length }}", FAILS, "a text"),
    Payload("repeat-context", "{{ data.blob * 100 }}", FAILS, "a text"),
    Payload("concat-constants", "{{ ('a'*1000000) ~ ('b'*1000000) }}", FAILS, "a text"),
    Payload(
        "concat-loop",
        "{% set ns = namespace(s='') %}{% for i in range(10000) %}{% set ns.s = ns.s ~ 'x'*1000 %}"
        "{% endfor %}{{ ns.s|length }}",
        FAILS,
    ),
    Payload(
        "concat-doubling",
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        FAILS,
        "a text",
    ),
    Payload(
        "plus-doubling",
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        FAILS,
        "a text",
    ),
    Payload(
        "list-doubling",
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
        "{% endfor %}{{ ns.l|length }}",
        FAILS,
    ),
    Payload(
        "nested-lists",
        "{% set a = ['x'*1000]*10 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{{ c|length }}",
        FAILS,
        "a list",
    ),
    Payload("tuple-tower", _tower(12), FAILS, "a tuple"),
    Payload(
        "namespace-repr",
        "{% set s = 'x'*900000 %}{% set ns = namespace(a=s) %}{% set ns.b = s %}{{ ns }}",
        FAILS,
        "Namespace",
    ),
    Payload(
        "namespace-changed",
        "{% set ns = namespace(a='') %}{% set l = [ns, ns, ns, ns, ns, ns, ns, ns] %}{{ l|length }}"
        "{% set ns.a = 'x'*100000 %}{{ (l * 100)|length }}",
        FAILS,
        "a list",
    ),
    Payload("dict-global", "{% set s = 'x'*900000 %}{{ dict(a=s, b=s, c=s) }}", FAILS, "a dict"),
    Payload("dict-literal", "{% set s = 'x'*900000 %}{{ {'a': s, 'b': s} }}", FAILS, "a dict"),
    # --- ranges and loops ------------------------------------------------------------------------------------------
    Payload("range-huge", "{{ range(10**9)|list|length }}", REFUSED, "a range"),
    Payload(
        "range-nested-huge",
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        REFUSED,
        "a range",
    ),
    Payload(
        "range-nested", "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", FAILS, "steps"
    ),
    Payload(
        "range-triple",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{{ k }}"
        "{% endfor %}{% endfor %}{% endfor %}",
        FAILS,
    ),
    Payload("range-context", "{{ range(data.n)|list|length }}", FAILS, "a range"),
    Payload("range-step", "{{ range(0, 10**12, 10**8)|list|length }}", RENDERS),
    Payload("range-list-join", "{{ range(10000)|list|join(',')|length }}", RENDERS),
    Payload("loop-cycle", "{% for i in range(10000) %}{{ loop.cycle('a'*1000, 'b'*1000) }}{% endfor %}", FAILS),
    Payload("recursive-loop", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", FAILS, "RecursionError"),
    Payload(
        "recursive-loop-wide",
        "{% for x in range(10) recursive %}{% if loop.depth < 12 %}{{ loop(range(10)) }}{% endif %}{% endfor %}",
        FAILS,
        "steps",
    ),
    Payload("lipsum-huge", "{{ lipsum(10**6) }}", REFUSED, "lorem ipsum"),
    Payload("lipsum-words", "{{ lipsum(1, min=1000000, max=1000000) }}", REFUSED, "words"),
    Payload("lipsum-loop", "{% for i in range(10000) %}{{ lipsum(20) }}{% endfor %}", FAILS),
    Payload(
        "cycler-output",
        "{% set c = cycler('a'*1000000) %}{% for i in range(100) %}{{ c.next() }}{% endfor %}",
        FAILS,
        "output",
    ),
    Payload("context-output", "{% for i in range(10000) %}{{ data.blob }}{% endfor %}", FAILS, "output"),
    Payload("context-upper", "{% for i in range(10000) %}{% set x = data.blob|upper %}{% endfor %}", FAILS),
    Payload(
        "context-search",
        "{% for i in range(10000) %}{% if 'zzz' in data.blob %}{% endif %}{% endfor %}",
        FAILS,
        "steps",
    ),
    Payload(
        "context-search-test",
        "{% for i in range(10000) %}{% if 'zzz' is in data.blob %}{% endif %}{% endfor %}",
        FAILS,
        "steps",
    ),
    # --- recursion and call depth ----------------------------------------------------------------------------------
    Payload("recursive-macro", "{% macro m(n) %}{{ m(n+1) }}{% endmacro %}{{ m(0) }}", REFUSED, "calls itself"),
    Payload(
        "mutual-macros",
        "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(0) }}",
        REFUSED,
        "calls itself through",
    ),
    Payload("macro-argument", "{% macro m(f, n) %}{{ f(f, n+1) }}{% endmacro %}{{ m(m, 0) }}", FAILS, "RecursionError"),
    Payload(
        "caller-recursion",
        "{% macro m(f) %}{% call f(f) %}x{% endcall %}{{ caller() if caller }}{% endmacro %}{{ m(m) }}",
        FAILS,
        "RecursionError",
    ),
    Payload("block-recursion", "{% block b %}{{ self.b() }}{% endblock %}", REFUSED, "calls itself"),
    Payload(
        "blocks-recursion",
        "{% block a %}{{ self.b() }}{% endblock %}{% block b %}{{ self.a() }}{% endblock %}",
        FAILS,
        "RecursionError",
    ),
    Payload("exponential-calls", _chain(25), FAILS, "steps"),
    # --- deep nesting ------------------------------------------------------------------------------------------------
    Payload("nested-brackets", "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}", REFUSED, "nest"),
    Payload("nested-lists-literal", "{{ " + "[" * 500 + "]" * 500 + " }}", REFUSED, "nest"),
    Payload("nested-ifs", "{% if 1 %}" * 200 + "{% endif %}" * 200, REFUSED, "nest"),
    Payload("nested-loops", "{% for a in [1] %}" * 20 + "{% endfor %}" * 20, REFUSED, "loops nest"),
    Payload("filter-chain", "{{ contact.first_name" + "|upper" * 1000 + " }}", REFUSED, "nest"),
    Payload("not-chain", "{{ " + "not " * 5000 + "x }}", REFUSED, "nest"),
    Payload("plus-chain", "{{ 1" + "+1" * 3000 + " }}", REFUSED, "nest"),
    # --- filters -----------------------------------------------------------------------------------------------------
    Payload("join-huge", "{% set s = 'a'*500000 %}{% set l = [s, s, s] %}{{ l|join|length }}", FAILS, "a list"),
    Payload("join-range", "{{ range(10000)|map('string')|map('center', 100000)|join|length }}", FAILS),
    Payload("join-method", "{% set s = 'x'*100000 %}{{ s.join(s)|length }}", FAILS, "a text"),
    Payload("list-huge", "{{ (range(10000)|list * 100)|list|length }}", FAILS, "a list"),
    Payload("center-huge", "{{ 'a'|center(10**9) }}", REFUSED, "a text"),
    Payload("center-context", "{{ 'a'|center(data.n) }}", FAILS, "a text"),
    Payload("center-method", "{{ 'a'.center(10**9) }}", REFUSED, "a text"),
    Payload("ljust-context", "{{ contact.first_name.ljust(data.n) }}", FAILS, "a text"),
    Payload("zfill", "{{ '1'.zfill(10**9) }}", REFUSED, "a text"),
    Payload("expandtabs", "{{ ('\\t'*100000).expandtabs(100000) }}", FAILS, "a text"),
    Payload("to-bytes", "{{ (1).to_bytes(10**9, 'big') }}", FAILS, "bytes"),
    Payload("translate", "{{ ('a'*100000).translate({97: 'b'*100000}) }}", FAILS, "a text"),
    Payload("indent-huge", "{{ 'a\\nb'|indent(10**9) }}", REFUSED, "a text"),
    Payload("indent-text", "{{ ('x\\n'*100000)|indent('y'*1000) }}", FAILS, "a text"),
    Payload("wordwrap-wrapstring", "{{ ('a '*500000)|wordwrap(1, wrapstring='x'*1000) }}", FAILS, "a text"),
    Payload("wordwrap-slow", "{{ (data.blob * 2)|wordwrap(10)|length }}", FAILS, "steps"),
    Payload("truncate-huge", "{{ (data.blob*4)|truncate(10**9)|length }}", RENDERS),
    Payload("replace-growth", "{{ ('a'*1000)|replace('a', 'b'*10000) }}", FAILS, "a text"),
    Payload("replace-chain", "{{ 'aaaa'" + "|replace('a', 'aaaa')" * 12 + " }}", FAILS, "a text"),
    Payload("replace-method", "{{ ('a'*1000).replace('a', 'b'*10000) }}", FAILS, "a text"),
    Payload("format-width", "{{ '%999999999d'|format(1) }}", REFUSED, "a text"),
    Payload("format-star", "{{ '%*d'|format(10**9, 1) }}", REFUSED, "a text"),
    Payload("format-mapping", "{% set s = 'x'*100000 %}{{ ('%(a)s'*10000)|format(a=s) }}", FAILS, "a text"),
    Payload("percent-width", "{{ '%999999999s' % 'a' }}", REFUSED, "a text"),
    Payload("percent-mapping", "{% set s = 'x'*100000 %}{{ ('%(a)s'*10000) % {'a': s} }}", FAILS, "a text"),
    Payload("format-method-width", "{{ '{:>999999999}'.format('a') }}", REFUSED, "a text"),
    Payload("format-method-nested", "{{ '{:>{w}}'.format('a', w=data.n) }}", FAILS, "a text"),
    Payload("format-method-repeat", "{% set s = 'x'*100000 %}{{ ('{0}'*10000).format(s) }}", FAILS, "a text"),
    Payload("tojson-indent", "{{ range(100)|list|tojson(indent=10**6) }}", REFUSED, "JSON indent"),
    Payload("pprint", "{{ range(10000)|list|pprint|length }}", RENDERS),
    Payload("batch-fill", "{{ [1]|batch(10**9, 'x')|list }}", REFUSED, "a batch"),
    Payload("slice-huge", "{{ [1]|slice(10**9)|list }}", REFUSED, "a slice"),
    Payload("urlize-big", "{{ ('http://x.example ' * 50000)|urlize|length }}", FAILS, "steps"),
    Payload("forceescape-chain", "{{ ('<&>'*100000)" + "|forceescape" * 6 + " }}", FAILS, "a text"),
    Payload("urlencode-chain", "{{ ('%'*100000)" + "|urlencode" * 8 + " }}", FAILS),
    Payload("unique-text", "{{ data.blob|unique|list|length }}", RENDERS),
    Payload("map-chain", "{{ range(10000)" + "|map('abs')" * 40 + "|list|length }}", FAILS, "steps"),
    Payload("select-chain", "{{ range(10000)" + "|select" * 40 + "|list|length }}", FAILS, "steps"),
    Payload("int-digits", "{{ ('9'*5000)|int }}", RENDERS),
    Payload(
        "filter-block",
        "{% filter upper %}{% for i in range(10000) %}{{ 'x'*1000 }}{% endfor %}{% endfilter %}",
        FAILS,
        "characters",
    ),
    Payload(
        "set-block",
        "{% set x %}{% for i in range(10000) %}{{ data.blob }}{% endfor %}{% endset %}{{ x|length }}",
        FAILS,
    ),
    Payload(
        "macro-output",
        "{% macro m() %}{{ data.blob }}{% endmacro %}{% for i in range(10000) %}{% set x = m() %}{% endfor %}",
        FAILS,
    ),
    # --- the budget's own hooks are not for templates ----------------------------------------------------------
    Payload("budget-hook", "{% for i in range(10)|_bounded_loop(-10**9) %}{% endfor %}", REFUSED, "unknown filter"),
    Payload("budget-charge", "{{ none|_bounded_run(-10**9) }}", REFUSED, "unknown filter"),
    # --- output size -----------------------------------------------------------------------------------------------
    Payload("output-limit", "{{ 'a'*1000000 }}", RENDERS),
    Payload("output-over", "{{ 'a'*1000000 }}b", FAILS, "output"),
    Payload("output-many-values", "{% set s = '<'*1000000 %}" + "{{ s }}" * 1000, FAILS, "output"),
    Payload(
        "deep-wrapping",
        "{% set ns = namespace(l=[]) %}{% for i in range(10000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}",
        FAILS,
    ),
    Payload("output-multibyte", "{{ 'é'*600000 }}", FAILS, "output"),
]


def test_the_corpus_is_large_and_its_ids_unique() -> None:
    assert len(CORPUS) >= 50
    assert len({p.id for p in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("payload", CORPUS, ids=[p.id for p in CORPUS])
@pytest.mark.parametrize("html", [True, False], ids=["html", "text"])
def test_payload_is_refused_at_save_or_renders_within_bounds(payload: Payload, html: bool) -> None:
    # Given a hostile template
    # When it is checked as the automation is saved
    try:
        check_template(payload.source, html=html)
    except TemplateError as exc:
        # Then a refusal names the reason and the line
        assert payload.outcome == REFUSED, f"refused at save: {exc}"
        assert exc.line is not None and exc.line >= 1
        assert payload.reason in exc.message
        return
    assert payload.outcome != REFUSED, "accepted at save"
    # When it is rendered
    try:
        out = render(payload.source, CONTEXT, html=html)
    except TemplateError as exc:
        # Then a failure is a TemplateError with the reason
        assert payload.outcome == FAILS, f"failed at render: {exc}"
        assert payload.reason in exc.message
        return
    # Or the output is within the bounds, and shows nothing of Python's internals
    assert payload.outcome == RENDERS, "rendered"
    assert len(out.encode("utf-8")) <= MAX_OUTPUT
    assert not any(leak in out for leak in LEAKS), out[:200]


# --- the defects this closes --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["{{ (9**(9**9)) > 1 }}", "{{ 'a'*10**9 }}"])
def test_constant_expressions_are_not_folded_at_save(source: str) -> None:
    # Given a template whose constant expression would take minutes or gigabytes to evaluate
    # When it is checked
    with pytest.raises(TemplateError) as caught:
        check_template(source, html=True)
    # Then it is refused at once, from the sizes alone, with its line
    assert caught.value.message.startswith("OverflowError: ")
    assert caught.value.line == 1


def test_a_refusal_names_the_line_of_the_offending_expression() -> None:
    # Given a template whose third line breaks a bound
    source = "<p>Hi {{ contact.first_name }}</p>\n<p>\n{% for i in range(10**6) %}x{% endfor %}\n</p>"
    # When it is checked
    with pytest.raises(TemplateError) as caught:
        check_template(source, html=True)
    # Then the line is the third
    assert caught.value.line == 3
    assert str(caught.value) == "OverflowError: a range of 1,000,000 items is over the limit of 10,000 (line 3)"


@pytest.mark.parametrize(
    "source",
    [
        # two macros calling each other through an argument, which no static check can follow
        "{% macro a(f, n) %}{{ f(a, n + 1) }}{% endmacro %}{% macro b(f, n) %}{{ f(b, n + 1) }}{% endmacro %}"
        "{{ a(b, 0) }}",
        # blocks calling each other
        "{% block a %}{{ self.b() }}{% endblock %}{% block b %}{{ self.a() }}{% endblock %}",
    ],
    ids=["mutual-macros-through-arguments", "mutual-blocks"],
)
def test_recursion_past_the_static_check_is_a_template_error(source: str) -> None:
    # Given mutual recursion the static check cannot see
    check_template(source, html=True)
    # When it is rendered
    with pytest.raises(TemplateError) as caught:
        render(source, {}, html=True)
    # Then it stops at the call depth bound as a TemplateError, not a RecursionError, with the line
    assert caught.value.message == f"RecursionError: calls nest more than {templates.MAX_DEPTH} levels deep"
    assert caught.value.line == 1


@pytest.mark.parametrize(
    "error",
    [RecursionError("maximum recursion depth exceeded"), MemoryError(), OverflowError("x"), KeyError("k")],
    ids=lambda e: type(e).__name__,
)
def test_any_exception_while_rendering_is_a_template_error(error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a filter that raises whatever Python may raise
    def boom(value: Any) -> Any:
        raise error

    monkeypatch.setitem(templates.environment(False).filters, "boom", boom)
    templates._compile.cache_clear()
    # When a template using it is rendered
    try:
        with pytest.raises(TemplateError) as caught:
            render("a\n{{ 1 | boom }}", {}, html=False)
    finally:
        templates._compile.cache_clear()
    # Then it is a TemplateError naming the Python error and the line
    assert caught.value.message.startswith(f"{type(error).__name__}")
    assert caught.value.line == 2


def test_output_stops_at_the_bound() -> None:
    # Given a template whose output is exactly the bound, and one a byte over it
    # When they are rendered
    # Then the first renders and the second fails
    assert len(render("{{ 'a' * 999999 }}b", {}, html=False)) == MAX_OUTPUT
    with pytest.raises(TemplateError, match="output is over the limit"):
        render("{{ 'a' * 999999 }}bc", {}, html=False)


def test_work_is_bounded_by_a_deterministic_budget() -> None:
    # Given loops that are cheap one by one but too many together
    source = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    # When it is rendered twice
    # Then both stop on the step budget, not on a clock
    for _ in range(2):
        with pytest.raises(TemplateError) as caught:
            render(source, {}, html=False)
        assert caught.value.message == f"TimeoutError: rendering takes more than {templates.MAX_STEPS:,} steps"


def test_the_cpu_clock_is_a_backstop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a rendering allowed no CPU time at all beyond its first steps
    monkeypatch.setattr(templates, "MAX_SECONDS", 0.0)
    # When a loop runs
    with pytest.raises(TemplateError) as caught:
        render("{% for i in range(10000) %}{{ i }}{% endfor %}", {}, html=False)
    # Then the clock stops it, as a TemplateError
    assert caught.value.message == "TimeoutError: rendering takes more than 0 ms"


def test_ordinary_templates_are_unaffected() -> None:
    # Given templates using loops, macros, filters, arithmetic and formatting within the bounds
    source = (
        "{% macro line(item) %}{{ item.name | upper }}: {{ '%.2f' | format(item.price * 1.1) }}{% endmacro %}"
        "{% for item in items %}{{ loop.index }}. {{ line(item) }}{{ ', ' if not loop.last }}{% endfor %}"
        " | {{ items | map(attribute='name') | join('/') }} | {{ range(3) | list }} | {{ 2 ** 10 }}"
        " | {{ '{:>5}'.format('x') }} | {{ 'ab' * 3 }} | {% set ns = namespace(n=0) %}"
        "{% for i in range(5) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"
    )
    items = [{"name": "tea", "price": 2.0}, {"name": "cake", "price": 3.5}]
    # When it is rendered
    out = render(source, {"items": items}, html=False)
    # Then the result is what Jinja gives
    assert out == "1. TEA: 2.20, 2. CAKE: 3.85 | tea/cake | [0, 1, 2] | 1024 |     x | ababab | 10"
