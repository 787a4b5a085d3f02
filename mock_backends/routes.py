"""A backend's Flask app, on a URL map compiled once for every backend with its routes.

Werkzeug compiles each route into Python code (ast.parse, compile): when every backend
did it again, that was a third of a short scenario's time. A new backend's routes are
first taken down without compiling; when a backend of the same class had exactly those
routes, the new app shares its compiled map (read-only once built) and keeps its own
view functions, which close over the new backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.routing import Map, Rule, RuleFactory

# Backends made in parallel (runner workers) build in turn: this machine's CPython
# 3.11.7 can fail two ast.parse calls at once in different threads ("SystemError: AST
# constructor recursion depth mismatch", seen in 1 suite run of 13).
_BUILDING = threading.Lock()


def _route(rule: Rule) -> tuple[Any, ...]:
    """What makes a route match and build as it does."""
    return (
        rule.rule,
        tuple(sorted(rule.methods or ())),
        rule.endpoint,
        repr(rule.defaults),
        rule.strict_slashes,
        rule.redirect_to,
        rule.build_only,
    )


class _RouteRecorder(Map):
    """Takes an app's routes without compiling them, to look for the compiled map."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: list[tuple[Any, ...]] = []

    def add(self, rulefactory: RuleFactory) -> None:
        self.routes += [_route(rule) for rule in rulefactory.get_rules(self)]


# By backend class and routes: the compiled map every app with those routes shares.
_COMPILED_MAPS: dict[tuple[type, tuple], Map] = {}


def build_app(name: str, kind: type, register: Callable[[Flask], None]) -> Flask:
    """A Flask app called `name` with the routes `register(app)` adds, on the map
    compiled for `kind` and those routes (compiled now if there is none yet)."""
    with _BUILDING:
        app = Flask(name, static_folder=None)  # no static route: mocks serve no files
        app.url_map = recorder = _RouteRecorder()
        register(app)
        key = (kind, tuple(recorder.routes))
        compiled = _COMPILED_MAPS.get(key)
        if compiled is None:  # the first with these routes: build it for real
            app = Flask(name, static_folder=None)
            register(app)
            compiled = _COMPILED_MAPS[key] = app.url_map
        app.url_map = compiled
        return app
