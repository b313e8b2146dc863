"""Just enough of the POSIX shell grammar to read a crontab command (pure).

Crontab commands are shell text. Naming a job after its program, and recognising
Debian's guard idiom (``test -x /usr/sbin/foo && foo``), need to know where one simple
command ends and the next begins: quotes, ``$(...)``, backquotes, redirections
(``2>&1`` is not an ``&``) and compound commands (the ``;`` inside ``if ...; fi`` is not
a top-level one). Nothing is expanded or run. Unbalanced text (an open quote) is read
leniently to its end: cron hands it to the shell as it is, and the shell reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

# reserved words that open and close compound commands (only at a command's start)
OPENERS = frozenset({"if", "while", "until", "for", "case", "select", "{"})
CLOSERS = frozenset({"fi", "done", "esac", "}"})
# reserved words after which a new command starts
LEADERS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"})
KEYWORDS = OPENERS | CLOSERS | LEADERS | frozenset({"in", "function"})

_METACHARS = frozenset(" \t\n;&|()<>")
_OPERATORS = ("&&", "||", ";;", "|&", ";", "&", "|", "(", ")", "\n")
_REDIRECTIONS = ("&>>", "&>", ">>", ">&", ">|", "<<-", "<<", "<&", "<>", ">", "<")
# operators that end an and-or list: what follows runs whatever the list did
LIST_ENDS = frozenset({";", "&", "\n", ";;"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """One lexical unit: ``kind`` is ``word``, ``op``, ``redir`` or ``comment``.

    ``text`` is the source text (``start:end``), ``value`` a word with its quotes
    removed (nothing expanded), ``depth`` the compound-command nesting around it, and
    ``starts_command`` whether a word stands where a command name would.
    """

    kind: str
    text: str
    value: str
    start: int
    end: int
    depth: int
    starts_command: bool = False


def tokenize(command: str) -> list[Token]:
    """The tokens of ``command``, in order."""
    tokens: list[Token] = []
    stack: list[str] = []
    at_start = True
    expect_target = False
    index, size = 0, len(command)
    while index < size:
        char = command[index]
        if char in " \t":
            index += 1
            continue
        if char == "#" and (index == 0 or command[index - 1] in " \t\n;&|()"):
            end = command.find("\n", index)
            end = size if end < 0 else end
            tokens.append(Token(kind="comment", text=command[index:end], value="", start=index,
                                end=end, depth=len(stack)))
            index = end
            continue
        redirection = _redirection_at(command, index)
        if redirection:
            end = index + redirection
            tokens.append(Token(kind="redir", text=command[index:end], value="", start=index,
                                end=end, depth=len(stack)))
            index, expect_target = end, True
            continue
        operator = next((op for op in _OPERATORS if command.startswith(op, index)), None)
        if operator is not None:
            if operator == ")" and stack and stack[-1] == "(":
                stack.pop()
            depth = len(stack)
            if operator == "(" and not (stack and stack[-1] == "case"):
                stack.append("(")
            end = index + len(operator)
            tokens.append(Token(kind="op", text=operator, value=operator, start=index, end=end,
                                depth=depth))
            index, at_start, expect_target = end, True, False
            continue
        end, value = _word(command, index)
        word = command[index:end]
        starts = at_start and not expect_target
        depth = len(stack)
        if starts and value in CLOSERS and stack:
            stack.pop()
            depth = len(stack)
        tokens.append(Token(kind="word", text=word, value=value, start=index, end=end, depth=depth,
                            starts_command=starts))
        if starts and value in OPENERS:
            stack.append(value)
        if expect_target:
            expect_target = False
        elif starts:
            # after an assignment or a reserved word that leads one, a command still follows
            at_start = value in LEADERS or _is_assignment(word)
        index = end
    return tokens


def _redirection_at(command: str, index: int) -> int:
    """Length of a redirection operator (with its file-descriptor digits) at ``index``."""
    digits = index
    while digits < len(command) and command[digits].isdigit():
        digits += 1
    if digits > index and (index > 0 and command[index - 1] not in " \t\n;&|()"):
        return 0
    for op in _REDIRECTIONS:
        if command.startswith(op, digits):
            if op.startswith("&") and digits > index:
                continue
            return digits - index + len(op)
    return 0


def _word(command: str, index: int) -> tuple[int, str]:
    """(end, value) of the word starting at ``index``."""
    end, value, _ = _scan_word(command, index)
    return end, value


def unterminated(command: str) -> bool:
    """Whether a quote, ``$(``, ``${`` or backquote in ``command`` is never closed (the
    shell will refuse it): what a command cut short at a ``%`` often is."""
    return any(_scan_word(command, t.start)[2] for t in tokenize(command) if t.kind == "word")


def _scan_word(command: str, index: int) -> tuple[int, str, bool]:
    """(end, value, whether something opened in it runs past the end of the text)."""
    value: list[str] = []
    size = len(command)
    while index < size and command[index] not in _METACHARS:
        char = command[index]
        if char == "\\":
            if index + 1 < size and command[index + 1] != "\n":
                value.append(command[index + 1])
            index += 2
        elif char == "'":
            end = command.find("'", index + 1)
            end = size if end < 0 else end
            value.append(command[index + 1:end])
            index = end + 1
        elif char == '"':
            index = _double_quoted(command, index + 1, value)
        elif (end := _substitution(command, index)) is not None:
            value.append(command[index:end])
            index = end
        else:
            value.append(char)
            index += 1
    return min(index, size), "".join(value), index > size


def _double_quoted(command: str, index: int, value: list[str]) -> int:
    size = len(command)
    while index < size and command[index] != '"':
        char = command[index]
        if char == "\\" and index + 1 < size:
            following = command[index + 1]
            if following not in '$`"\\\n':
                value.append(char)
            if following != "\n":
                value.append(following)
            index += 2
        elif (end := _substitution(command, index)) is not None:
            value.append(command[index:end])
            index = end
        else:
            value.append(char)
            index += 1
    return index + 1


def _substitution(command: str, index: int) -> int | None:
    """The end of a ``$(...)``, ``${...}`` or backquoted part starting at ``index`` (kept
    whole, as the shell expands it later), or None when none starts there."""
    if command.startswith(("$(", "${"), index):
        return _balanced(command, index + 1)
    if command.startswith("`", index):
        return _backquoted(command, index + 1)
    return None


def _balanced(command: str, index: int) -> int:
    """End of the ``(...)`` or ``{...}`` group opening at ``index``, quotes respected."""
    opening = command[index]
    closing = ")" if opening == "(" else "}"
    depth, size = 0, len(command)
    while index < size:
        char = command[index]
        if char == "\\":
            index += 2
            continue
        if char == "'" and opening == "(":
            end = command.find("'", index + 1)
            index = size if end < 0 else end + 1
            continue
        if char == '"':
            index = _double_quoted(command, index + 1, [])
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return size + 1  # never closed


def _backquoted(command: str, index: int) -> int:
    size = len(command)
    while index < size and command[index] != "`":
        index += 2 if command[index] == "\\" else 1
    return index + 1  # past the end when never closed


def _is_assignment(word: str) -> bool:
    name, equals, _ = word.partition("=")
    return bool(equals) and name.isidentifier()


def is_assignment(word: str) -> bool:
    """Whether a (source) word is ``NAME=value``, a variable assignment."""
    return _is_assignment(word)


def simple_commands(command: str) -> list[list[str]]:
    """The words (quotes removed) of each simple command, in order, at any nesting.

    Reserved words are left out, and so are redirections with their targets; a ``for``
    or ``case`` header (its word list) is not a command and is left out as well.
    """
    commands: list[list[str]] = []
    current: list[str] = []
    skip_target = skip_header = False
    for token in tokenize(command):
        if token.kind == "redir":
            skip_target = True
            continue
        if token.kind == "word" and skip_target:
            skip_target = False
            continue
        if token.kind == "word" and token.starts_command and token.value in KEYWORDS:
            if current:
                commands.append(current)
            current = []
            skip_header = token.value in ("for", "case", "select")
            continue
        if token.kind in ("op", "comment"):
            if current:
                commands.append(current)
            current = []
            skip_header = skip_header and token.text != ";" and token.text != "\n"
            continue
        if token.kind == "word" and not skip_header:
            current.append(token.value)
    if current:
        commands.append(current)
    return commands


# -- Debian's guard idiom ----------------------------------------------------------------------

# commands that only test whether the work can be done: `test -x F`, `[ -x F ]`, `command -v P`
_TESTS = frozenset({"test", "[", "[["})
_LOOKUPS = frozenset({"which", "type", "hash"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Guard:
    """``GUARD && REST`` split: ``test`` (source text of the leading tests), ``rest``
    (what they guard), ``program`` (the one program they check for, when they check
    for exactly one, else None)."""

    test: str
    rest: str
    program: str | None


def _is_test(words: list[str]) -> bool:
    if not words:
        return False
    if words[0] in _TESTS or words[0] in _LOOKUPS:
        return True
    return words[0] == "command" and len(words) > 1 and words[1] in ("-v", "-V")


def _tested_program(words: list[str]) -> str | None:
    """The path or name one test checks for (``test -x P``, ``command -v P``), or None."""
    if words[0] in _TESTS:
        inner = words[1:-1] if words[0] != "test" else words[1:]
        if words[0] != "test" and words[-1] not in ("]", "]]"):
            return None
        if len(inner) == 2 and inner[0] in ("-x", "-e", "-f", "-s", "-r"):
            return inner[1]
        return None
    names = [w for w in words[1:] if not w.startswith("-")]
    return names[0] if len(names) == 1 else None


def split_guard(command: str) -> Guard | None:
    """The leading tests of ``test -x /usr/sbin/foo && foo ...``, or None.

    Only a guard whose ``&&`` list is the whole command is split (no top-level ``;``,
    ``&``, ``||``, newline or comment after it): then ``if GUARD; then REST; fi`` runs
    exactly what the line ran whenever the guard holds.
    """
    tokens = tokenize(command)
    if any(t.kind == "comment" for t in tokens):
        return None
    top = [i for i, t in enumerate(tokens) if t.kind == "op" and t.depth == 0]
    # the commands of the leading tests, each ended by a top-level `&&`
    tests: list[list[str]] = []
    begin, guard_end, rest_start = 0, None, None
    for i in top:
        if tokens[i].text != "&&":
            break
        words = _words(tokens[begin:i])
        if not _is_test(words) or any(t.depth for t in tokens[begin:i]):
            break
        tests.append(words)
        guard_end, rest_start, begin = tokens[i - 1].end, tokens[i].end, i + 1
    if not tests or rest_start is None or begin >= len(tokens):
        return None
    if any(tokens[i].text in LIST_ENDS or tokens[i].text == "||" for i in top if i >= begin):
        return None
    rest = command[rest_start:].strip()
    if not rest or _is_test(_words(tokens[begin:])):
        return None
    program = _tested_program(tests[0]) if len(tests) == 1 else None
    return Guard(test=command[:guard_end].strip(), rest=rest, program=program)


def _words(tokens: list[Token]) -> list[str]:
    words: list[str] = []
    skip = False
    for token in tokens:
        if token.kind == "redir":
            skip = True
        elif token.kind == "word":
            if not skip:
                words.append(token.value)
            skip = False
    return words
