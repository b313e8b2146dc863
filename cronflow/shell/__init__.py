"""The imperative shell: files, SQLite, processes, locks, the daemon. It uses the core
for every decision and does what the decision says.
"""
