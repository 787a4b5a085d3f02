"""What every mock backend shares: serving, the journal, faults and the common control API."""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from mock_backends import tls
from mock_backends.answers import Answer, AnswerList
from mock_backends.faults import Fault, FaultList
from mock_backends.http_handler import call_wsgi
from mock_backends.http_server import BackgroundServer, DropConnection
from mock_backends.journal import (
    Journal,
    JournalEntry,
    headers_dict,
    parse_json_body,
    query_dict,
)
from mock_backends.routes import build_app
from mock_backends.validation import check_keys, expect_mapping

#: Paths under this prefix drive the mock; they are never journaled nor faulted.
CONTROL_PREFIX = "/_mock/"

COMMON_CONFIG_KEYS = ("kind", "faults", "answers", "tls")

#: waiter(seconds, stopping, (client_port, server_port)): how a latency or hang fault
#: waits (see wait_with).
Waiter = Callable[[float, threading.Event, tuple[int, int]], None]


class MockHandlerError(AssertionError):
    """A mock backend's own code raised while answering a request."""


def json_response(data: Any, status: int = 200) -> Response:
    # json.dumps directly: flask.jsonify costs a third of a MUC decision's server time.
    return Response(
        json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json"
    )


def request_json() -> Any:
    """The control request's JSON body; a ValueError (-> 400) when absent or malformed."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ValueError("expected a JSON body")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ValueError(f"malformed JSON body: {exc}") from exc


def post_to_prosody(url: str, **options: Any) -> Any:
    """`requests.post` as Prosody's net.http reaches a peer: straight, never through a
    proxy the environment names (the Prosody a mock calls is on this machine). requests
    is imported here: a tenth of a second, and most runs never call Prosody."""
    import requests

    with requests.Session() as session:
        session.trust_env = False
        return session.post(url, **options)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Injected Fault"


class Backend:
    """A mock web service on a real port. Use as a context manager or call stop()."""

    kind: ClassVar[str]
    config_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, config: Mapping[str, Any] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        where = f"{self.kind} backend"
        settings = expect_mapping(config or {}, where)
        check_keys(settings, COMMON_CONFIG_KEYS + self.config_keys, where)
        if settings.get("kind", self.kind) not in (self.kind, self.kind.replace("_", "-")):
            raise ValueError(f"{where}: config is for kind {settings['kind']!r}")
        self._lock = threading.RLock()
        self._journal = Journal()
        self._faults = FaultList()
        self._answers = AnswerList()
        self._handler_errors: list[str] = []
        self._stopping = threading.Event()
        self._waiter: Waiter | None = None
        self._startup_settings = settings  # the routes may depend on them (roster's path)
        self.app = build_app(f"mock_backends.{self.kind}", type(self), self._register_all_routes)
        self._configure(settings)
        faults = settings.get("faults") or []
        if not isinstance(faults, list):
            raise ValueError(f"{where}.faults: expected a list of faults")
        for index, fault in enumerate(faults):
            self._faults.add(Fault.from_mapping(fault, f"{where}.faults[{index}]"))
        answers = settings.get("answers") or []
        if not isinstance(answers, list):
            raise ValueError(f"{where}.answers: expected a list of answers")
        for index, answer in enumerate(answers):
            self._answers.add(Answer.from_mapping(answer, f"{where}.answers[{index}]"))
        self.tls = settings.get("tls") or None
        if self.tls is True:
            self.tls = "trusted"
        context = tls.server_context(self.tls, host) if self.tls else None
        self._server = BackgroundServer(self._serve, host, port, context)
        self.host = self._server.host
        self.port = self._server.port

    # -- for subclasses -------------------------------------------------------------------

    def _configure(self, settings: dict[str, Any]) -> None:
        """Apply the kind-specific keys of the initial state (already checked for unknowns)."""

    def _register_routes(self, app: Flask) -> None:
        """Add the protocol routes and the kind-specific control routes: all of them,
        here (they may depend on `self._startup_settings`, not on anything later)."""

    def _register_all_routes(self, app: Flask) -> None:
        """Every route on `app` (see mock_backends.routes: called again for a new app)."""
        self._register_common_routes(app)
        self._register_routes(app)

    # -- public API ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving; releases hung requests. Safe to call more than once."""
        self._stopping.set()
        self._server.stop()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_with(self, waiter: Waiter | None) -> None:
        """Have latency and hang faults wait with `waiter(seconds, stopping, connection)`
        instead of sleeping (None: sleep again); `connection` is (client port, server
        port), which names the TCP connection on this host. A harness that keeps its own
        clock for the client (the in-process sandbox) lets the wait pass on that clock;
        `stopping` is set when the backend stops, and the wait must then end."""
        self._waiter = waiter

    def journal(self) -> list[JournalEntry]:
        return self._journal.entries()

    def clear_journal(self) -> None:
        self._journal.clear()

    def on_request(self, listener: Callable[[JournalEntry], None]) -> None:
        """Call `listener(entry)` for each journaled request, from the serving thread."""
        self._journal.add_listener(listener)

    def add_fault(
        self,
        path: str | None = None,
        latency: float | None = None,
        status: int | None = None,
        body: str | None = None,
        drop: bool = False,
        hang: float | None = None,
        *,
        method: str | None = None,
        times: int | None = None,
        reset: bool = False,
        size: int | None = None,
        redirect: bool = False,
    ) -> None:
        spec = {
            "path": path,
            "latency": latency,
            "status": status,
            "body": body,
            "drop": drop,
            "hang": hang,
            "method": method,
            "times": times,
            "reset": reset,
            "size": size,
            "redirect": redirect,
        }
        self._faults.add(Fault.from_mapping({k: v for k, v in spec.items() if v is not None}))

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        return self._faults.active()

    def add_answer(self, **spec: Any) -> None:
        """Answer matching requests with this status/body instead of the backend's logic
        (keys: path, method, status, body, json, content_type, headers, times)."""
        self._answers.add(Answer.from_mapping({k: v for k, v in spec.items() if v is not None}))

    def clear_answers(self) -> None:
        self._answers.clear()

    def answers(self) -> list[dict[str, Any]]:
        return self._answers.active()

    def handler_errors(self) -> list[str]:
        """Tracebacks of exceptions the backend's own code raised while answering (each
        answered 500): a bug in the mock, never a behaviour to test against."""
        with self._lock:
            return list(self._handler_errors)

    def check_handler_errors(self) -> None:
        """Raise MockHandlerError if the backend's code failed while answering."""
        errors = self.handler_errors()
        if errors:
            raise MockHandlerError(
                f"the {self.kind} mock failed while answering {len(errors)} request(s):\n"
                + errors[0]
            )

    # -- serving ------------------------------------------------------------------------

    def _serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """WSGI entry: journal and fault the protocol routes, then let Flask answer."""
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX) or path == CONTROL_PREFIX.rstrip("/"):
            return self.app(environ, start_response)
        arrived = time.time()
        raw = environ["wsgi.input"].read()
        environ["wsgi.input"].seek(0)
        body = raw.decode("utf-8", errors="replace")
        method = environ["REQUEST_METHOD"]
        entry: JournalEntry = {
            "method": method,
            "path": path.encode("latin-1").decode("utf-8", errors="replace"),
            "raw_path": environ.get("RAW_URI", path).partition("?")[0],
            "query": query_dict(environ.get("QUERY_STRING", "")),
            "headers": headers_dict(environ),
            "body": body,
            "json": parse_json_body(body),
            "time": arrived,
        }
        fault = self._faults.take(method, entry["path"])
        if fault is None:
            return self._respond(environ, start_response, entry)
        entry["fault"] = fault.to_dict()
        if fault.latency:
            self._pause(fault.latency, environ)
        if fault.drop or fault.hang is not None:
            entry["status"] = None
            self._journal.record(entry)
            if fault.hang:
                self._pause(fault.hang, environ)
            raise DropConnection
        if not fault.answers_itself:
            if fault.reset:
                self._reset_mid_answer(*self._answer_in_full(environ, entry))
            return self._respond(environ, start_response, entry)
        status, headers, payload = fault.answer(entry["path"], environ.get("QUERY_STRING", ""))
        entry["status"] = status
        self._journal.record(entry)
        if fault.reset:
            self._reset_mid_answer(f"{status} {_reason(status)}", headers, payload)
        start_response(f"{status} {_reason(status)}", headers)
        return [payload]

    def _pause(self, seconds: float, environ: dict[str, Any]) -> None:
        waiter = self._waiter
        if waiter is None:
            self._stopping.wait(seconds)
        else:
            connection = (int(environ.get("REMOTE_PORT") or 0), self.port)
            waiter(seconds, self._stopping, connection)

    def _answer_in_full(
        self, environ: dict[str, Any], entry: JournalEntry
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """The answer _respond would send, as (status line, headers, body)."""
        return call_wsgi(lambda env, start: self._respond(env, start, entry), environ)

    @staticmethod
    def _reset_mid_answer(status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        """Send the head and the first half of the body (half the head when there is no
        body), then reset the connection."""
        raise DropConnection(answer=(status, headers, payload, len(payload) // 2))

    def _respond(
        self, environ: dict[str, Any], start_response: Callable[..., Any], entry: JournalEntry
    ) -> Iterable[bytes]:
        """A canned answer if one matches, else the backend's own."""
        answer = self._answers.take(entry["method"], entry["path"])
        if answer is not None:
            entry["answer"] = answer.to_dict()
            entry["status"] = answer.status
            self._journal.record(entry)
            payload, headers = answer.payload()
            start_response(f"{answer.status} {_reason(answer.status)}", headers)
            return [payload]

        def recording_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            entry["status"] = int(status.split(" ", 1)[0])
            self._journal.record(entry)
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start_response)

    # -- control API shared by all kinds ------------------------------------------------

    def _register_common_routes(self, app: Flask) -> None:

        @app.errorhandler(ValueError)
        def bad_input(exc: ValueError) -> Response:
            return json_response({"error": str(exc)}, 400)

        @app.errorhandler(HTTPException)
        def http_error(exc: HTTPException) -> Response:
            return json_response({"error": exc.description}, exc.code or 500)

        @app.errorhandler(Exception)
        def handler_failed(exc: Exception) -> Response:
            # A bug in the mock: kept for check_handler_errors(), so that a scenario
            # cannot pass on a 500 the mock never meant to send.
            text = "".join(traceback.format_exception(exc))
            with self._lock:
                self._handler_errors.append(text)
            return json_response({"error": f"the mock failed: {exc}"}, 500)

        @app.get("/_mock/")
        def describe() -> Response:
            return json_response(
                {"kind": self.kind, "url": self.url, "openapi": "/_mock/openapi.yaml"}
            )

        @app.get("/_mock/openapi.yaml")
        def openapi() -> Response:
            from importlib.resources import files

            text = files("mock_backends").joinpath("openapi.yaml").read_text("utf-8")
            return Response(text, mimetype="application/yaml")

        @app.get("/_mock/journal")
        def get_journal() -> Response:
            return json_response(self.journal())

        @app.delete("/_mock/journal")
        def delete_journal() -> Response:
            self.clear_journal()
            return json_response({"cleared": True})

        @app.get("/_mock/faults")
        def get_faults() -> Response:
            return json_response(self.faults())

        @app.post("/_mock/faults")
        def post_fault() -> Response:
            self._faults.add(Fault.from_mapping(request_json()))
            return json_response(self.faults(), 201)

        @app.delete("/_mock/faults")
        def delete_faults() -> Response:
            self.clear_faults()
            return json_response([])

        @app.get("/_mock/answers")
        def get_answers() -> Response:
            return json_response(self.answers())

        @app.post("/_mock/answers")
        def post_answer() -> Response:
            self._answers.add(Answer.from_mapping(request_json()))
            return json_response(self.answers(), 201)

        @app.delete("/_mock/answers")
        def delete_answers() -> Response:
            self.clear_answers()
            return json_response([])

        @app.get("/_mock/handler-errors")
        def get_handler_errors() -> Response:
            return json_response(self.handler_errors())
