"""The pure security rules: which job files are refused, env file syntax, secret masking."""

from __future__ import annotations

import stat

import pytest

from cronflow.errors import ConfigError
from cronflow.core.secrets import MASK, file_problem, is_secret_name, mask_env, parse_env_file

REG = stat.S_IFREG

# (mode, owner uid, gid, daemon uid, run-as uid, refused?)
FILE_CASES = [
    ("root file 0644 under a root daemon", 0o644, 0, 0, 0, None, False),
    ("world-writable refused under root", 0o666, 0, 0, 0, None, True),
    ("world-writable refused under a user daemon too", 0o646, 1000, 1000, 1000, None, True),
    ("group-writable by a non-root group refused under root", 0o664, 0, 50, 0, None, True),
    ("group-writable by root's group is fine", 0o664, 0, 0, 0, None, False),
    ("group-writable is the user's business in user mode", 0o664, 1000, 1000, 1000, None, False),
    ("another user's file refused under root", 0o644, 1001, 1001, 0, None, True),
    ("a user's file running as that user is fine", 0o644, 1001, 1001, 0, 1001, False),
    ("a user's file running as someone else is refused", 0o644, 1001, 1001, 0, 1002, True),
    ("a user daemon refuses a stranger's file", 0o644, 1002, 1002, 1000, None, True),
    ("a user daemon accepts root's file", 0o644, 0, 0, 1000, None, False),
    ("run_as only matters to a root daemon", 0o644, 1002, 1002, 1000, 1002, True),
]


@pytest.mark.parametrize("case", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_file_problem(case):
    _, mode, uid, gid, daemon, run_as, refused = case
    problem = file_problem(mode=REG | mode, uid=uid, gid=gid, daemon_uid=daemon, run_as_uid=run_as)
    assert (problem is not None) == refused, problem


def test_file_problem_messages_say_what_to_do():
    assert "chmod o-w" in file_problem(mode=REG | 0o666, uid=0, gid=0, daemon_uid=0)
    assert "0664" in file_problem(mode=REG | 0o664, uid=0, gid=7, daemon_uid=0)
    assert "owned by uid 1001" in file_problem(mode=REG | 0o644, uid=1001, gid=0, daemon_uid=0)


def test_env_file_syntax():
    text = (
        "# database\n"
        "\n"
        "DB_HOST=db.internal\n"
        "export DB_USER = backup\n"
        "DB_PASSWORD='p@ss #not a comment $HOME'\n"
        'GREETING="line1\\nline2 \\"quoted\\" \\$HOME"\n'
        "PLAIN=value # a comment\n"
        "EMPTY=\n"
        "URL=http://x/#frag\n"
    )
    assert parse_env_file(text) == {
        "DB_HOST": "db.internal",
        "DB_USER": "backup",
        "DB_PASSWORD": "p@ss #not a comment $HOME",
        "GREETING": 'line1\nline2 "quoted" $HOME',
        "PLAIN": "value",
        "EMPTY": "",
        "URL": "http://x/#frag",
    }


@pytest.mark.parametrize("text, line, message", [
    ("A=1\nnot a setting\n", 2, "expected KEY=VALUE"),
    ("A=1\n\n1BAD=x\n", 3, "invalid variable name '1BAD'"),
    ("A='open\n", 1, "unterminated '-quoted value"),
    ('A="x" y\n', 1, "unexpected text after the closing"),
])
def test_env_file_errors_name_the_line(text, line, message):
    with pytest.raises(ConfigError) as info:
        parse_env_file(text, path="/etc/cronflow/secrets.env")
    assert info.value.line == line
    assert message in info.value.message
    assert str(info.value).startswith(f"/etc/cronflow/secrets.env:{line}: ")


@pytest.mark.parametrize("name", ["DB_PASSWORD", "PGPASSWORD", "GITHUB_TOKEN", "API_KEY",
                                  "AWS_SECRET_ACCESS_KEY", "DB_PASS", "SMTP_PASSWD",
                                  "SERVICE_CREDENTIALS", "BASIC_AUTH", "SENTRY_DSN", "apikey",
                                  "GPG_PRIVATE_KEY", "RESTIC_PASSWORD_FILE"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "PWD", "HOME", "KEYBOARD", "MONKEY", "AUTHOR",
                                  "PASSAGE", "RESTIC_REPOSITORY", "LANG", "TZ"])
def test_names_that_are_not_secret(name):
    assert not is_secret_name(name)


def test_mask_env_hides_secrets_and_url_passwords_only():
    env = {"DB_PASSWORD": "hunter2", "PATH": "/usr/bin", "EMPTY_TOKEN": "",
           "DATABASE_URL": "postgres://app:s3cr3t@db:5432/app", "SITE": "https://example.com/a:b@c"}
    assert mask_env(env) == {"DB_PASSWORD": MASK, "PATH": "/usr/bin", "EMPTY_TOKEN": "",
                             "DATABASE_URL": f"postgres://app:{MASK}@db:5432/app",
                             "SITE": "https://example.com/a:b@c"}
    assert env["DB_PASSWORD"] == "hunter2"  # a copy: the run still gets the real value
