"""Email templates: Jinja2 in a sandbox, HTML autoescaped, fallbacks, filters and the derived text part."""

from __future__ import annotations

from typing import Any

import pytest
from automations.errors import TemplateError
from automations.language.templates import UNSUBSCRIBE_PLACEHOLDER, check_template, html_to_text, render

CONTEXT: dict[str, Any] = {
    "contact": {"first_name": "<b>Ana</b> & co", "nickname": "", "middle_name": None},
    "data": {
        "invoice": {"number": "2026-117", "total": 1234.5, "amount_text": "640"},
        "session": {"starts_at": "2026-11-23T10:05:00+00:00", "name": "Vinyasa Flow"},
    },
}


# --- escaping -----------------------------------------------------------------------------------------------


def test_html_is_autoescaped_in_html_bodies() -> None:
    # Given a value with markup in it
    # When it is rendered in an HTML body
    out = render("<p>Hi {{ contact.first_name }}</p>", CONTEXT, html=True)
    # Then the value is escaped, the template's own markup is not
    assert out == "<p>Hi &lt;b&gt;Ana&lt;/b&gt; &amp; co</p>"


@pytest.mark.parametrize("source", ["Hi {{ contact.first_name }}", "Hello {{ contact.first_name }}!"])
def test_subjects_and_text_parts_are_not_escaped(source: str) -> None:
    # Given the same value in a subject or text part
    # When it is rendered without html
    out = render(source, CONTEXT, html=False)
    # Then it is left as it is
    assert "<b>Ana</b> & co" in out
    assert "&lt;" not in out


def test_safe_marks_trusted_markup_in_html() -> None:
    # Given markup the author marks as safe
    # When it is rendered in HTML
    out = render("{{ '<em>x</em>' | safe }}", {}, html=True)
    # Then it is not escaped
    assert out == "<em>x</em>"


# --- default ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["contact.last_name", "contact.middle_name", "contact.nickname", "nothing.at.all"])
def test_default_covers_missing_none_and_empty(field: str) -> None:
    # Given a field that is missing, null or empty
    # When it is rendered through `default`
    out = render(f"Hi {{{{ {field} | default('there') }}}}", CONTEXT, html=False)
    # Then the fallback is used
    assert out == "Hi there"


def test_default_keeps_a_present_value() -> None:
    # Given a present value
    # When it is rendered through `default` (or its short name `d`)
    # Then the value itself is used
    assert render("{{ data.invoice.number | default('n/a') }}", CONTEXT, html=False) == "2026-117"
    assert render("{{ data.invoice.number | d('n/a') }}", CONTEXT, html=False) == "2026-117"


def test_default_keeps_zero_and_false_unless_boolean() -> None:
    # Given falsy but present values
    # When they go through `default`, with and without boolean=true
    # Then only the boolean form replaces them
    assert render("{{ 0 | default(5) }}", {}, html=False) == "0"
    assert render("{{ false | default('no') }}", {}, html=False) == "False"
    assert render("{{ 0 | default(5, true) }}", {}, html=False) == "5"


def test_default_without_argument_is_empty() -> None:
    # Given a missing value and no fallback
    # When it is rendered
    # Then nothing is printed
    assert render("[{{ contact.last_name | default }}]", CONTEXT, html=False) == "[]"


def test_missing_fields_render_as_empty_even_when_chained() -> None:
    # Given a path through missing objects
    # When it is rendered
    # Then it is empty rather than an error
    assert render("[{{ a.b.c.d }}]", {}, html=False) == "[]"


# --- sandbox ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ [].__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ contact.__class__ }}",
    ],
)
def test_sandbox_hides_unsafe_attributes(source: str) -> None:
    # Given a template reaching for Python internals
    # When it is rendered
    out = render(source, CONTEXT, html=False)
    # Then the sandbox yields nothing instead of the object
    assert out == ""


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
    ],
)
def test_sandbox_refuses_calls_through_unsafe_attributes(source: str) -> None:
    # Given a template trying to call into Python internals
    # When it is rendered
    # Then it fails with a TemplateError saying the access is unsafe
    with pytest.raises(TemplateError, match="unsafe"):
        render(source, CONTEXT, html=False)


def test_sandbox_refuses_huge_ranges() -> None:
    # Given a template that would allocate a billion items
    # When it is rendered
    # Then it fails cleanly
    with pytest.raises(TemplateError, match="OverflowError"):
        render("{{ range(10**9) | list | length }}", {}, html=False)


def test_runtime_errors_become_template_errors() -> None:
    # Given a template that divides by zero
    # When it is rendered
    # Then a TemplateError names the Python error
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", {}, html=False)


# --- compile-time checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ("{{ x | upper2 }}", "unknown filter 'upper2'", 1),
        ("a\nb\n{{ x is shiny }}", "unknown test 'shiny'", 3),
        ("{% if x %}\n{{ y | upper2 }}\n{% endif %}", "unknown filter 'upper2'", 2),
        ("{{ y | upper2 if x else '' }}", "unknown filter 'upper2'", 1),
        ("{% if x is shiny %}y{% endif %}", "unknown test 'shiny'", 1),
        ("{% filter nope %}x{% endfilter %}", "unknown filter 'nope'", 1),
        ("<p>\n{{ name }</p>", "unexpected '}'", 2),
    ],
)
def test_broken_templates_are_refused_at_compile_time(source: str, message: str, line: int) -> None:
    # Given a broken template, even where Jinja would only notice when a branch runs
    # When it is checked
    with pytest.raises(TemplateError) as caught:
        check_template(source, html=True)
    # Then the problem and its line are named
    assert caught.value.message == message
    assert caught.value.line == line
    assert str(caught.value) == f"{message} (line {line})"


def test_known_filters_and_tests_compile() -> None:
    # Given a template using the product's filters and Jinja's own, inside a conditional
    source = (
        "{% if x is defined and y is number %}{{ y | money('EUR') | upper }}{% endif %}"
        "{{ z | default('a') | d('b') }}{{ t | datetime }}"
    )
    # When it is checked
    # Then it is accepted
    check_template(source, html=True)
    check_template(source, html=False)


# --- filters ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ data.invoice.total | money('EUR') }}", "€1,234.50"),
        ("{{ data.invoice.amount_text | money('USD') }}", "$640.00"),
        ("{{ 0 | money('EUR') }}", "€0.00"),
        ("{{ -3.456 | money('EUR') }}", "-€3.46"),
        ("{{ nothing | money('EUR') }}", ""),
        ("{{ none | money('EUR') }}", ""),
    ],
)
def test_money_filter(source: str, expected: str) -> None:
    # Given an amount, and a context that names no language
    # When it is rendered with `money`
    # Then it is written as in English, with the currency's sign and decimals (and nothing when it is missing)
    assert render(source, CONTEXT, html=False) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ data.session.starts_at | datetime }}", "Nov 23, 2026, 10:05:00\u202fAM"),
        ('{{ data.session.starts_at | datetime("EEEE d MMMM, HH:mm") }}', "Monday 23 November, 10:05"),
        ("{{ data.session.starts_at | datetime('y-MM-dd') }}", "2026-11-23"),
        ("{{ '2026-01-02' | datetime('dd/MM/y') }}", "02/01/2026"),
        ("{{ nothing | datetime }}", ""),
    ],
)
def test_datetime_filter(source: str, expected: str) -> None:
    # Given a timestamp, and a context that names no time zone or language
    # When it is rendered with `datetime`
    # Then it is formatted in UTC and English (and nothing when it is missing)
    assert render(source, CONTEXT, html=False) == expected


def test_datetime_filter_refuses_what_is_not_a_timestamp() -> None:
    # Given a text that is no timestamp
    # When it is rendered with `datetime`
    # Then the rendering fails with the reason
    with pytest.raises(TemplateError, match="'not a date' is not an ISO-8601 date or timestamp"):
        render("{{ 'not a date' | datetime }}", CONTEXT, html=False)


def test_unsubscribe_url_is_a_placeholder_unless_given() -> None:
    # Given a template with the unsubscribe link
    source = '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    # When it is rendered with and without a URL in the context
    # Then the sender's placeholder fills in when none is given
    assert UNSUBSCRIBE_PLACEHOLDER in render(source, {}, html=True)
    assert "https://u.example/t" in render(source, {"unsubscribe_url": "https://u.example/t"}, html=True)


# --- html_to_text -------------------------------------------------------------------------------------------


def test_html_to_text_turns_blocks_into_lines_and_keeps_links() -> None:
    # Given an HTML body with blocks, inline markup, entities, links, styles and scripts
    markup = (
        "<html><head><style>p { color: red }</style></head><body>"
        "<h1>Hello &amp; welcome</h1>"
        "<p>Line   one</p>"
        "<p>Line <b>two</b><br>three</p>"
        "<p><a href='https://x.example/a'>Click <i>here</i></a> or "
        '<a href="https://y.example">https://y.example</a></p>'
        "<script>alert(1)</script>"
        "</body></html>"
    )
    # When it is turned into text
    text = html_to_text(markup)
    # Then blocks are lines, whitespace is collapsed, links keep their address, styles and scripts go
    assert text == (
        "Hello & welcome\n\nLine one\n\nLine two\nthree\n\nClick here (https://x.example/a) or https://y.example\n"
    )


def test_html_to_text_collapses_blank_lines() -> None:
    # Given many empty paragraphs
    # When it is turned into text
    text = html_to_text("<p>a</p><p></p><p></p><div></div><p>b</p>")
    # Then at most one blank line separates the text
    assert text == "a\n\nb\n"


def test_html_to_text_of_plain_text_is_itself() -> None:
    # Given text without markup
    # When it is turned into text
    # Then it is the same, ending in a newline
    assert html_to_text("Just words") == "Just words\n"


def test_html_to_text_of_a_rendered_email() -> None:
    # Given an escaped rendered body
    html = render("<p>Hi {{ contact.first_name }},</p><p>Thanks!</p>", CONTEXT, html=True)
    # When it is turned into text
    text = html_to_text(html)
    # Then the value reads as the contact wrote it
    assert text == "Hi <b>Ana</b> & co,\n\nThanks!\n"
