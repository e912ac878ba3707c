"""The commands a shell script runs, read from its text: for the test that the scripts the
workstation role installs call only tools macOS and Linux both have
(tests/unit/test_workstation_portable.py).

A small scanner for the sh/bash this repository writes, not a full shell parser: quotes,
comments, here-documents, $(...), ${...}, $((...)), case patterns, function definitions,
reserved words, assignments and redirections are told apart from the command word of each
simple command. `exec X`, `command X`, `env [VAR=v] X`, `nohup X` count X too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RESERVED = {
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "in",
    "case", "esac", "!", "{", "}", "function", "time",
}  # fmt: skip
# Shell builtins of sh, bash and zsh the scripts may use (never looked up on PATH).
BUILTINS = {
    ".", ":", "[", "alias", "break", "cd", "command", "continue", "declare", "echo",
    "emulate", "eval", "exec", "exit", "export", "false", "getopts", "kill", "local",
    "printf", "pwd", "read", "readonly", "return", "set", "setopt", "shift", "source",
    "test", "trap", "true", "type", "typeset", "umask", "unalias", "unset", "wait",
}  # fmt: skip
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_REDIRECT = re.compile(r"^[0-9]*(>>?|<<?|>&|<&|&>)")
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
# Words after which the next word is the command run.
_PREFIXES = {"exec", "command", "env", "nohup", "time", "!"}


@dataclass
class _Scan:
    text: str
    i: int = 0
    commands: list[str] = field(default_factory=list)
    functions: set[str] = field(default_factory=set)


def commands(script: str) -> tuple[set[str], set[str]]:
    """(command words, names of functions the script defines)."""
    scan = _Scan(script)
    _parse(scan, stop="")
    return set(scan.commands), scan.functions


def external(script: str) -> set[str]:
    """Commands that are neither builtins nor the script's own functions."""
    found, functions = commands(script)
    return {c for c in found if c not in BUILTINS and c not in functions and c}


def _parse(scan: _Scan, stop: str) -> None:
    text = scan.text
    words: list[str] = []
    word: list[str] = []
    heredocs: list[tuple[bool, str]] = []
    case_pattern = False  # after `case X in` or `;;`: a pattern up to `)` comes first
    case_depth = 0

    def end_word() -> None:
        if word:
            words.append("".join(word))
            word.clear()

    def end_command() -> None:
        nonlocal case_pattern, case_depth
        end_word()
        _command_of(scan, words)
        if words[:1] == ["case"]:
            case_depth += 1
            case_pattern = True
        words.clear()

    while scan.i < len(text):
        c = text[scan.i]
        if stop and c == stop and not word and not words and stop == ")":
            scan.i += 1
            return
        if case_pattern and c not in " \t\n":
            # The pattern list of a case item: skip to its `)` (or `esac`).
            if text.startswith("esac", scan.i):
                case_pattern = False
                case_depth -= 1
                scan.i += 4
                continue
            scan.i = _pattern_end(text, scan.i) + 1
            case_pattern = False
            continue
        if c == "\\":
            word.append(text[scan.i : scan.i + 2])
            scan.i += 2
            continue
        if c == "#" and not word:
            nl = text.find("\n", scan.i)
            scan.i = len(text) if nl < 0 else nl
            continue
        if c == "'":
            end = text.index("'", scan.i + 1)
            word.append(text[scan.i + 1 : end] or "''")
            scan.i = end + 1
            continue
        if c == '"':
            scan.i += 1
            word.append(_double_quoted(scan) or '""')
            continue
        if text.startswith("$((", scan.i):
            depth, scan.i = 0, scan.i + 1
            while scan.i < len(text):
                depth += {"(": 1, ")": -1}.get(text[scan.i], 0)
                scan.i += 1
                if depth == 0:
                    break
            word.append("$arith")
            continue
        if text.startswith("$(", scan.i):
            scan.i += 2
            _parse(scan, stop=")")
            word.append("$subst")
            continue
        if text.startswith("${", scan.i):
            end = _matching(text, scan.i + 1, "{", "}")
            word.append(text[scan.i : end + 1])
            scan.i = end + 1
            continue
        if c == "`":
            end = text.index("`", scan.i + 1)
            inner = _Scan(text[scan.i + 1 : end])
            _parse(inner, stop="")
            scan.commands += inner.commands
            scan.i = end + 1
            continue
        m = _HEREDOC.match(text, scan.i)
        if m:
            end_word()
            heredocs.append((m[1] == "-", m[3]))
            scan.i = m.end()
            continue
        if c == "\n":
            end_command()
            scan.i += 1
            for strip, delimiter in heredocs:
                while scan.i < len(text):
                    nl = text.find("\n", scan.i)
                    line = text[scan.i : len(text) if nl < 0 else nl]
                    scan.i = len(text) if nl < 0 else nl + 1
                    if (line.lstrip("\t") if strip else line) == delimiter:
                        break
            heredocs.clear()
            continue
        if text.startswith(";;", scan.i):
            end_command()
            scan.i += 2
            case_pattern = case_depth > 0
            continue
        if c == ")" and stop == ")":
            end_command()
            scan.i += 1
            return
        if text.startswith("()", scan.i) and (word or words):
            end_word()
            if words:
                scan.functions.add(words[-1])
            words.clear()
            scan.i += 2
            continue
        if c == "&" and word and word[-1][-1:] in "<>":  # >&2, 2>&1: a redirection
            word.append(c)
            scan.i += 1
            continue
        if c in ";&|(){}\n":
            if c == "{" and (word or not _at_command(words)):
                word.append(c)
                scan.i += 1
                continue
            if c == "}" and word:
                word.append(c)
                scan.i += 1
                continue
            end_command()
            scan.i += 1
            continue
        if c in " \t":
            end_word()
            if len(words) >= 3 and words[0] == "case" and words[-1] == "in":
                end_command()  # `case WORD in`: the patterns follow
            scan.i += 1
            continue
        word.append(c)
        scan.i += 1
    end_command()


def _at_command(words: list[str]) -> bool:
    return not words or words[-1] in RESERVED


def _command_of(scan: _Scan, words: list[str]) -> None:
    """Record the command word of one simple command (WORDS)."""
    i = 0
    while i < len(words):
        w = words[i]
        if w in RESERVED and w not in ("for", "case", "function"):
            i += 1
            continue
        if w == "for":  # for NAME in WORDS: no command on this line before `do`
            return
        if w == "case":
            return
        if w == "function":
            if i + 1 < len(words):
                scan.functions.add(words[i + 1])
            return
        if _ASSIGNMENT.match(w) or _REDIRECT.match(w):
            # A redirection's target may be the next word (`> file`).
            i += 2 if _REDIRECT.match(w) and re.fullmatch(r"[0-9]*(>>?|<<?|&>)", w) else 1
            continue
        if w in _PREFIXES:
            if w not in ("time", "!"):
                scan.commands.append(w)
            i += 1
            while i < len(words) and (words[i].startswith("-") or _ASSIGNMENT.match(words[i])):
                if w == "command" and words[i] in ("-v", "-V"):
                    return  # `command -v X` looks X up, it does not run it
                i += 1
            continue
        scan.commands.append(w)
        return


def _double_quoted(scan: _Scan) -> str:
    """Skip a double-quoted string (scan.i after the opening quote); commands in its $(...)
    are recorded. Returns its text, with $(...) as $subst."""
    text, out = scan.text, []
    while scan.i < len(text):
        c = text[scan.i]
        if c == "\\":
            out.append(text[scan.i + 1 : scan.i + 2])
            scan.i += 2
        elif c == '"':
            scan.i += 1
            break
        elif text.startswith("$((", scan.i):
            end = _matching(text, scan.i + 1, "(", ")")
            out.append("$arith")
            scan.i = end + 1
        elif text.startswith("$(", scan.i):
            scan.i += 2
            _parse(scan, stop=")")
            out.append("$subst")
        elif text.startswith("${", scan.i):
            end = _matching(text, scan.i + 1, "{", "}")
            out.append(text[scan.i : end + 1])
            scan.i = end + 1
        else:
            out.append(c)
            scan.i += 1
    return "".join(out)


def _pattern_end(text: str, i: int) -> int:
    """Index of the `)` that ends the case pattern at I (quotes and escapes skipped)."""
    while text[i] != ")":
        if text[i] == "\\":
            i += 1
        elif text[i] in "'\"":
            i = text.index(text[i], i + 1)
        i += 1
    return i


def _matching(text: str, start: int, open_: str, close: str) -> int:
    """Index of the CLOSE that matches the OPEN at START."""
    depth = 0
    for j in range(start, len(text)):
        if text[j] == open_:
            depth += 1
        elif text[j] == close:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced {open_} at {start}")
