"""Mustachio, Postmark's Mustache dialect: the only importer of ``chevron``.

chevron (a maintained Mustache implementation) tokenizes; this module checks the
structure first (so errors carry a line and column, as Postmark's
``ValidationErrors`` do), compiles the tokens into a small node tree once, and
evaluates that tree with Mustachio's rules, which differ from Mustache's:

- a name is looked up in the current scope only (no implicit walk up the
  context stack); ``../`` reaches one scope up, ``{{.}}`` is the scope itself;
- ``{{#each items}}…{{/each}}`` iterates an array; a plain section
  ``{{#x}}…{{/x}}`` renders once, scoped into ``x``, when ``x`` is truthy;
- false, null, 0, "" and empty arrays/objects are falsy;
- ``{{{ @content }}}`` is a layout's placeholder for the rendered template.

Compiled templates are immutable and safe to share between threads.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import chevron.tokenizer

# Node kinds (tuples keep the tree small and the evaluator fast); literal
# text is a bare ``str`` node.
VAR, RAW, SECTION, INVERTED, EACH, CONTENT = range(1, 7)
CONTENT_KEY = "@content"
LOOP_NAMES = frozenset({"@index", "@first", "@last"})

_PATH_PART = re.compile(r"\.\.[\\/]|[^.]+")


class TemplateSyntaxError(Exception):
    """The template cannot be parsed; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class RenderError(Exception):
    """The model does not fit the template (an ``each`` over a non-array)."""


@dataclass(frozen=True)
class Path:
    ups: int
    parts: tuple[str, ...]
    text: str
    loop: str = ""  # "@index", "@first" or "@last": the innermost each's state


@dataclass(frozen=True)
class Compiled:
    nodes: tuple
    content_placeholders: int  # how many {{{@content}}} it has
    # The tree translated to a Python function (see _generate); None when the
    # template nests too deeply for that, and the tree walker renders it.
    function: Any = None


def _path(text: str) -> Path:
    ups = 0
    parts = []
    for piece in _PATH_PART.findall(text):
        if piece.startswith(".."):
            if parts:
                # "a.../b" is not a path Mustachio understands; keep it literal.
                parts.append(piece)
            else:
                ups += 1
        else:
            parts.append(piece.strip())
    if parts and parts[0] == "this":
        # {{this}} / {{this.name}}: the current scope, as in {{.}} / {{name}}.
        parts = parts[1:]
    if len(parts) == 1 and parts[0] in LOOP_NAMES:
        return Path(0, (), text, loop=parts[0])
    return Path(ups, tuple(parts), text)


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _check_structure(source: str) -> str:
    """Raise ``TemplateSyntaxError`` for unclosed tags and mismatched sections;
    return the source with each ``{{/each}}`` renamed after its opening tag, so
    chevron's own section matching accepts it."""
    out: list[str] = []
    stack: list[tuple[str, str, int]] = []  # (closing name, opening key, offset)
    pos = 0
    while True:
        start = source.find("{{", pos)
        if start < 0:
            break
        triple = source.startswith("{{{", start)
        end = source.find("}}}" if triple else "}}", start + (3 if triple else 2))
        if end < 0:
            line, column = _position(source, start)
            raise TemplateSyntaxError(
                "A tag was opened with '{{' but never closed with '}}'.", line, column
            )
        close_len = 3 if triple else 2
        body = source[start + close_len : end]
        if triple:
            sigil, key = "{", body.strip()
        else:
            sigil = body[:1]
            key = body[1:].strip() if sigil and sigil in "#^/!&>=" else body.strip()
        line, column = _position(source, start)
        if sigil in ("#", "^"):
            if not key:
                raise TemplateSyntaxError("A section tag needs a name.", line, column)
            if sigil == "#" and (key == "each" or key.startswith("each ")):
                target = key[4:].strip()
                if not target:
                    raise TemplateSyntaxError(
                        "'{{#each}}' needs the name of an array, like "
                        "'{{#each items}}'.",
                        line,
                        column,
                    )
                stack.append(("each", key, start))
            else:
                stack.append((key, key, start))
        elif sigil == "/":
            if not stack:
                raise TemplateSyntaxError(
                    f"'{{{{/{key}}}}}' closes a section that was never opened.",
                    line,
                    column,
                )
            name, opening, _offset = stack.pop()
            if key != name:
                raise TemplateSyntaxError(
                    f"'{{{{/{key}}}}}' does not close the open section "
                    f"'{{{{#{opening}}}}}'.",
                    line,
                    column,
                )
            if name == "each":
                out.append(source[pos:start])
                out.append("{{/" + opening + "}}")
                pos = end + close_len
                continue
        elif sigil == ">":
            raise TemplateSyntaxError(
                "Partials ('{{>name}}') are not supported.", line, column
            )
        elif sigil == "=":
            raise TemplateSyntaxError(
                "Changing delimiters ('{{=<% %>=}}') is not supported.", line, column
            )
        elif sigil != "!" and not key:
            raise TemplateSyntaxError(
                "An empty tag '{{}}' is not allowed.", line, column
            )
        out.append(source[pos : end + close_len])
        pos = end + close_len
    if stack:
        _name, opening, offset = stack[-1]
        line, column = _position(source, offset)
        raise TemplateSyntaxError(
            f"The section '{{{{#{opening}}}}}' is never closed.", line, column
        )
    out.append(source[pos:])
    return "".join(out)


def compile_template(source: str) -> Compiled:
    """Parse ``source`` once into a reusable tree. Raises ``TemplateSyntaxError``."""
    prepared = _check_structure(source or "")
    try:
        tokens = list(chevron.tokenizer.tokenize(prepared))
    except chevron.tokenizer.ChevronError as exc:  # pragma: no cover - pre-checked
        raise TemplateSyntaxError(" ".join(str(exc).split())) from exc
    stack: list[list] = [[]]
    placeholders = 0
    for kind, key in tokens:
        if kind == "literal":
            stack[-1].append(key)  # literal text is stored as a bare str
        elif kind in ("variable", "no escape"):
            if key.lstrip("&").strip() == CONTENT_KEY or key == CONTENT_KEY:
                placeholders += 1
                stack[-1].append((CONTENT,))
            else:
                stack[-1].append((VAR if kind == "variable" else RAW, _path(key)))
        elif kind in ("section", "inverted section"):
            stack.append([(kind, key)])
        elif kind == "end":
            opened = stack.pop()
            (open_kind, open_key), children = opened[0], tuple(opened[1:])
            if open_kind == "inverted section":
                node = (INVERTED, _path(open_key), children)
            elif open_key == "each" or open_key.startswith("each "):
                node = (EACH, _path(open_key[4:].strip()), children)
            else:
                node = (SECTION, _path(open_key), children)
            stack[-1].append(node)
    nodes = tuple(stack[0])
    return Compiled(
        nodes=nodes, content_placeholders=placeholders, function=_generate(nodes)
    )


# --- evaluation -----------------------------------------------------------------


def _resolve(scopes: list, path: Path) -> Any:
    index = max(len(scopes) - 1 - path.ups, 0)
    value = scopes[index]
    for part in path.parts:
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _escape(text: str) -> str:
    # html.escape(quote=True), skipped for the common text with nothing to escape.
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return html.escape(text)
    return text


def _truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, list | dict):
        return bool(value)
    return True


def _text(value: Any) -> str:
    # Mustachio prints .NET's ToString(): True/False, integral numbers plain.
    if isinstance(value, str):
        return value
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    return ""  # objects and arrays print nothing


def _loop_value(name: str, index: int, count: int) -> Any:
    if name == "@index":
        return index
    return index == 0 if name == "@first" else index == count - 1


def _lookup(scopes: list, path: Path, loops: list) -> Any:
    if path.loop:
        return _loop_value(path.loop, *loops[-1]) if loops else None
    # Fast path: a plain name in the current scope (most tags).
    if not path.ups and len(path.parts) == 1:
        scope = scopes[-1]
        return scope.get(path.parts[0]) if type(scope) is dict else None
    return _resolve(scopes, path)


def _render(
    nodes: tuple, scopes: list, out: list[str], content: str, loops: list
) -> None:
    append = out.append
    for node in nodes:
        if type(node) is str:  # literal text
            append(node)
            continue
        kind = node[0]
        if kind == VAR:
            value = _lookup(scopes, node[1], loops)
            if value is not None:
                append(_escape(value if type(value) is str else _text(value)))
        elif kind == RAW:
            value = _lookup(scopes, node[1], loops)
            if value is not None:
                append(value if type(value) is str else _text(value))
        elif kind == EACH:
            value = _lookup(scopes, node[1], loops)
            if not _truthy(value):
                continue
            if not isinstance(value, list):
                raise RenderError(
                    f"'{node[1].text}' is used like an array by the template, "
                    "but is a scalar value or object in your model."
                )
            children = node[2]
            count = len(value)
            for index, item in enumerate(value):
                scopes.append(item)
                loops.append((index, count))
                _render(children, scopes, out, content, loops)
                loops.pop()
                scopes.pop()
        elif kind == SECTION:
            value = _lookup(scopes, node[1], loops)
            if _truthy(value):
                scopes.append(value)
                _render(node[2], scopes, out, content, loops)
                scopes.pop()
        elif kind == INVERTED:
            if not _truthy(_lookup(scopes, node[1], loops)):
                _render(node[2], scopes, out, content, loops)
        elif kind == CONTENT:
            append(content)


def render(compiled: Compiled, model: dict, content: str = "") -> str:
    """Render with ``model`` as the root scope; ``content`` fills ``@content``.
    Raises ``RenderError`` when the model does not fit."""
    out: list[str] = []
    if compiled.function is not None:
        compiled.function([model], out, content)
    else:
        _render(compiled.nodes, [model], out, content, [])
    return "".join(out)


# --- code generation ------------------------------------------------------------
# Rendering is on the send path of every templated message, so each compiled
# tree is also translated once into straight-line Python (the same rules as
# _render, without its per-node dispatch): about three times faster. Only our
# own node tree goes into the generated source; text and names from the
# template reach it through repr() or the constants list, never as code.


def _array_error(path: Path) -> RenderError:
    return RenderError(
        f"'{path.text}' is used like an array by the template, "
        "but is a scalar value or object in your model."
    )


def _text_or_str(value: Any) -> str:
    return value if type(value) is str else _text(value)


def _generate(nodes: tuple) -> Any:
    consts: list[Any] = []
    lines = ["def render(scopes, out, content):", "    append = out.append"]

    def const(value: Any) -> str:
        consts.append(value)
        return f"C[{len(consts) - 1}]"

    def lookup(path: Path, target: str, indent: str, loop: int | None) -> None:
        if path.loop:
            if loop is None:
                expr = "None"
            elif path.loop == "@index":
                expr = f"i{loop}"
            elif path.loop == "@first":
                expr = f"i{loop} == 0"
            else:
                expr = f"i{loop} == n{loop} - 1"
            lines.append(f"{indent}{target} = {expr}")
        elif not path.ups and len(path.parts) == 1:
            lines.append(f"{indent}{target} = scopes[-1]")
            lines.append(
                f"{indent}{target} = {target}.get({path.parts[0]!r}) "
                f"if type({target}) is dict else None"
            )
        else:
            lines.append(f"{indent}{target} = resolve(scopes, {const(path)})")

    def emit(items: tuple, depth: int, loop: int | None = None) -> None:
        indent = "    " * (depth + 1)
        value = f"v{depth}"
        for node in items:
            if type(node) is str:
                lines.append(f"{indent}append({node!r})")
                continue
            kind = node[0]
            if kind == CONTENT:
                lines.append(f"{indent}append(content)")
                continue
            lookup(node[1], value, indent, loop)
            if kind == VAR:
                lines.append(f"{indent}if {value} is not None:")
                lines.append(f"{indent}    append(escape(text({value})))")
            elif kind == RAW:
                lines.append(f"{indent}if {value} is not None:")
                lines.append(f"{indent}    append(text({value}))")
            elif kind == SECTION:
                lines.append(f"{indent}if truthy({value}):")
                lines.append(f"{indent}    scopes.append({value})")
                emit(node[2], depth + 1, loop)
                lines.append(f"{indent}    scopes.pop()")
            elif kind == INVERTED:
                lines.append(f"{indent}if not truthy({value}):")
                lines.append(f"{indent}    pass")
                emit(node[2], depth + 1, loop)
            elif kind == EACH:
                lines.append(f"{indent}if truthy({value}):")
                lines.append(f"{indent}    if type({value}) is not list:")
                lines.append(f"{indent}        raise array_error({const(node[1])})")
                lines.append(f"{indent}    n{depth} = len({value})")
                lines.append(f"{indent}    for i{depth}, item in enumerate({value}):")
                lines.append(f"{indent}        scopes.append(item)")
                emit(node[2], depth + 2, depth)
                lines.append(f"{indent}        scopes.pop()")

    emit(nodes, 0)
    namespace = {
        "C": consts,
        "resolve": _resolve,
        "escape": _escape,
        "text": _text_or_str,
        "truthy": _truthy,
        "array_error": _array_error,
    }
    try:
        exec(compile("\n".join(lines), "<template>", "exec"), namespace)  # noqa: S102
    except (SyntaxError, RecursionError, MemoryError):
        # Python allows only 20 nested loops in one function; deeper
        # templates use the tree walker.
        return None
    return namespace["render"]


# --- model inference (Postmark's SuggestedTemplateModel) ---------------------------


class _Inferred:
    __slots__ = ("key", "parent", "children", "usages")

    def __init__(self, key: str = "", parent: _Inferred | None = None) -> None:
        self.key = key
        self.parent = parent
        self.children: dict[str, _Inferred] = {}
        self.usages: set[str] = set()

    def at(self, path: Path) -> _Inferred:
        node = self
        for _ in range(path.ups):
            node = node.parent or node
        for part in path.parts:
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Inferred(part, node)
            node = child
        return node

    def represent(self) -> Any:
        kids = {k: v.represent() for k, v in self.children.items()}
        if not self.usages:
            return kids
        if self.usages == {"scalar"}:
            return f"{self.key}_Value"
        if "collection" in self.usages:
            return [kids] if kids else [f"{self.key}_{n}" for n in (1, 2, 3)]
        return kids


def _infer(nodes: tuple, scope: _Inferred) -> None:
    for node in nodes:
        if type(node) is str:
            continue
        kind = node[0]
        if kind != CONTENT and node[1].loop:
            # @index/@first/@last are not model names.
            if kind in (SECTION, INVERTED):
                _infer(node[2], scope)
            continue
        if kind in (VAR, RAW):
            if node[1].parts:
                scope.at(node[1]).usages.add("scalar")
        elif kind in (SECTION, INVERTED):
            inner = scope.at(node[1])
            inner.usages.add("conditional")
            _infer(node[2], inner)
        elif kind == EACH:
            inner = scope.at(node[1])
            inner.usages.add("collection")
            _infer(node[2], inner)


def suggested_model(*templates: Compiled) -> dict:
    """A model with a placeholder for every name the templates use (scalars as
    ``"<name>_Value"``, arrays with one sample item), as Mustachio infers it."""
    root = _Inferred()
    for compiled in templates:
        _infer(compiled.nodes, root)
    result = root.represent()
    return result if isinstance(result, dict) else {}
