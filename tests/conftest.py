"""Shared fixtures. Core tests (tests/core) are pure; shell tests (tests/shell) use real
files, processes, SQLite and a real daemon driven through the CLI."""
