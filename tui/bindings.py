"""The app's own keys (anywhere). Each binding's tooltip is its line in the help (? / F1),
which is built from the bindings of the app and of its screens."""

from __future__ import annotations

from textual.binding import Binding, BindingType

APP_BINDINGS: list[BindingType] = [
    Binding("question_mark,f1", "help", "help", id="help", key_display="?",
            tooltip="this help"),
    Binding("q", "quit", "quit", id="quit",
            tooltip="quit (and stop what `shaper run` or `shaper demo` started)"),
    Binding("ctrl+q", "quit", "quit", id="quit_ctrl", show=False, priority=True),
    Binding("space", "freeze", "freeze", id="freeze",
            tooltip="freeze / resume the display (the engine keeps running)"),
    Binding("b", "toggle_bits", "bits", id="toggle_bits", show=False,
            tooltip="rates in bits (kbit/s, Mbit/s: as limits are written) or bytes"),
    Binding("e", "edit_limits", "limits", id="edit_limits",
            tooltip="limits editor (both directions; invalid values are refused)"),
    Binding("p", "profiles", "profiles", id="profiles",
            tooltip="profiles: pick one and apply it"),
    Binding("f", "faults", "faults", id="faults", show=False,
            tooltip="faults: those in force, add (TYPE[:key=value,...]), remove"),
    Binding("R", "routes", "routes", id="routes", show=False,
            tooltip="routes: add one ([NAME=]LISTEN=UPSTREAM), disable / enable, remove"),
    Binding("O", "toggle_offline", "offline", id="toggle_offline", show=False,
            tooltip="offline and back: every connection held (a timeout named offline)"),
    Binding("ctrl+s", "save_profile", "save profile", id="save_profile", show=False,
            tooltip="save the current limits as a named profile"),
]
