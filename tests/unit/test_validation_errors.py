"""Validation errors name the exact place of each problem: ``steps[0].send_email.subject: ...``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from automations.errors import DefinitionError, FieldError
from automations.language import load_definition
from automations.language.model import Automation, DelayUntil

OPERATORS_MESSAGE = (
    "input should be 'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'contains', 'not_contains', "
    "'starts_with', 'ends_with', 'exists', 'not_exists', 'is_empty', 'is_not_empty', 'before' or 'after'"
)

EMAIL: dict[str, Any] = {
    "to": {"trigger_contact": True},
    "subject": "Invoice {{ data.invoice.number }} is overdue",
    "html": "<p>Hi {{ contact.first_name | default('there') }}</p>",
}
BASE: dict[str, Any] = {
    "id": "overdue-invoice-reminder",
    "name": "Remind clients about overdue invoices",
    "trigger": {"event": "invoice.overdue"},
    "steps": [{"send_email": EMAIL}],
}


def definition(change: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """A valid definition, changed by ``change`` (which edits it in place)."""
    data = copy.deepcopy(BASE)
    if change is not None:
        change(data)
    return data


def errors_of(source: str | bytes | dict[str, Any]) -> list[FieldError]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(source)
    assert caught.value.errors, "a DefinitionError carries at least one error"
    return caught.value.errors


def only_error(source: str | bytes | dict[str, Any]) -> FieldError:
    errors = errors_of(source)
    assert len(errors) == 1, errors
    return errors[0]


def email(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(EMAIL), **changes}


def test_the_base_definition_is_valid() -> None:
    # Given the definition every other test breaks
    # When it is loaded
    automation = load_definition(definition())
    # Then it is an automation with the defaults of the language
    assert isinstance(automation, Automation)
    assert automation.status == "draft"
    assert automation.frequency == "unlimited"
    assert automation.person == "contact.id"


def test_unknown_key_at_top_level() -> None:
    # Given a definition with a key the language does not have
    # When it is loaded
    error = only_error(definition(lambda d: d.update(owner="ana")))
    # Then the key is named as an unknown field
    assert error == FieldError("owner", "unknown field")


def test_unknown_key_nested() -> None:
    # Given an unknown key inside a step's email
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0]["send_email"].update(bcc="boss@acme.example")))
    # Then its full path is named
    assert error == FieldError("steps[0].send_email.bcc", "unknown field")


def test_unknown_key_in_trigger() -> None:
    # Given an unknown key in the trigger
    # When it is loaded
    error = only_error(definition(lambda d: d["trigger"].update(when="now")))
    # Then it is named
    assert error == FieldError("trigger.when", "unknown field")


def test_unknown_key_inside_a_condition() -> None:
    # Given an unknown key in a leaf nested in any/all
    def change(d: dict[str, Any]) -> None:
        d["trigger"]["where"] = {"any": [{"all": [{"field": "data.a", "op": "eq", "value": 1, "x": 2}]}]}

    # When it is loaded
    error = only_error(definition(change))
    # Then the union tags pydantic adds do not appear in the path
    assert error == FieldError("trigger.where.any[0].all[0].x", "unknown field")


def test_bad_duration() -> None:
    # Given a delay in an unknown unit
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"].insert(0, {"delay": "3x"})))
    # Then the delay is named and the message shows the accepted forms
    assert error.loc == "steps[0].delay"
    assert "invalid duration '3x'" in error.message
    assert "15m, 2h, 3d, 1w or 1d12h" in error.message


def test_zero_duration() -> None:
    # Given a zero delay
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"].insert(0, {"delay": "0m"})))
    # Then it is refused
    assert error.loc == "steps[0].delay"
    assert "must be longer than zero" in error.message


def test_delay_of_the_wrong_type() -> None:
    # Given a delay that is neither a duration, an `until` nor an `at`
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"].insert(0, {"delay": 3})))
    # Then the three accepted shapes are shown
    assert error.loc == "steps[0].delay"
    assert error.message == (
        'expected a duration (3d), {until: <field>, offset: -1d, if_past: skip} or {after: 1d, at: "09:00"}'
    )


def test_bad_offset() -> None:
    # Given a delay until a field with a malformed offset
    def change(d: dict[str, Any]) -> None:
        d["steps"].insert(0, {"delay": {"until": "data.session.starts_at", "offset": "-1x"}})

    # When it is loaded
    error = only_error(definition(change))
    # Then the offset is named
    assert error.loc == "steps[0].delay.offset"
    assert "invalid duration '-1x'" in error.message


def test_signed_offset_is_accepted() -> None:
    # Given a delay one day before a timestamp of the event
    def change(d: dict[str, Any]) -> None:
        d["steps"].insert(0, {"delay": {"until": "data.session.starts_at", "offset": "-1d"}})

    # When it is loaded
    automation = load_definition(definition(change))
    # Then the offset is kept and if_past defaults to skip
    delay = automation.steps[0].delay
    assert isinstance(delay, DelayUntil)
    assert delay.offset == "-1d"
    assert delay.if_past == "skip"


def test_bad_if_past() -> None:
    # Given an if_past outside skip/run_now
    def change(d: dict[str, Any]) -> None:
        d["steps"].insert(0, {"delay": {"until": "data.t", "if_past": "later"}})

    # When it is loaded
    error = only_error(definition(change))
    # Then the field is named
    assert error == FieldError("steps[0].delay.if_past", "input should be 'skip' or 'run_now'")


def test_unknown_operator() -> None:
    # Given a condition with an operator the language does not have
    def change(d: dict[str, Any]) -> None:
        d["steps"].insert(0, {"if": {"field": "data.a", "op": "equals", "value": 1}, "then": []})

    # When it is loaded
    error = only_error(definition(change))
    # Then the operator is named, with the list of operators
    assert error == FieldError("steps[0].if.op", OPERATORS_MESSAGE)


def test_unknown_operator_deep_in_a_condition() -> None:
    # Given a bad operator under any/all in a trigger's where
    def change(d: dict[str, Any]) -> None:
        d["trigger"]["where"] = {
            "any": [{"field": "data.a", "op": "eq", "value": 1}, {"all": [{"field": "b", "op": "bogus"}]}]
        }

    # When it is loaded
    error = only_error(definition(change))
    # Then its exact place is named
    assert error == FieldError("trigger.where.any[1].all[0].op", OPERATORS_MESSAGE)


def test_in_without_list() -> None:
    # Given `in` with a single value
    def change(d: dict[str, Any]) -> None:
        d["steps"].insert(0, {"if": {"field": "data.a", "op": "in", "value": "x"}, "then": []})

    # When it is loaded
    error = only_error(definition(change))
    # Then the condition is named and a list is asked for
    assert error == FieldError("steps[0].if.value", "operator 'in' needs a list value")


def test_unary_operator_with_value() -> None:
    # Given `exists` with a value
    def change(d: dict[str, Any]) -> None:
        d["steps"].insert(0, {"if": {"field": "data.a", "op": "exists", "value": True}, "then": []})

    # When it is loaded
    error = only_error(definition(change))
    # Then the condition is named
    assert error == FieldError("steps[0].if.value", "operator 'exists' takes no value")


def test_missing_value() -> None:
    # Given `eq` without a value
    def change(d: dict[str, Any]) -> None:
        d["steps"].insert(0, {"if": {"field": "data.a", "op": "eq"}, "then": []})

    # When it is loaded
    error = only_error(definition(change))
    # Then the condition is named
    assert error == FieldError("steps[0].if.value", "operator 'eq' needs a value")


def test_before_needs_a_timestamp() -> None:
    # Given `before` with something that is not a timestamp
    def change(d: dict[str, Any]) -> None:
        d["steps"].insert(0, {"if": {"field": "data.a", "op": "before", "value": "tomorrow"}, "then": []})

    # When it is loaded
    error = only_error(definition(change))
    # Then the condition is named
    assert error == FieldError("steps[0].if.value", "operator 'before' needs an ISO-8601 timestamp value")


def test_condition_of_the_wrong_shape() -> None:
    # Given an `if` that is a string
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"].insert(0, {"if": "total > 500", "then": []})))
    # Then the accepted shapes are shown
    assert error.loc == "steps[0].if"
    assert "expected a condition" in error.message


def test_bad_email() -> None:
    # Given an additional recipient that is not an address
    def change(d: dict[str, Any]) -> None:
        d["steps"][0]["send_email"]["to"]["additional"] = ["owner@acme.example", "not-an-email"]

    # When it is loaded
    error = only_error(definition(change))
    # Then the exact item is named
    assert error == FieldError("steps[0].send_email.to.additional[1]", "not an email address: 'not-an-email'")


def test_bad_reply_to() -> None:
    # Given a reply_to that is not an address
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0]["send_email"].update(reply_to="accounts")))
    # Then it is named
    assert error == FieldError("steps[0].send_email.reply_to", "not an email address: 'accounts'")


def test_no_recipients() -> None:
    # Given an email to nobody
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0]["send_email"].update(to={"trigger_contact": False})))
    # Then `to` is named
    assert error.loc == "steps[0].send_email.to"
    assert "at least one recipient" in error.message


def test_template_syntax_error_in_html_names_the_line() -> None:
    # Given an HTML body whose second line has a broken expression
    html = "<p>Hi there,</p>\n<p>{{ contact.first_name }</p>\n"
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0].update(send_email=email(html=html))))
    # Then the html field is named, with the line of the problem
    assert error.loc == "steps[0].send_email.html"
    assert error.message.endswith("(line 2)")


def test_unclosed_block_in_html_names_the_last_line() -> None:
    # Given an `if` that is never closed
    html = "<p>a</p>\n<p>b</p>\n{% if contact.vip %}<p>c</p>"
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0].update(send_email=email(html=html))))
    # Then Jinja's explanation is kept, with the line
    assert error.loc == "steps[0].send_email.html"
    assert "unexpected end of template" in error.message
    assert "(line 3)" in error.message


def test_unknown_filter_in_subject() -> None:
    # Given a subject with a filter that does not exist
    # When it is loaded
    error = only_error(
        definition(lambda d: d["steps"][0].update(send_email=email(subject="{{ contact.name | upper2 }}")))
    )
    # Then the message is the one of DESIGN §3
    assert str(error) == "steps[0].send_email.subject: unknown filter 'upper2' (line 1)"


def test_unknown_filter_in_a_nested_branch() -> None:
    # Given the bad subject inside the then of an if
    def change(d: dict[str, Any]) -> None:
        d["steps"] = [
            {"delay": "3d"},
            {"delay": "1d"},
            {
                "if": {"field": "data.invoice.total", "op": "gt", "value": 500},
                "then": [{"send_email": email(subject="{{ x | upper2 }}")}],
            },
        ]

    # When it is loaded
    error = only_error(definition(change))
    # Then the place is the one DESIGN §3 shows
    assert str(error) == "steps[2].then[0].send_email.subject: unknown filter 'upper2' (line 1)"


def test_unknown_test_in_text() -> None:
    # Given a text part using an unknown Jinja test
    # When it is loaded
    error = only_error(
        definition(lambda d: d["steps"][0].update(send_email=email(text="{% if x is shiny %}y{% endif %}")))
    )
    # Then it is named
    assert error == FieldError("steps[0].send_email.text", "unknown test 'shiny' (line 1)")


def test_unknown_filter_inside_a_conditional_block_is_caught_at_validation() -> None:
    # Given an unknown filter that Jinja would only notice when the `if` is taken at send time
    html = "<p>Hi</p>\n{% if contact.vip %}<p>{{ contact.first_name | upper2 }}</p>{% endif %}"
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0].update(send_email=email(html=html))))
    # Then it is refused now, with its line, not at send time
    assert error == FieldError("steps[0].send_email.html", "unknown filter 'upper2' (line 2)")


def test_subject_on_two_lines() -> None:
    # Given a subject with a newline (header injection)
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0].update(send_email=email(subject="Hi\nBcc: x"))))
    # Then it is refused
    assert error == FieldError("steps[0].send_email.subject", "must be on one line")


KINDS = "delay, if, send_email, update_contact, create_task, issue_coupon, webhook, put_event"


def test_step_with_two_kinds() -> None:
    # Given a step that is both a delay and an email
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0].update(delay="1d")))
    # Then the step is named, with what was found
    assert error == FieldError(
        "steps[0]",
        f"a step needs exactly one of {KINDS} (found: delay, send_email)",
    )


def test_step_with_no_kind() -> None:
    # Given a step with only an id
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"].append({"id": "nothing"})))
    # Then the step is named
    assert error == FieldError(
        "steps[1]",
        f"a step needs exactly one of {KINDS} (found: none)",
    )


def test_then_without_if() -> None:
    # Given a delay with a then
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"].insert(0, {"delay": "1d", "then": []})))
    # Then the step is named
    assert error == FieldError("steps[0]", "'then' and 'else' belong to an 'if' step")


def test_duplicate_step_id() -> None:
    # Given two steps with the same id
    def change(d: dict[str, Any]) -> None:
        d["steps"] = [{"id": "wait", "delay": "1d"}, {"id": "wait", "delay": "2d"}, d["steps"][0]]

    # When it is loaded
    errors = errors_of(definition(change))
    # Then both places are named
    assert errors == [
        FieldError("steps[0].id", "duplicate step id 'wait'"),
        FieldError("steps[1].id", "duplicate step id 'wait'"),
    ]


def test_duplicate_step_id_across_branches() -> None:
    # Given a nested step reusing the id of a top-level step
    def change(d: dict[str, Any]) -> None:
        d["steps"] = [
            {"id": "wait", "delay": "1d"},
            {"if": {"field": "data.a", "op": "exists"}, "then": [{"id": "wait", "delay": "2d"}]},
        ]

    # When it is loaded
    errors = errors_of(definition(change))
    # Then the nested place is named too
    assert [e.loc for e in errors] == ["steps[0].id", "steps[1].then[0].id"]


def test_given_id_clashing_with_a_derived_id() -> None:
    # Given a first step whose id is the one the second step would derive
    def change(d: dict[str, Any]) -> None:
        d["steps"] = [{"id": "step-2", "delay": "1d"}, {"delay": "2d"}]

    # When it is loaded
    errors = errors_of(definition(change))
    # Then both are reported; the derived one is named by its step
    assert errors == [
        FieldError("steps[0].id", "duplicate step id 'step-2'"),
        FieldError("steps[1]", "duplicate step id 'step-2'"),
    ]


def test_bad_step_id() -> None:
    # Given a step id that is not a slug
    # When it is loaded
    error = only_error(definition(lambda d: d["steps"][0].update(id="Not A Slug")))
    # Then the id is named
    assert error.loc == "steps[0].id"
    assert "should match pattern" in error.message


def test_nth_with_after_silence() -> None:
    # Given a trigger with both variants
    # When it is loaded
    error = only_error(definition(lambda d: d["trigger"].update(nth=10, after_silence="30d")))
    # Then the trigger is named
    assert error == FieldError("trigger", "'nth' and 'after_silence' cannot be combined")


def test_nth_must_be_positive() -> None:
    # Given nth: 0
    # When it is loaded
    error = only_error(definition(lambda d: d["trigger"].update(nth=0)))
    # Then nth is named
    assert error.loc == "trigger.nth"
    assert "greater than or equal to 1" in error.message


def test_cancel_on_without_run_key() -> None:
    # Given cancel_on without a run_key to match runs by
    # When it is loaded
    error = only_error(definition(lambda d: d.update(cancel_on=[{"event": "invoice.paid", "key": "data.id"}])))
    # Then the document as a whole is named (the rule ties two fields together)
    assert error == FieldError("cancel_on", "needs a 'run_key' to know which runs to end")


def test_cancel_on_with_run_key_is_accepted() -> None:
    # Given cancel_on with a run_key
    def change(d: dict[str, Any]) -> None:
        d.update(run_key="data.invoice.id", cancel_on=[{"event": "invoice.paid", "key": "data.invoice.id"}])

    # When it is loaded
    automation = load_definition(definition(change))
    # Then it is kept
    assert automation.cancel_on[0].event == "invoice.paid"


def test_bad_frequency_word() -> None:
    # Given a frequency the language does not have
    # When it is loaded
    error = only_error(definition(lambda d: d.update(frequency="twice")))
    # Then it is named with the accepted words
    assert error == FieldError("frequency", "input should be 'unlimited' or 'once_per_person'")


def test_bad_frequency_window() -> None:
    # Given a frequency window that is not a duration
    # When it is loaded
    error = only_error(definition(lambda d: d.update(frequency={"once_per_person_every": "soon"})))
    # Then the window is named
    assert error.loc == "frequency.once_per_person_every"
    assert "invalid duration 'soon'" in error.message


def test_bad_frequency_shape() -> None:
    # Given a frequency that is a number
    # When it is loaded
    error = only_error(definition(lambda d: d.update(frequency=3)))
    # Then the accepted shapes are shown
    assert error == FieldError(
        "frequency", "expected unlimited, once_per_person or {once_per_person_every: <duration>}"
    )


def test_frequency_window_is_accepted() -> None:
    # Given a frequency window
    # When it is loaded
    automation = load_definition(definition(lambda d: d.update(frequency={"once_per_person_every": "24h"})))
    # Then it is read as a duration
    assert automation.window is not None
    assert automation.window.total_seconds() == 24 * 3600


def test_bad_status() -> None:
    # Given a status outside draft/active/inactive
    # When it is loaded
    error = only_error(definition(lambda d: d.update(status="paused")))
    # Then the status is named with the accepted values
    assert error == FieldError("status", "input should be 'draft', 'active' or 'inactive'")


def test_missing_required_fields() -> None:
    # Given a definition without name and steps
    def change(d: dict[str, Any]) -> None:
        del d["name"]
        del d["steps"]

    # When it is loaded
    errors = errors_of(definition(change))
    # Then each missing field is named
    assert set(errors) == {FieldError("name", "field required"), FieldError("steps", "field required")}


@pytest.mark.parametrize("text", ["- a\n- b\n", "42", "just words", ""])
def test_not_a_mapping_document(text: str) -> None:
    # Given a YAML document that is not a mapping
    # When it is loaded
    error = only_error(text)
    # Then the document as a whole is refused
    assert error == FieldError("", "an automation must be a mapping (YAML) or an object (JSON)")


def test_not_a_mapping_python_value() -> None:
    # Given parsed data that is a list
    # When it is loaded
    error = only_error([BASE])  # type: ignore[arg-type]
    # Then it is refused the same way
    assert error.message == "an automation must be a mapping (YAML) or an object (JSON)"


def test_invalid_yaml_names_the_line() -> None:
    # Given YAML broken on its third line
    text = "id: a\nname: A\nsteps: [1,\n"
    # When it is loaded
    error = only_error(text)
    # Then the message says it is not YAML and names the line
    assert error.loc == ""
    assert error.message.startswith("not valid YAML or JSON:")
    assert "(line 4, column 1)" in error.message


def test_invalid_yaml_mapping_value_names_line_and_column() -> None:
    # Given a line with two colons
    # When it is loaded
    error = only_error("id: a\nname: b: c\n")
    # Then line and column are named
    assert error.message == "not valid YAML or JSON: mapping values are not allowed here (line 2, column 8)"


def test_invalid_json_names_the_line() -> None:
    # Given JSON with a doubled comma on its second line
    # When it is loaded
    error = only_error('{"id": "a",\n "name": "b",,\n "steps": []}')
    # Then the line is named
    assert error.message.startswith("not valid YAML or JSON:")
    assert "(line 2," in error.message


def test_several_errors_at_once() -> None:
    # Given a definition with three unrelated problems
    def change(d: dict[str, Any]) -> None:
        d["status"] = "paused"
        d["owner"] = "ana"
        d["steps"].insert(0, {"delay": "3x"})
        d["steps"][1]["send_email"]["subject"] = "{{ x | upper2 }}"

    # When it is loaded
    errors = errors_of(definition(change))
    # Then every problem is reported, each with its place
    by_loc = {e.loc: e.message for e in errors}
    assert set(by_loc) == {"status", "owner", "steps[0].delay", "steps[1].send_email.subject"}
    assert by_loc["owner"] == "unknown field"
    assert by_loc["steps[1].send_email.subject"] == "unknown filter 'upper2' (line 1)"


def test_definition_error_str_joins_every_error() -> None:
    # Given two problems
    # When the error is turned into text
    with pytest.raises(DefinitionError) as caught:
        load_definition(definition(lambda d: d.update(status="paused", owner="ana")))
    text = str(caught.value)
    # Then both appear as loc: message, separated by semicolons
    assert "owner: unknown field" in text
    assert "status: input should be" in text
    assert "; " in text
    assert caught.value.errors[0].as_dict().keys() == {"loc", "message"}


def test_json_input_works_as_well_as_yaml() -> None:
    # Given the same definition as JSON text, YAML text and bytes
    data = definition(lambda d: d["steps"].insert(0, {"delay": "1d12h"}))
    as_json = json.dumps(data)
    as_yaml = yaml.safe_dump(data)
    # When each is loaded
    loaded = [load_definition(as_json), load_definition(as_yaml), load_definition(as_json.encode())]
    # Then they are the same automation
    assert loaded[0] == loaded[1] == loaded[2] == load_definition(data)


def test_json_errors_are_reported_like_yaml_errors() -> None:
    # Given a JSON definition with an unknown filter
    data = definition(lambda d: d["steps"][0].update(send_email=email(subject="{{ x | upper2 }}")))
    # When it is loaded as JSON text
    error = only_error(json.dumps(data))
    # Then the message is the same as for YAML
    assert str(error) == "steps[0].send_email.subject: unknown filter 'upper2' (line 1)"


def test_duplicate_step_ids_are_reported_with_the_other_errors() -> None:
    # Given a definition with a bad duration, an unknown key and the same step id twice
    source = {
        "id": "x",
        "name": "x",
        "trigger": {"event": "e"},
        "bogus": 1,
        "steps": [{"id": "a", "delay": "1d"}, {"id": "a", "delay": "2x"}],
    }
    # When it is validated
    with pytest.raises(DefinitionError) as caught:
        load_definition(source)
    # Then every problem is named at once, the duplicate ids included
    found = {str(error) for error in caught.value.errors}
    assert "steps[1].delay: invalid duration '2x': use 15m, 2h, 3d, 1w or 1d12h" in found
    assert "bogus: unknown field" in found
    assert {"steps[0].id: duplicate step id 'a'", "steps[1].id: duplicate step id 'a'"} <= found
