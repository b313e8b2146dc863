"""The Ray executor's pure parts: its table, the watcher's argv, what goes to the cluster.
(Runs on a real cluster: tests/shell/test_ray.py at the repository root.)"""

from __future__ import annotations

import json

import pytest

from cronflow.model import ExecutorSpec, Job, Run
from cronflow.plugins import build_registry, get_plugin_manager

import cronflow_ray
from cronflow_ray import EXECUTOR_EXIT, forwarded_env, submission_id
from cronflow_ray.config import DEFAULT_ADDRESS, RayConfig, parse_config
from cronflow_ray.watcher import exit_status, parse_args


def test_the_table_is_read_into_what_the_watcher_submits() -> None:
    config = parse_config({"address": "http://head:8265/", "num_cpus": 2, "num_gpus": 0.5, "memory": "2G",
                           "resources": {"a100": 1}, "runtime_env": {"pip": ["pandas"]}})
    assert config == RayConfig(address="http://head:8265", num_cpus=2, num_gpus=0.5, memory=2 * 1024 ** 3,
                               resources={"a100": 1.0}, runtime_env={"pip": ["pandas"]})
    assert parse_config({}).address == DEFAULT_ADDRESS


@pytest.mark.parametrize("table, message", [
    ({"num_gpu": 1}, "unknown key 'num_gpu' (did you mean 'num_gpus'?)"),
    ({"num_cpus": -1}, "num_cpus must be a number of at least 0, not -1"),
    ({"num_cpus": "2"}, "num_cpus must be a number of at least 0, not '2'"),
    ({"memory": "lots"}, "memory: invalid size 'lots'"),
    ({"address": "127.0.0.1:6379"}, "address '127.0.0.1:6379' must be a URL"),
    ({"resources": 3}, "resources must be a table"),
    ({"resources": {"a100": True}}, "a100 must be a number"),
    ({"runtime_env": {"env_vars": {"A": 1}}}, "runtime_env.env_vars must be a table of strings"),
])
def test_a_bad_table_is_refused_with_the_key_named(table: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        cronflow_ray.validate(table)
    assert message in str(info.value)


def test_the_plugin_registers_the_ray_kind_through_the_hook() -> None:
    pm = get_plugin_manager(entry_points=False)
    pm.register(cronflow_ray, name="ray")
    registered = build_registry(pm).executors["ray"]
    assert registered.plugin == "ray" and callable(registered.obj.validate)


def test_the_watcher_wraps_the_command_and_names_the_variables_it_forwards() -> None:
    job = Job(name="etl", path="/tmp/etl.toml", command="x", env={"TOKEN": "s3cret"},
              executor=ExecutorSpec(kind="ray", config={"num_cpus": 1}, line=3))
    run = Run(id="abc", job="etl", attempt=2, log_path="/state/logs/etl/abc.log")
    env = {"PATH": "/usr/bin", "HOME": "/root", "TOKEN": "s3cret", "CRONFLOW_RUN_ID": "abc",
           "CRONFLOW_PARAM_DAY": "mon", "CRONFLOW_STATE_DIR": "/state", "CRONFLOW_JOBS_DIR": "/jobs"}
    argv = cronflow_ray.ray({"num_cpus": 1}).command(job, run, ["/bin/sh", "-c", "echo $TOKEN"], env)
    assert argv[1:3] == ["-m", "cronflow_ray.watcher"]
    args = parse_args(argv[3:])
    assert args.submission_id == "cronflow-abc-2" == submission_id("abc", 2)
    assert json.loads(args.config)["num_cpus"] == 1
    # values stay in the environment (no secret in `ps`); this machine's paths stay here
    assert args.env == "CRONFLOW_PARAM_DAY,CRONFLOW_RUN_ID,TOKEN"
    assert "s3cret" not in " ".join(argv[:-1])
    assert args.log_path == "/state/logs/etl/abc.log"
    assert args.command == ["/bin/sh", "-c", "echo $TOKEN"]
    assert forwarded_env({"CRONFLOW_JOB": "j", "USER": "me"}, {}) == ["CRONFLOW_JOB"]


def test_exit_statuses() -> None:
    executor = cronflow_ray.ray({})
    assert executor.failure_reason(EXECUTOR_EXIT) == "executor"
    assert executor.failure_reason(1) is None
    assert [exit_status(code) for code in (0, 3, -9, 256 + 7, None)] == [0, 3, 137, 7, EXECUTOR_EXIT]


def test_the_watchers_own_lines_start_on_a_line_of_their_own(capfdbinary) -> None:
    from cronflow_ray.watcher import _Output

    out = _Output()
    out.write(b"remote output without an end")
    out.say("lost the cluster")
    out.write(b"more\n")
    out.say("done")
    assert capfdbinary.readouterr().out == b"remote output without an end\ncronflow-ray: lost the cluster\nmore\ncronflow-ray: done\n"
