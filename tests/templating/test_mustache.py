"""Mustachio rendering rules (pure: no database)."""

from __future__ import annotations

import pytest

from templating.mustache import (
    RenderError,
    TemplateSyntaxError,
    compile_template,
    render,
    suggested_model,
)


def r(source: str, model: dict, content: str = "") -> str:
    return render(compile_template(source), model, content)


def test_dotted_paths_and_inner_spaces():
    assert r("Hi {{ person.first_name }}!", {"person": {"first_name": "Ann"}}) == (
        "Hi Ann!"
    )


def test_double_braces_escape_and_triple_braces_do_not():
    model = {"v": "<b>&\"'"}
    assert r("{{v}}", model) == "&lt;b&gt;&amp;&quot;&#x27;"
    assert r("{{{ v }}}|{{& v}}", model) == "<b>&\"'|<b>&\"'"


def test_missing_values_render_as_nothing():
    assert r("[{{a}}][{{a.b.c}}][{{{x}}}]", {"a": "s"}) == "[s][][]"


def test_each_iterates_and_dot_is_the_item():
    model = {"items": [{"n": "a"}, {"n": "b"}], "tags": ["x", "y"]}
    assert r("{{#each items}}<{{n}}>{{/each}}", model) == "<a><b>"
    assert r("{{#each tags}}{{.}},{{/each}}", model) == "x,y,"


def test_dot_dot_slash_reaches_the_enclosing_scope():
    model = {"company": "ACME", "employees": [{"name": "Wile"}, {"name": "Road"}]}
    source = "{{#each employees}}{{name}} works for {{../company}}. {{/each}}"
    assert r(source, model) == "Wile works for ACME. Road works for ACME. "


def test_names_are_not_looked_up_in_outer_scopes_implicitly():
    # Mustachio, unlike Mustache, reads only the current scope.
    model = {"company": "ACME", "person": {"name": "Ann"}}
    assert r("{{#person}}{{name}}/{{company}}{{/person}}", model) == "Ann/"


def test_sections_render_once_when_truthy_and_inverted_when_falsy():
    for falsy in (None, False, 0, "", [], {}):
        assert r("{{#x}}yes{{/x}}{{^x}}no{{/x}}", {"x": falsy}) == "no"
    for truthy in (True, 1, "s", [1], {"a": 1}):
        assert r("{{#x}}yes{{/x}}{{^x}}no{{/x}}", {"x": truthy}) == "yes"
    # A plain section over an array does not iterate (that is {{#each}}).
    assert r("{{#x}}once{{/x}}", {"x": [1, 2, 3]}) == "once"


def test_values_print_like_mustachio():
    assert r("{{a}} {{b}} {{c}} {{d}}", {"a": True, "b": 3, "c": 2.0, "d": 1.5}) == (
        "True 3 2 1.5"
    )


def test_standalone_section_lines_leave_no_blank_lines():
    source = "<ul>\n{{#each xs}}\n  <li>{{.}}</li>\n{{/each}}\n</ul>"
    assert r(source, {"xs": [1, 2]}) == "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>"


def test_content_placeholder_takes_the_rendered_template():
    assert r("<main>{{{ @content }}}</main>", {}, "<p>x</p>") == "<main><p>x</p></main>"


def test_each_over_a_scalar_is_a_render_error():
    with pytest.raises(RenderError, match="used like an array"):
        r("{{#each x}}.{{/each}}", {"x": "scalar"})


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        ("ok\n  {{#open}}", 2, 3, "never closed"),
        ("{{/stray}}", 1, 1, "never opened"),
        ("{{#a}}\n{{/b}}", 2, 1, "does not close"),
        ("a {{name", 1, 3, "never closed"),
        ("{{#each}}{{/each}}", 1, 1, "needs the name"),
        ("{{> partial}}", 1, 1, "not supported"),
    ],
)
def test_syntax_errors_carry_line_and_column(source, line, column, words):
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template(source)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert words in caught.value.message


def test_suggested_model_names_every_path_used():
    compiled = compile_template(
        "{{user.name}} {{#each items}}{{sku}} {{../currency}}{{/each}}"
        "{{#flags}}{{beta}}{{/flags}}{{#each tags}}{{.}}{{/each}}"
    )
    assert suggested_model(compiled) == {
        "user": {"name": "name_Value"},
        "items": [{"sku": "sku_Value"}],
        "currency": "currency_Value",
        "flags": {"beta": "beta_Value"},
        "tags": ["tags_1", "tags_2", "tags_3"],
    }


def test_the_generated_function_and_the_tree_walker_agree():
    from templating.mustache import _render

    source = (
        "{{a}}|{{{b}}}|{{#s}}[{{x}}{{../a}}]{{/s}}{{^n}}none{{/n}}"
        "{{#each xs}}<{{.}}{{#each ys}}({{.}}{{../../a}}){{/each}}>{{/each}}"
        "{{{ @content }}}{{p.q.r}}"
        "{{#each xs}}{{@index}}{{#@first}}F{{/@first}}{{^@last}},{{/@last}}{{/each}}"
    )
    model = {
        "a": "<A>",
        "b": "<B>",
        "s": {"x": 1.5},
        "xs": [{"ys": [1, 2]}, {"ys": []}],
        "p": {"q": {"r": True}},
    }
    compiled = compile_template(source)
    assert compiled.function is not None
    walked: list[str] = []
    _render(compiled.nodes, [model], walked, "C", [])
    assert render(compiled, model, "C") == "".join(walked)


def test_templates_nested_deeper_than_python_allows_still_render():
    depth = 25
    source = "{{#each a}}" * depth + "x" + "{{/each}}" * depth
    model: dict = {"a": [{}]}
    inner = model["a"][0]
    for _ in range(depth - 1):
        inner["a"] = [{}]
        inner = inner["a"][0]
    compiled = compile_template(source)
    assert compiled.function is None  # beyond Python's 20 nested loops
    assert render(compiled, model) == "x"


def test_this_and_the_loop_variables_inside_each():
    model = {"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    source = (
        "{{#each items}}{{@index}}:{{this.name}}{{#@first}}(first){{/@first}}"
        "{{#@last}}(last){{/@last}}{{^@last}}, {{/@last}}{{/each}}"
    )
    assert r(source, model) == "0:a(first), 1:b, 2:c(last)"
    assert r("{{#each xs}}[{{this}}]{{/each}}", {"xs": ["x", "y"]}) == "[x][y]"
    assert r("[{{@index}}]", {}) == "[]"  # outside a loop: nothing
    compiled = compile_template(source)
    assert suggested_model(compiled) == {"items": [{"name": "name_Value"}]}
