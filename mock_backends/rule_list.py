"""An ordered list of decision rules, shared by the backends that answer by rule
(muc_auth, rest_callback): the first matching rule decides."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from flask import Flask, Response

from mock_backends.base import Backend, json_response, request_json


class Rule(Protocol):
    @classmethod
    def from_mapping(cls, data: Any, where: str = ...) -> Rule: ...

    def to_dict(self) -> dict[str, Any]: ...


class RuledBackend(Backend):
    rule_class: ClassVar[type[Rule]]

    def _configure_rules(self, rules: Any) -> None:
        where = f"{self.kind} backend.rules"
        self._rules: list[Any] = []
        if not isinstance(rules or [], list):
            raise ValueError(f"{where}: expected a list of rules")
        for index, rule in enumerate(rules or []):
            self._rules.append(self.rule_class.from_mapping(rule, f"{where}[{index}]"))

    def _append_rule(self, spec: dict[str, Any]) -> None:
        rule = self.rule_class.from_mapping({k: v for k, v in spec.items() if v is not None})
        with self._lock:
            self._rules.append(rule)

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_dict() for rule in self._rules]

    def _register_rule_routes(self, app: Flask) -> None:
        @app.get("/_mock/rules")
        def get_rules() -> Response:
            return json_response(self.rules())

        @app.post("/_mock/rules")
        def post_rule() -> Response:
            rule = self.rule_class.from_mapping(request_json())
            with self._lock:
                self._rules.append(rule)
            return json_response(self.rules(), 201)

        @app.delete("/_mock/rules")
        def delete_rules() -> Response:
            self.clear_rules()
            return json_response([])
