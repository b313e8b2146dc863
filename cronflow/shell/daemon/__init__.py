"""``cronflow daemon``: the loop, the job table, firing, control requests, adoption of
runs left by a killed daemon, the directory watcher, sd_notify and the daemon's log.
"""
