"""YAML reading that remembers where every value came from, for file:line errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


class ScenarioError(Exception):
    """A scenario file is invalid; str() is `file:line: what is wrong`."""

    def __init__(self, file: str, line: int | None, message: str):
        self.file = file
        self.line = line
        self.message = message
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")

    def __reduce__(self):
        # Pickled from its three fields (a forked loader, the load cache), not from str().
        return type(self), (self.file, self.line, self.message)


@dataclass
class LocatedDocument:
    """A parsed YAML document plus the 1-based line of every value in it."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    values: int = 0  # how many were read (a bound against alias bombs)

    def line(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest located parent."""
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path: Path, message: str) -> ScenarioError:
        return ScenarioError(self.file, self.line(path), message)


# libyaml's parser where PyYAML has it (its wheels do): 10 times the pure-Python one's
# speed, which was most of the time spent loading a suite. Both give nodes with lines.
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: More values than this (aliases expanding exponentially, say) is not a scenario.
MAX_VALUES = 200_000
TOO_DEEP = "nested too deeply to be a scenario"


def read_yaml(file: str, text: str) -> LocatedDocument:
    loader = None
    try:
        loader = YamlLoader(text)  # checks the characters: may raise already
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        if "maximum nesting depth" in problem:  # libyaml's bound, where Python's recursion ends
            raise ScenarioError(file, line, TOO_DEEP) from None
        raise ScenarioError(file, line, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, None, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise ScenarioError(file, None, TOO_DEEP) from None
    finally:
        if loader is not None:
            loader.dispose()
    document = LocatedDocument(file, None)
    if node is None:
        raise ScenarioError(file, 1, "the file is empty")
    try:
        document.data = _convert(node, (), document, yaml.SafeLoader(""))
    except RecursionError:
        raise ScenarioError(file, None, TOO_DEEP) from None
    return document


def _convert(
    node: yaml.Node, path: Path, doc: LocatedDocument, constructor: yaml.SafeLoader
) -> Any:
    doc.values += 1
    if doc.values > MAX_VALUES:
        raise ScenarioError(
            doc.file,
            node.start_mark.line + 1,
            f"more than {MAX_VALUES:,} values (aliases that expand without end?): not a scenario",
        )
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)  # honours YAML merge keys (<<)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, path + ("<key>",), doc, constructor)
            if isinstance(key, (dict, list)):
                raise ScenarioError(
                    doc.file, key_node.start_mark.line + 1, "a key must be a plain value"
                )
            if key in result:
                raise ScenarioError(
                    doc.file, key_node.start_mark.line + 1, f"duplicate key {key!r}"
                )
            doc.lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, path + (key,), doc, constructor)
        doc.lines.pop(path + ("<key>",), None)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), doc, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)
