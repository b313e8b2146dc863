"""Processes and locks: spawning with a capped log, a job's environment, the per-job
flock the child inherits, and the one process-group killer.
"""
