"""What the window asks of the DAQ, never on the GUI thread and never with Qt: run control's
start and stop, the alarm server's acknowledge and shelve, and logbook entries (to the
conditions database on the DAQ's machine, or through run control from another)."""

from __future__ import annotations

import threading

from daq.core.detector import Detector


def forbidden(curve_keys) -> str | None:
    """Why a window with ``curve_keys`` may not act on the DAQ (a viewer's key), or None: the
    reason its buttons show, disabled (``docs/security.md``)."""
    if curve_keys is None:
        return None
    keyring, name, _ = curve_keys
    role = keyring.roles.get(name)
    if role in ("operator", "daq"):
        return None
    return (f"this monitor's key {name!r} is a {role}'s: only an operator may start and stop "
            "runs, write the logbook and acknowledge or shelve the DAQ's alarms")


class RunControlAsker:
    """Asks the DAQ's run-control endpoint in a thread (a stop takes seconds; the GUI thread
    only draws); the answer lands in ``last_answer`` for the status bar. ``curve_keys``:
    (keyring, this window's key, the DAQ's key) when run control uses CURVE."""

    def __init__(self, endpoint: str | None, curve_keys=None):
        self.endpoint = endpoint
        self.curve_keys = curve_keys
        self.last_answer = ""

    @property
    def forbidden(self) -> str | None:
        return forbidden(self.curve_keys)

    def _ask(self, what: str, command: str, timeout_s: float, ok_text: str,
             refused: str = "", **fields) -> str:
        from daq.core.config_schema import ConfigError
        from daq.core.control_protocol import ask

        def work():
            try:
                a = ask(self.endpoint, command, timeout_s, curve_keys=self.curve_keys,
                        **fields)
                self.last_answer = f"{what}: " + (ok_text if a.get("ok") else
                                                  f"{refused}{a.get('error')}")
            except ConfigError as exc:
                self.last_answer = f"{what}: {exc}"
        threading.Thread(target=work, daemon=True).start()
        return f"{what}: asked..."


class ControlButtons(RunControlAsker):
    """The DAQ panel's start/stop."""

    def ask(self, command: str) -> str:
        return self._ask(command, command, 60.0, "ok")


class AlarmCommands(RunControlAsker):
    """Where the Alarms tab's acknowledge, shelve and unshelve go: the DAQ's run-control
    endpoint (``alarm`` request, handled by the tap), or a file feed's own handler."""

    def __init__(self, endpoint: str | None = None, handler=None, curve_keys=None):
        super().__init__(endpoint, curve_keys)
        self.handler = handler

    def __call__(self, request: dict) -> str:
        from monitor.alarm_handler import AlarmCommandError

        what = f"{request['action']} {request['name']!r}"
        if self.handler is not None:
            try:
                self.handler.command(request)
                self.last_answer = f"{what}: done"
            except AlarmCommandError as exc:
                self.last_answer = f"{what}: refused: {exc}"
            return self.last_answer
        return self._ask(what, "alarm", 10.0, "sent to the alarm server", "refused: ",
                         **request)


class NoteWriter:
    """Where the logbook form's entries go: the conditions database itself on the DAQ's
    machine, or the DAQ's run-control endpoint (``logbook`` request) from another one; the
    same code (``Conditions.add_note``) writes them in both cases."""

    def __init__(self, detector: Detector, control_endpoint: str | None = None,
                 curve_keys=None):
        self.detector = detector
        self.control_endpoint = control_endpoint
        self.curve_keys = curve_keys
        self.forbidden = forbidden(curve_keys)

    def __call__(self, text: str, kind: str, author: str, run: int | None) -> str:
        from daq.conditions import ConditionsError, ask_database
        from daq.core.config_schema import ConfigError
        from daq.core.control_protocol import ask

        try:
            if self.control_endpoint is None:
                entry = ask_database(self.detector,
                                     lambda c: c.add_note(text, kind, author, run))
                return f"entry {entry} added" if entry else "no conditions database here"
            answer = ask(self.control_endpoint, "logbook", 10.0, curve_keys=self.curve_keys,
                         text=text, kind=kind, author=author, run=run)
            return "entry added through run control" if answer.get("ok") else \
                f"refused: {answer.get('error')}"
        except (ConditionsError, ConfigError) as exc:
            return f"refused: {exc}"
