"""The webhook that receives stanzas (mod_rest's counterpart): its verbs."""

from __future__ import annotations

from harness.scenario.steps.kind import BackendKind, StepKind, StepParse, StepRun


def _parse_replies(parse: StepParse, step, match, value, extras, path) -> None:
    value = parse.mapping(value, path, "replies")
    if "match" not in value:
        raise parse.error(path, "replies needs match: {...}")
    step.params["value"] = value


def _replies(run: StepRun, step) -> None:
    run.backends[step.actor].add_reply_rule(**run.value(step.params["value"]))


REST_CALLBACK = BackendKind(
    "rest_callback",
    "the webhook receiving stanzas from mod_rest, and a bot answering them",
    verbs=(
        StepKind(
            "backend_reply",
            r"(?P<actor>\S+) replies",
            "rest_callback",
            "B replies: {match, status?, reply?, content_type?}",
            "rest_callback backend B: add a reply rule (the first whose match fits answers)",
            _parse_replies,
            _replies,
        ),
    ),
)
