"""SCPI command language of the device: parser, command tree and error queue (one session).

A :class:`ScpiSession` turns one program-message line (bytes, without the ``\\n``) into the
response line, or ``None`` when the line holds no query. It never raises: every problem becomes
an entry of the session's error queue with its standard SCPI error number, read back with
``SYSTem:ERRor?``. The transport (TCP, one session per connection) is :mod:`qlight.api.scpi`.

Syntax follows SCPI-99 (SCPI Consortium, *Standard Commands for Programmable Instruments*,
1999), Vol. 1 §6 and IEEE 488.2-1992 §7:

* headers are case-insensitive; each node has a short form (upper-case letters of the long
  form) and a long form, and either is accepted, nothing in between (SCPI-99 §6.2.1);
* a leading ``:`` starts at the root; commands in one line are separated by ``;`` and a
  command without a leading ``:`` after ``;`` is first looked up relative to the previous
  command's node (SCPI-99 §6.2.4), then from the root (a lenient extension: ``SOUR:RATE?;
  MEAS:G2?`` works as users expect);
* optional nodes in ``[...]`` may be left out (``SYST:ERR?`` = ``SYST:ERR:NEXT?``);
* string parameters are quoted with ``"`` or ``'`` (a doubled quote inside is one quote);
  unquoted character data is accepted where a string is expected;
* responses of the queries of one line are joined by ``;`` into one line; a value that is
  not available is the SCPI not-a-number ``9.91E+37`` (SCPI-99 Vol. 1 §7.2.1.5).

Error numbers (SCPI-99 Vol. 2 §21.8): -101 invalid character, -102 syntax error, -108
parameter not allowed, -109 missing parameter, -113 undefined header, -151 invalid string
data, -221 settings conflict (command not allowed in the current state), -224 illegal
parameter value, -241 hardware missing, -350 queue overflow, -363 input buffer overrun.
They also set the standard event status register bits of IEEE 488.2 §11.5.1 (command error
bit 5, execution error bit 4, device-dependent error bit 3, query error bit 2).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from qlight.device.service_types import (
    CommandRejectedError,
    CommandResult,
    DeviceService,
    EmitterNotFoundError,
)

__all__ = [
    "ERROR_MESSAGES",
    "MAX_LINE_BYTES",
    "QUEUE_SIZE",
    "SCPI_NAN",
    "ScpiSession",
    "command_table",
]

MAX_LINE_BYTES = 4096
"""Longest accepted program message; a longer line is discarded with error -363."""
QUEUE_SIZE = 16
"""Error queue depth; on overflow the last entry becomes -350 (SCPI-99 Vol. 2 §21.8.9)."""
SCPI_NAN = "9.91E+37"
"""SCPI not-a-number, answered when a value is not available (SCPI-99 Vol. 1 §7.2.1.5)."""
MODEL = "GaN-SPS-1"

ERROR_MESSAGES: dict[int, str] = {
    0: "No error",
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -151: "Invalid string data",
    -200: "Execution error",
    -221: "Settings conflict",
    -224: "Illegal parameter value",
    -241: "Hardware missing",
    -350: "Queue overflow",
    -363: "Input buffer overrun",
}

# ESR bits of IEEE 488.2 §11.5.1.
_ESR_OPC = 0x01
_ESR_QYE = 0x04
_ESR_DDE = 0x08
_ESR_EXE = 0x10
_ESR_CME = 0x20


class _ScpiError(Exception):
    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class _Command:
    """One header of the tree: its pattern, whether it takes a string argument, its action."""

    pattern: str  # e.g. "SYSTem:ERRor[:NEXT]?"
    takes_arg: bool
    action: Callable[[ScpiSession, str | None], str | None]
    help: str
    arg: str = ""  # the parameter as the documentation writes it


def _node_regex(node: str) -> str:
    short = "".join(c for c in node if c.isupper() or c.isdigit() or c in "*?")
    long = node.upper()
    alts = {re.escape(short), re.escape(long)}
    return "(?:" + "|".join(sorted(alts, key=len, reverse=True)) + ")"


def _header_regex(pattern: str) -> re.Pattern[str]:
    """Compile ``SYSTem:ERRor[:NEXT]?`` to a regex matching every short/long spelling."""
    query = pattern.endswith("?")
    body = pattern[:-1] if query else pattern
    out = ""
    for part in re.findall(r"\[:[^\]]+\]|:?[^:\[]+", body):
        if part.startswith("["):
            out += "(?::" + _node_regex(part[2:-1]) + ")?"
        else:
            sep = ":" if part.startswith(":") else ""
            out += re.escape(sep) + _node_regex(part.lstrip(":"))
    return re.compile(out + (r"\?" if query else ""), re.IGNORECASE)


def _num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return SCPI_NAN
    return f"{x:.6E}"


def _quote(s: str | None) -> str:
    return '"' + (s or "").replace('"', '""') + '"'


class ScpiSession:
    """Interpreter of one SCPI client: its error queue and event status register.

    Parameters
    ----------
    service : DeviceService
        The running device (read snapshots, commands).
    """

    def __init__(self, service: DeviceService) -> None:
        self._service = service
        self._errors: deque[tuple[int, str]] = deque()
        self._esr = 0
        self._ese = 0
        self._sre = 0

    # ------------------------------------------------------------------ error queue
    def push_error(self, code: int, detail: str = "") -> None:
        """Append an error (SCPI-99 Vol. 2 §21.8); overflow replaces the last entry by -350."""
        text = ERROR_MESSAGES.get(code, "Error")
        if detail:
            text = f"{text};{detail}"
        if len(self._errors) >= QUEUE_SIZE:
            self._errors[-1] = (-350, ERROR_MESSAGES[-350])
        else:
            self._errors.append((code, text))
        if -199 <= code <= -100:
            self._esr |= _ESR_CME
        elif -299 <= code <= -200:
            self._esr |= _ESR_EXE
        elif -399 <= code <= -300:
            self._esr |= _ESR_DDE
        elif -499 <= code <= -400:
            self._esr |= _ESR_QYE

    def next_error(self) -> tuple[int, str]:
        """Oldest error, removed from the queue; ``(0, "No error")`` when empty."""
        return self._errors.popleft() if self._errors else (0, ERROR_MESSAGES[0])

    @property
    def error_count(self) -> int:
        """Number of queued errors."""
        return len(self._errors)

    # ------------------------------------------------------------------ parsing
    def handle_line(self, line: bytes) -> str | None:
        """Execute one program message; return the response line (no ``\\n``) or ``None``."""
        if len(line) > MAX_LINE_BYTES:
            self.push_error(-363, f"line of {len(line)} bytes > {MAX_LINE_BYTES}")
            return None
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self.push_error(-101, "non-ASCII byte in program message")
            return None
        text = text.rstrip("\r\n")
        if any(ord(c) < 32 and c not in "\t" for c in text) or "\x7f" in text:
            self.push_error(-101, "control character in program message")
            return None
        responses: list[str] = []
        path: str = ""
        try:
            units = _split_units(text)
        except _ScpiError as e:
            self.push_error(e.code, e.detail)
            return None
        for unit in units:
            unit = unit.strip()
            if not unit:
                continue
            try:
                resp, path = self._execute(unit, path)
            except _ScpiError as e:
                self.push_error(e.code, e.detail)
                continue
            if resp is not None:
                responses.append(resp)
        return ";".join(responses) if responses else None

    def _execute(self, unit: str, path: str) -> tuple[str | None, str]:
        m = re.fullmatch(r"(:?[*A-Za-z][A-Za-z0-9_:]*\??)(?:\s+(.*))?", unit, re.DOTALL)
        if m is None:
            raise _ScpiError(-102, f"cannot parse {unit[:40]!r}")
        header, arg_text = m.group(1), m.group(2)
        candidates = [header.lstrip(":")]
        if not header.startswith((":", "*")) and path:
            candidates.insert(0, path + ":" + header)
        for cand in candidates:
            for cmd, rx in _TABLE:
                if rx.fullmatch(cand):
                    arg = _parse_arg(arg_text) if arg_text is not None else None
                    if cmd.takes_arg and arg is None:
                        raise _ScpiError(-109, f"{header} needs a parameter")
                    if not cmd.takes_arg and arg_text is not None:
                        raise _ScpiError(-108, f"{header} takes no parameter")
                    new_path = cand.rsplit(":", 1)[0] if ":" in cand else ""
                    return cmd.action(self, arg), new_path
        raise _ScpiError(-113, header[:40])

    # ------------------------------------------------------------------ actions
    def _command(self, name: str, call: Callable[[], CommandResult]) -> None:
        try:
            result = call()
        except EmitterNotFoundError as e:
            raise _ScpiError(-224, f"no emitter {e.args[0] if e.args else ''}") from e
        except CommandRejectedError as e:
            code = -241 if "twin" in e.reason.lower() else -221
            raise _ScpiError(code, e.reason[:80]) from e
        if not result.accepted:
            raise _ScpiError(-221, f"{name}: {result.message}"[:80])

    def idn(self) -> str:
        """``*IDN?``: manufacturer, model, serial, firmware version (IEEE 488.2 §10.14)."""
        st = self._service.status()
        return f"qlight,{MODEL},{st.serial},{st.version}"

    def clear(self) -> None:
        """``*CLS``: empty the error queue and the event status register (IEEE 488.2 §10.3)."""
        self._errors.clear()
        self._esr = 0

    def reset(self) -> None:
        """``*RST``: session defaults (ESE/SRE masks 0); the device keeps emitting."""
        self._ese = 0
        self._sre = 0

    def read_esr(self) -> int:
        """``*ESR?``: the event status register, cleared by reading (IEEE 488.2 §10.12)."""
        value, self._esr = self._esr, 0
        return value

    def stb(self) -> int:
        """``*STB?``: status byte; bit 2 error queue not empty, bit 5 ESB (IEEE 488.2 §11.2)."""
        b = 0x04 if self._errors else 0
        if self._esr & self._ese:
            b |= 0x20
        return b


def _split_units(text: str) -> list[str]:
    """Split a line at ``;`` outside quotes; an unterminated quote is error -151."""
    units: list[str] = []
    cur: list[str] = []
    quote: str | None = None
    for c in text:
        if quote:
            cur.append(c)
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            cur.append(c)
        elif c == ";":
            units.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    if quote:
        raise _ScpiError(-151, "unterminated string")
    units.append("".join(cur))
    return units


def _parse_arg(arg_text: str) -> str:
    """One string parameter: quoted (doubled quotes escape) or bare character data."""
    s = arg_text.strip()
    if not s:
        raise _ScpiError(-109, "empty parameter")
    if s[0] in "\"'":
        q = s[0]
        m = re.fullmatch(q + "((?:[^" + q + "]|" + q + q + ")*)" + q, s)
        if m is None:
            raise _ScpiError(-151, "bad string parameter")
        return m.group(1).replace(q + q, q)
    if "," in s or re.search(r"\s", s):
        raise _ScpiError(-108, "one parameter expected")
    return s


# ---------------------------------------------------------------------- the command tree
def _state_q(s: ScpiSession, _: str | None) -> str:
    return s._service.status().state.value


def _err_q(s: ScpiSession, _: str | None) -> str:
    code, text = s.next_error()
    return f"{code},{_quote(text)}"


def _select(s: ScpiSession, arg: str | None) -> None:
    assert arg is not None
    if not re.fullmatch(r"[\w.\-:/]{1,64}", arg):
        raise _ScpiError(-224, "bad emitter ID")
    try:
        s._service.emitter(arg)  # an unknown ID is an illegal value, not a state conflict
    except EmitterNotFoundError as e:
        raise _ScpiError(-224, f"no emitter {arg}") from e
    s._command("EMIT:SEL", lambda: s._service.select_emitter(arg))


def _g2_ci(s: ScpiSession, _: str | None) -> str:
    ci = s._service.status().g2_0_ci95
    return f"{_num(ci[0])},{_num(ci[1])}" if ci else f"{SCPI_NAN},{SCPI_NAN}"


def _opc(s: ScpiSession, _: str | None) -> None:
    s._esr |= _ESR_OPC


def _set_mask(attr: str) -> Callable[[ScpiSession, str | None], None]:
    def action(s: ScpiSession, arg: str | None) -> None:
        assert arg is not None
        if not arg.isdigit() or int(arg) > 255:
            raise _ScpiError(-224, f"mask {arg[:10]} not in 0..255")
        setattr(s, attr, int(arg))

    return action


def _c(
    pattern: str,
    action: Callable[[ScpiSession, str | None], object],
    help: str,
    *,
    arg: str = "",
) -> _Command:
    def wrapped(s: ScpiSession, arg: str | None) -> str | None:
        out = action(s, arg)
        return None if out is None else str(out)

    return _Command(pattern, bool(arg), wrapped, help, arg)


def command_table() -> list[tuple[str, str]]:
    """``(header, description)`` of every command, for the documentation and ``HELP?``."""
    return [(f"{c.pattern} {c.arg}".strip(), c.help) for c, _ in _TABLE]


_COMMANDS: list[_Command] = [
    _c("*IDN?", lambda s, _: s.idn(), "Identification: qlight,model,serial,version."),
    _c("*RST", lambda s, _: s.reset(), "Reset the session (ESE/SRE masks); emission continues."),
    _c("*CLS", lambda s, _: s.clear(), "Clear the error queue and the event status register."),
    _c("*OPC?", lambda s, _: "1", "Operation complete: answers 1 (commands are queued at once)."),
    _c("*OPC", _opc, "Set the OPC bit of the event status register."),
    _c("*WAI", lambda s, _: None, "Wait to continue (no overlapped commands: returns at once)."),
    _c("*ESR?", lambda s, _: s.read_esr(), "Event status register (read clears it)."),
    _c("*ESE", _set_mask("_ese"), "Event status enable mask.", arg="<0..255>"),
    _c("*ESE?", lambda s, _: s._ese, "Event status enable mask."),
    _c("*SRE", _set_mask("_sre"), "Service request enable mask.", arg="<0..255>"),
    _c("*SRE?", lambda s, _: s._sre, "Service request enable mask."),
    _c("*STB?", lambda s, _: s.stb(), "Status byte (bit 2: error queue not empty)."),
    _c(
        "*TST?",
        lambda s, _: int(s._service.status().state.value == "FAULT"),
        "Self-test result: 0 unless the device is in FAULT.",
    ),
    _c("SYSTem:ERRor[:NEXT]?", _err_q, 'Oldest error: code,"message"; 0,"No error" if none.'),
    _c("SYSTem:ERRor:COUNt?", lambda s, _: s.error_count, "Number of queued errors."),
    _c("SYSTem:VERSion?", lambda s, _: "1999.0", "SCPI version."),
    _c("SYSTem:UPTime?", lambda s, _: _num(s._service.status().uptime_s), "Uptime in s."),
    _c(
        "SYSTem:STBY",
        lambda s, _: s._command("SYST:STBY", s._service.standby),
        "Go to STANDBY (laser off, position kept).",
    ),
    _c(
        "SYSTem:RESume",
        lambda s, _: s._command("SYST:RES", s._service.resume),
        "Leave STANDBY/FAULT and return to EMITTING.",
    ),
    _c(
        "SYSTem:REMap",
        lambda s, _: s._command("SYST:REM", s._service.remap),
        "Map the chip again (MAPPING), then return to EMITTING.",
    ),
    _c(
        "SYSTem:PCYCle",
        lambda s, _: s._command("SYST:PCYC", s._service.power_cycle),
        "Twin only: power-cycle the instruments.",
    ),
    _c("STATus[:STATe]?", _state_q, "Device state (EMITTING, STANDBY, FAULT, ...)."),
    _c(
        "STATus:REASon?",
        lambda s, _: _quote(s._service.status().state_reason),
        "Why the device entered its state (string).",
    ),
    _c(
        "SOURce:RATE?",
        lambda s, _: _num(s._service.status().count_rate_cps),
        "Detected count rate in counts/s.",
    ),
    _c(
        "SOURce:RATE:UNCertainty?",
        lambda s, _: _num(s._service.status().count_rate_unc_cps),
        "1σ Poisson uncertainty of the count rate in counts/s.",
    ),
    _c(
        "SOURce:POWer?",
        lambda s, _: _num(s._service.status().laser_power_w),
        "Excitation laser power in W.",
    ),
    _c("MEASure:G2?", lambda s, _: _num(s._service.status().g2_0), "Latest g2(0) estimate."),
    _c("MEASure:G2:CI?", _g2_ci, "95 % interval of g2(0): low,high."),
    _c(
        "MEASure:TEMPerature?",
        lambda s, _: _num(s._service.status().temperature_k),
        "Temperature in K.",
    ),
    _c(
        "EMITter[:ID]?",
        lambda s, _: _quote(s._service.status().emitter_id),
        'Current emitter ID (string, "" when none).',
    ),
    _c(
        "EMITter:LIST?",
        lambda s, _: ",".join(_quote(e.id) for e in s._service.emitters()),
        "All registry emitter IDs (comma-separated strings).",
    ),
    _c("EMITter:SELect", _select, "Serve this registry emitter.", arg='"<id>"'),
]
_TABLE: list[tuple[_Command, re.Pattern[str]]] = [(c, _header_regex(c.pattern)) for c in _COMMANDS]
