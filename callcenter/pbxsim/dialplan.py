"""extensions.conf as Asterisk reads it: contexts, pattern extensions, priorities with labels, [globals], #include,
and the ${...} / $[...] substitution the apps see.

The simulator runs the project's own dialplans/extensions.conf (or the capture dialplan in tests/data/ami-traces)
instead of a hand-written imitation of it, so a change to the dialplan shows up in the simulated AMI stream
exactly as it would on Asterisk (each executed priority is one Newexten with the substituted AppData).
Only what those files use is supported; anything else raises DialplanError naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = ["Dialplan", "DialplanError", "Priority", "check_condition", "evaluate_expression", "split_args",
           "substitute"]


class DialplanError(ValueError):
    """The dialplan cannot be read or used as written."""


@dataclass(frozen=True, slots=True)
class Priority:
    number: int
    label: str | None
    app: str
    data: str  # raw, unsubstituted


@dataclass(slots=True)
class _Extension:
    pattern: str
    priorities: dict[int, Priority] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Context:
    name: str
    extensions: dict[str, _Extension] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)  # exten -> hint (devices joined by '&')


_SECTION: Final = re.compile(r"^\[([^\]]+)\]")
_APP: Final = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\((.*)\))?\s*$", re.S)


def _strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            out.append(line[i + 1])
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


class Dialplan:
    """A parsed dialplan. ``Dialplan.load(path)`` follows #include relative to the including file."""

    def __init__(self) -> None:
        self.contexts: dict[str, _Context] = {}
        self.globals: dict[str, str] = {}
        # the [globals] lines in file order (what pbx_config sets, one VarSet each, at every load and reload)
        self.file_globals: list[tuple[str, str]] = []
        self.clear_globals = False  # [general] clearglobalvars
        self.path: Path | None = None
        # values the deployment's file would carry (the service's FastAGI address ...): applied over the file's
        self.overrides: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path, *, globals_override: Mapping[str, str] | None = None) -> Dialplan:
        plan = cls()
        plan.path = path
        plan.overrides = dict(globals_override or {})
        plan._read(path, depth=0)
        plan.globals.update(plan.overrides)
        return plan

    def loaded_globals(self) -> list[tuple[str, str]]:
        """The globals a load of the file sets, in order: the file's lines, then overrides it does not name."""
        out = [(key, self.overrides.get(key, value)) for key, value in self.file_globals]
        named = {key for key, _ in self.file_globals}
        out += [(key, value) for key, value in self.overrides.items() if key not in named]
        return out

    def reload(self) -> list[tuple[str, str]]:
        """pbx_config reload (pbx/pbx_config.c reload -> pbx_load_module -> pbx_load_config): the file read again,
        contexts replaced, globals cleared only with clearglobalvars=yes and then every [globals] line set again
        (pbx_builtin_setvar_helper(NULL, ...)). Returns the globals set, in order, for their VarSet events."""
        if self.path is None:
            return []
        fresh = Dialplan.load(self.path, globals_override=self.overrides)
        if self.clear_globals:  # the previous load's clearglobalvars decides (read before this load)
            self.globals.clear()
        self.contexts = fresh.contexts
        self.file_globals = fresh.file_globals
        self.clear_globals = fresh.clear_globals
        changed = fresh.loaded_globals()
        self.globals.update(changed)
        return changed

    def boot(self) -> None:
        """A fresh Asterisk process: only what the file (and the deployment's overrides) set."""
        self.globals = dict(self.loaded_globals())

    def _read(self, path: Path, *, depth: int) -> None:
        if depth > 8:
            raise DialplanError(f"{path}: #include nested too deeply")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DialplanError(f"cannot read dialplan {path}: {exc.strerror}") from None
        section: str | None = None
        last: tuple[str, str, int] | None = None  # (context, pattern, priority) for `same =>` and `n`
        for lineno, raw in enumerate(text.splitlines(), 1):
            where = f"{path.name}:{lineno}"
            if raw.lstrip().startswith("#include"):
                name = raw.split(None, 1)[1].strip().strip('"')
                self._read(path.parent / name, depth=depth + 1)
                continue
            line = _strip_comment(raw)
            if not line:
                continue
            match = _SECTION.match(line)
            if match:
                section = match.group(1).strip()
                if section not in ("general", "globals"):
                    self.contexts.setdefault(section, _Context(section))
                last = None
                continue
            if section is None:
                continue
            if section == "general":
                key, _, value = line.partition("=")
                if key.strip().lower() == "clearglobalvars":
                    self.clear_globals = value.strip().lstrip(">").strip().lower() in ("yes", "true", "y", "t", "1", "on")
                continue
            key, sep, value = line.partition("=>") if "=>" in line else line.partition("=")
            key, value = key.strip(), value.strip()
            if not sep:
                raise DialplanError(f"{where}: cannot read {line!r}")
            if section == "globals":
                self.globals[key] = value
                self.file_globals.append((key, value))
                continue
            ctx = self.contexts[section]
            if key == "include":
                ctx.includes.append(value)
            elif key == "exten":
                pattern, _, rest = value.partition(",")
                last = self._add(ctx, pattern.strip(), rest, last=None, where=where)
            elif key == "same":
                if last is None or last[0] != section:
                    raise DialplanError(f"{where}: 'same =>' without a preceding exten")
                last = self._add(ctx, last[1], value, last=last, where=where)
            else:
                raise DialplanError(f"{where}: unsupported line {line!r}")

    @staticmethod
    def _add(ctx: _Context, pattern: str, rest: str, *, last: tuple[str, str, int] | None, where: str) -> tuple[str, str, int]:
        prio_text, _, app_text = rest.partition(",")
        prio_text = prio_text.strip()
        label = None
        m = re.match(r"^([^(]+)\(([^)]*)\)$", prio_text)
        if m:
            prio_text, label = m.group(1).strip(), m.group(2).strip()
        ext = ctx.extensions.setdefault(pattern, _Extension(pattern))
        if prio_text == "n":
            number = (last[2] if last and last[1] == pattern else max(ext.priorities, default=0)) + 1
        elif prio_text.isdigit():
            number = int(prio_text)
        elif prio_text == "hint":
            ctx.hints[pattern] = app_text.strip()
            return (ctx.name, pattern, last[2] if last else 0)
        else:
            raise DialplanError(f"{where}: priority {prio_text!r} is not supported")
        app_match = _APP.match(app_text)
        if not app_match:
            raise DialplanError(f"{where}: cannot read application {app_text!r}")
        ext.priorities[number] = Priority(number, label, app_match.group(1), app_match.group(2) or "")
        if label:
            ext.labels[label] = number
        return (ctx.name, pattern, number)

    # -- lookups ------------------------------------------------------------------------------------------------

    def hints(self) -> list[tuple[str, str, str]]:
        """(context, exten, hint) of every hint, in file order."""
        return [(ctx.name, exten, hint) for ctx in self.contexts.values() for exten, hint in ctx.hints.items()]

    def find(self, context: str, exten: str) -> _Extension | None:
        """The extension that ``exten`` runs in ``context`` (exact match first, then the most specific pattern)."""
        seen: set[str] = set()
        return self._find(context, exten, seen)

    def _find(self, context: str, exten: str, seen: set[str]) -> _Extension | None:
        if context in seen:
            return None
        seen.add(context)
        ctx = self.contexts.get(context)
        if ctx is None:
            return None
        if exten in ctx.extensions:
            return ctx.extensions[exten]
        best: tuple[int, _Extension] | None = None
        for pattern, ext in ctx.extensions.items():
            score = _pattern_score(pattern, exten)
            if score is not None and (best is None or score < best[0]):
                best = (score, ext)
        if best is not None:
            return best[1]
        for inc in ctx.includes:
            found = self._find(inc, exten, seen)
            if found is not None:
                return found
        return None

    def priority(self, context: str, exten: str, number: int) -> Priority | None:
        ext = self.find(context, exten)
        return None if ext is None else ext.priorities.get(number)

    def label(self, context: str, exten: str, label: str) -> int | None:
        ext = self.find(context, exten)
        return None if ext is None else ext.labels.get(label)


_CLASSES: Final = {"X": "0123456789", "Z": "123456789", "N": "23456789"}


def _pattern_score(pattern: str, exten: str) -> int | None:
    """None when ``pattern`` does not match ``exten``; otherwise how broad it is (smaller = more specific)."""
    if not pattern.startswith("_"):
        return None
    pat = pattern[1:]
    regex = ""
    breadth = 0
    i = 0
    while i < len(pat):
        ch = pat[i].upper()
        if ch in _CLASSES:
            regex += f"[{_CLASSES[ch]}]"
            breadth += len(_CLASSES[ch])
        elif ch == ".":
            regex += ".+"
            breadth += 1000
        elif ch == "!":
            regex += ".*"
            breadth += 1000
        elif ch == "[":
            end = pat.index("]", i)
            regex += "[" + re.escape(pat[i + 1:end]).replace("\\-", "-") + "]"
            breadth += end - i
            i = end
        else:
            regex += re.escape(pat[i])
            breadth += 1
        i += 1
    return breadth if re.fullmatch(regex, exten) else None


# ---------------------------------------------------------------------------------------------------------------
# Substitution
# ---------------------------------------------------------------------------------------------------------------

Lookup = Callable[[str], str | None]  # variable (or builtin) value, None when unset
Function = Callable[[str, str], str]  # (function name, substituted argument) -> value


def _matching(text: str, start: int, open_ch: str, close_ch: str) -> int:
    depth = 0
    i = start
    while i < len(text):
        if text[i] == open_ch:
            depth += 1
        elif text[i] == close_ch:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise DialplanError(f"unbalanced {open_ch}{close_ch} in {text!r}")


def substitute(text: str, lookup: Lookup, call: Function) -> str:
    """pbx_substitute_variables: ``${VAR}``, ``${VAR:offset:len}``, ``${FUNC(args)}`` and ``$[expr]``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            end = _matching(text, i + 1, "{", "}")
            inner = substitute(text[i + 2:end], lookup, call)
            out.append(_resolve(inner, lookup, call))
            i = end + 1
        elif text.startswith("$[", i):
            end = _matching(text, i + 1, "[", "]")
            inner = substitute(text[i + 2:end], lookup, call)
            out.append(evaluate_expression(inner))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _resolve(inner: str, lookup: Lookup, call: Function) -> str:
    m = re.fullmatch(r"([A-Za-z0-9_]+)\((.*)\)", inner, re.S)
    if m:
        return call(m.group(1).upper(), m.group(2))
    name, _, slicing = inner.partition(":")
    value = lookup(name) or ""
    if slicing:
        parts = slicing.split(":")
        offset = int(parts[0] or 0)
        value = value[offset:] if offset >= 0 else value[offset:]
        if len(parts) > 1 and parts[1]:
            value = value[: int(parts[1])]
    return value


def split_args(data: str, sep: str = ",") -> list[str]:
    """Application arguments as ast_app_separate_args splits them (parentheses and quotes protect separators)."""
    args: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for ch in data:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0 and not quoted:
            args.append("".join(current))
            current = []
        else:
            current.append(ch)
    args.append("".join(current))
    return args


def check_condition(text: str) -> bool:
    """pbx_checkcondition: empty is false, a number is its truth, any other text is true."""
    value = text.strip()
    if not value:
        return False
    try:
        return float(value) != 0
    except ValueError:
        return True


# --- $[...] expressions (ast_expr2 subset: | & = != < > <= >= + - * / % ! and ?:) -------------------------------

_TOKEN: Final = re.compile(r'\s*(?:(?P<q>"(?:[^"\\]|\\.)*")|(?P<op>\|\||&&|!=|<=|>=|=~|[|&=<>+\-*/%!?:()])|(?P<w>[^\s|&=<>+\-*/%!?:()"]+))')


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise DialplanError(f"cannot evaluate $[{text}]")
        pos = m.end()
        if m.group("q") is not None:
            out.append(("v", m.group("q")[1:-1].replace('\\"', '"')))
        elif m.group("op") is not None:
            out.append(("o", m.group("op")))
        else:
            out.append(("v", m.group("w")))
    return out


def _num(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _fmt(number: float) -> str:
    return str(int(number)) if number == int(number) else repr(number)


class _Expr:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take_op(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] == "o" and tok[1] in ops:
            self.i += 1
            return tok[1]
        return None

    def ternary(self) -> str:
        cond = self.or_()
        if self.take_op("?"):
            yes = self.or_()
            if not self.take_op(":"):
                raise DialplanError("?: without ':'")
            no = self.or_()
            return yes if check_condition(cond) else no
        return cond

    def or_(self) -> str:
        left = self.and_()
        while self.take_op("|", "||"):
            right = self.and_()
            left = left if check_condition(left) else right
        return left

    def and_(self) -> str:
        left = self.cmp()
        while self.take_op("&", "&&"):
            right = self.cmp()
            left = left if (check_condition(left) and check_condition(right)) else "0"
        return left

    def cmp(self) -> str:
        left = self.add()
        while (op := self.take_op("=", "!=", "<", ">", "<=", ">=")) is not None:
            right = self.add()
            a, b = _num(left), _num(right)
            key: tuple[float, float] | tuple[str, str] = (a, b) if a is not None and b is not None else (left, right)
            x, y = key
            result = {"=": x == y, "!=": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]  # type: ignore[operator]
            left = "1" if result else "0"
        return left

    def add(self) -> str:
        left = self.mul()
        while (op := self.take_op("+", "-")) is not None:
            right = self.mul()
            a, b = _num(left), _num(right)
            if a is None or b is None:
                raise DialplanError(f"non-numeric operand in {left} {op} {right}")
            left = _fmt(a + b if op == "+" else a - b)
        return left

    def mul(self) -> str:
        left = self.unary()
        while (op := self.take_op("*", "/", "%")) is not None:
            right = self.unary()
            a, b = _num(left), _num(right)
            if a is None or b is None or (op != "*" and b == 0):
                raise DialplanError(f"bad operands in {left} {op} {right}")
            left = _fmt(a * b if op == "*" else (int(a / b) if op == "/" else a % b))
        return left

    def unary(self) -> str:
        if self.take_op("!"):
            return "0" if check_condition(self.unary()) else "1"
        if self.take_op("-"):
            value = _num(self.unary())
            return _fmt(-(value or 0))
        if self.take_op("("):
            value = self.ternary()
            self.take_op(")")
            return value
        tok = self.peek()
        if tok is None:
            return ""
        self.i += 1
        if tok[0] != "v":
            raise DialplanError(f"unexpected {tok[1]!r}")
        return tok[1]


def evaluate_expression(text: str) -> str:
    if not text.strip():
        return ""
    return _Expr(_tokens(text)).ternary()
