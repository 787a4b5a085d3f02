"""The roster web app (mod_http_roster_admin's counterpart): its verbs and defaults."""

from __future__ import annotations

from harness.scenario.steps.kind import BackendKind, StepFailed, StepKind, StepParse, StepRun

# Where mod_http_roster_admin takes refresh requests; `B befriends` posts there.
REFRESH_PATH = "/roster_admin/refresh"


def _parse_sets(parse: StepParse, step, match, value, extras, path) -> None:
    step.params["value"] = parse.mapping(value, path, f"'{step.text}'")
    step.params["user"] = match["user"]


def _sets(run: StepRun, step) -> None:
    params = run.value(step.params)
    run.backends[step.actor].set_roster(params["user"], params["value"])


def _parse_befriends(parse: StepParse, step, match, value, extras, path) -> None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise parse.error(path, "befriends needs [USER1, USER2]")
    step.params["users"] = value


def _befriends(run: StepRun, step) -> None:
    first, second = run.value(step.params["users"])
    answer = run.backends[step.actor].befriend(first, second)
    status = (answer or {}).get("status")
    if status is None or not 200 <= status < 300:
        detail = (answer or {}).get("error") or (answer or {}).get("body") or "no answer"
        raise StepFailed(f"Prosody's refresh answered {status}: {detail}")


ROSTER = BackendKind(
    "roster",
    "the web app that owns users' rosters (mod_http_roster_admin)",
    verbs=(
        StepKind(
            "backend_set_roster",
            r"(?P<actor>\S+) sets (?P<user>\S+)",
            "roster",
            "B sets USER: {JID: {name, groups}}",
            "roster backend B: replace USER's roster (does not notify Prosody)",
            _parse_sets,
            _sets,
        ),
        StepKind(
            "backend_befriend",
            r"(?P<actor>\S+) befriends",
            "roster",
            "B befriends: [USER1, USER2]",
            "roster backend B: make two users contacts and POST both names to Prosody's "
            "refresh URL; fails unless Prosody answers 2xx",
            _parse_befriends,
            _befriends,
        ),
    ),
    defaults=lambda run: {"refresh_url": run.target.http_url + REFRESH_PATH},
)
