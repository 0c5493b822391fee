"""The faults in force on an engine, and which connections each one touches.

Whether a fault touches a connection is drawn once per (fault, connection) from a
stream derived from the engine's seed, the fault's name and the connection's id: the
same seed picks the same connections on every run, whatever order they come in, and
raising a fault's toxicity keeps the connections it already touched.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from shaper.faults import Fault, FaultSpec, Undo, make_fault

if TYPE_CHECKING:
    from shaper.engine.connection import Connection

Record = Callable[[str, str, int | None], None]


class FaultRunner:
    def __init__(self, seed: int, record: Record):
        self.seed = seed
        self._record = record
        self.faults: dict[str, Fault] = {}
        self.fired: Counter[str] = Counter()  # per fault type: connections it touched
        # What each fault did to each open connection, to undo on removal.
        self._undo: dict[int, tuple[Connection, dict[str, Undo]]] = {}

    # -- the draw --------------------------------------------------------------------

    def _draw(self, spec: FaultSpec, conn_id: int, what: str = "touch") -> random.Random:
        return random.Random(f"{self.seed}/{spec.name}/{conn_id}/{what}")

    def chosen(self, spec: FaultSpec, conn_id: int) -> bool:
        if spec.toxicity <= 0.0:
            return False  # never touched, not even drawn
        if spec.toxicity >= 1.0:
            return True
        return self._draw(spec, conn_id).random() < spec.toxicity

    def _matching(self, route: str, conn_id: int) -> list[Fault]:
        return [
            fault
            for fault in self.faults.values()
            if fault.spec.applies_to_route(route) and self.chosen(fault.spec, conn_id)
        ]

    def _fired(self, fault: Fault, conn_id: int, what: str) -> None:
        self.fired[fault.spec.type] += 1
        self._record("fault", f"fault {fault.spec.name} ({fault.spec.type}) {what}", conn_id)

    # -- a new client ------------------------------------------------------------------

    def refusal(self, route: str, conn_id: int) -> str | None:
        """'reset' or 'close' if a refuse fault turns this client away."""
        for fault in self._matching(route, conn_id):
            mode = fault.refuse()
            if mode is not None:
                self._fired(fault, conn_id, f"refused the client ({mode})")
                return mode
        return None

    def dial_delay(self, route: str, conn_id: int) -> float:
        delay = 0.0
        for fault in self._matching(route, conn_id):
            wait = fault.dial_delay()
            if wait:
                self._fired(fault, conn_id, f"delays the upstream dial by {wait:g} s")
                delay = max(delay, wait)
        return delay

    def attach(self, conn: Connection) -> None:
        """Apply the faults that touch this new connection."""
        for fault in self._matching(conn.route_name, conn.id):
            self._apply(fault, conn)

    def _apply(self, fault: Fault, conn: Connection) -> None:
        if not fault.applies_to_open:
            return
        undo = fault.apply(conn.fault_target, self._draw(fault.spec, conn.id, "settings"))
        if undo is not None:
            undos = self._undo.setdefault(conn.id, (conn, {}))[1]
            undos[fault.spec.name] = undo
            conn.faults = tuple(undos)
            self._fired(fault, conn.id, "applies")

    def detach(self, conn: Connection) -> None:
        self._undo.pop(conn.id, None)  # closed: nothing left to undo

    # -- changes -------------------------------------------------------------------

    def add(self, spec: FaultSpec, open_connections: Iterable[Connection]) -> None:
        if spec.name in self.faults:
            raise KeyError(spec.name)
        fault = make_fault(spec)
        self.faults[spec.name] = fault
        self._record("fault", f"fault {spec.name} ({spec.type}) added", None)
        for conn in list(open_connections):
            if spec.applies_to_route(conn.route_name) and self.chosen(spec, conn.id):
                self._apply(fault, conn)

    def remove(self, name: str) -> FaultSpec:
        fault = self.faults.pop(name)
        for conn, undos in list(self._undo.values()):  # an undo may close a connection
            undo = undos.pop(name, None)
            if undo is not None:
                conn.faults = tuple(undos)
                undo()
        self._record("fault", f"fault {name} ({fault.spec.type}) removed", None)
        return fault.spec

    def replace(self, spec: FaultSpec, open_connections: Iterable[Connection]) -> None:
        """A changed fault: undone where it acted, then applied as it now reads."""
        conns = list(open_connections)
        self.remove(spec.name)
        self.add(spec, conns)

    def specs(self) -> list[FaultSpec]:
        return [fault.spec for fault in self.faults.values()]
