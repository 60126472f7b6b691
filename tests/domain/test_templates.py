"""Template rendering ({{ var }} only, every missing variable named) and signatures."""

from __future__ import annotations

import pytest

from agentpost.domain.templates import (
    TemplateError,
    placeholders,
    render,
    with_signature,
)


def test_placeholders_are_filled_in_subject_text_and_html() -> None:
    result = render(
        "Invoice {{number}} for {{ name }}",
        "Dear {{name}},\nyou owe {{ amount }} ({{paid}}).",
        "<p>Dear {{name}}</p>",
        {"name": "Ada", "number": 42, "amount": 9.5, "paid": False},
    )
    assert result.subject == "Invoice 42 for Ada"
    assert result.text == "Dear Ada,\nyou owe 9.5 (false)."
    assert result.html == "<p>Dear Ada</p>"


def test_every_missing_variable_is_named_in_order_of_appearance() -> None:
    with pytest.raises(TemplateError) as caught:
        render("Hi {{ first }}", "{{second}} and {{ first }} and {{third}}", "", {"second": "x"})
    assert caught.value.missing == ("first", "third")
    assert "missing template variables: first, third" in str(caught.value)


def test_a_null_value_counts_as_missing() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{a}}", "", "", {"a": None})
    assert caught.value.missing == ("a",)


def test_no_code_runs_and_substituted_text_is_not_rescanned() -> None:
    result = render(
        "{{ name.__class__ }} {{ 1+1 }}",
        "{{name}}",
        "",
        {"name": "{{ secret }}", "secret": "leaked"},
    )
    assert result.subject == "{{ name.__class__ }} {{ 1+1 }}"  # not placeholders: left as is
    assert result.text == "{{ secret }}"


def test_values_are_escaped_in_html_only() -> None:
    result = render("{{x}}", "{{x}}", "<b>{{x}}</b>", {"x": "<script>alert(1)</script>"})
    assert result.text == "<script>alert(1)</script>"
    assert result.html == "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>"


def test_structured_values_are_refused() -> None:
    with pytest.raises(TemplateError, match="string, number or boolean"):
        render("{{x}}", "", "", {"x": {"nested": 1}})


def test_placeholder_names_once_each() -> None:
    assert placeholders("{{a}} {{ b }}", "{{a}} {{c}}") == ["a", "b", "c"]


def test_signature_goes_below_the_rfc_3676_separator() -> None:
    text, html = with_signature("Hello.\n", "", "Ada\nAgentPost", "")
    assert text == "Hello.\n\n-- \nAda\nAgentPost\n"
    assert html == ""


def test_signature_in_html_uses_the_html_version_or_escaped_text() -> None:
    _, html = with_signature("hi", "<html><body><p>hi</p></body></html>", "A & B", "")
    assert html == (
        '<html><body><p>hi</p><div class="signature"><br>-- <br>\nA &amp; B</div>\n</body></html>'
    )
    _, html = with_signature("hi", "<p>hi</p>", "Ada", "<b>Ada</b>")
    assert html.endswith('<div class="signature"><br>-- <br>\n<b>Ada</b></div>')


def test_signature_is_not_added_twice_nor_to_a_missing_text_part() -> None:
    once, _ = with_signature("Hello", "", "Ada", "")
    assert with_signature(once, "", "Ada", "")[0] == once
    text, html = with_signature("", "<p>only html</p>", "Ada", "")
    assert text == "" and "Ada" in html
    assert with_signature("", "", "Ada", "")[0] == "-- \nAda\n"
