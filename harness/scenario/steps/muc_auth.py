"""The MUC authorization service (mod_muc_http_auth's counterpart): its verbs."""

from __future__ import annotations

from harness.scenario.steps.kind import BackendKind, StepKind, StepParse, StepRun


def _parse_decides(parse: StepParse, step, match, value, extras, path) -> None:
    value = parse.mapping(value, path, "decides")
    if "allowed" not in value:
        raise parse.error(path, "decides needs allowed: true|false")
    step.params["value"] = value


def _decides(run: StepRun, step) -> None:
    run.backends[step.actor].add_rule(**run.value(step.params["value"]))


MUC_AUTH = BackendKind(
    "muc_auth",
    "the service that decides who may join a room (mod_muc_http_auth)",
    verbs=(
        StepKind(
            "backend_decide",
            r"(?P<actor>\S+) decides",
            "muc_auth",
            "B decides: {room?, user?, domain?, nickname?, allowed, error?}",
            "muc_auth backend B: add a decision rule (the first that matches decides)",
            _parse_decides,
            _decides,
        ),
    ),
)
