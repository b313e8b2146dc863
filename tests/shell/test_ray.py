"""The Ray executor (plugins/cronflow-ray): what needs no cluster here, and the cases on
a real one-machine cluster (``ray_cluster_cases.py``) run inside new network and PID
namespaces with only ``lo`` up, so that Ray binds loopback alone and ``ray stop --force``
sees no Ray process but the test's own. Those need root and ``unshare``; without them
they are skipped, loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from daemon_helpers import ROOT, base_env, cli

ray_installed = pytest.importorskip("cronflow_ray", reason="SKIPPED LOUDLY: the cronflow-ray plugin is not "
                                    "installed (pip install ./plugins/cronflow-ray): no Ray test ran")


def _cluster_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "not root: the Ray cluster tests need new network and PID namespaces (unshare)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is missing: the Ray cluster tests need them"
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return "ray is not installed"
    return None


def test_plugins_lists_the_ray_executor() -> None:
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    ray = next(item for item in json.loads(result.stdout) if item["name"] == "ray")
    assert ray["provides"] == {"register_executors": ["ray"]}
    assert "executors: ray" in cli("plugins").stdout


def test_an_unreachable_cluster_fails_the_run_with_reason_executor_and_is_retried(tmp_path: Path) -> None:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    # port 9 on loopback: nothing listens, the connection is refused at once
    (jobs / "away.toml").write_text('command = "echo never"\n[retry]\nattempts = 2\ndelay = "1s"\n'
                                    '[executor]\nkind = "ray"\naddress = "http://127.0.0.1:9"\n')
    result = cli("run", "away", jobs_dir=jobs, state_dir=state, timeout=120)
    assert result.returncode == 75, result.stdout + result.stderr
    assert "cronflow-ray: cannot reach the Ray cluster at http://127.0.0.1:9" in result.stdout
    row = json.loads(cli("history", "away", "--json", jobs_dir=jobs, state_dir=state).stdout)[0]
    assert (row["state"], row["reason"], row["attempt"], row["exit_code"]) == ("failed", "executor", 2, 75)


def test_check_warns_when_the_cluster_does_not_answer(tmp_path: Path) -> None:
    path = tmp_path / "away.toml"
    path.write_text('command = "true"\n[executor]\nkind = "ray"\naddress = "http://127.0.0.1:9"\n')
    result = cli("check", str(path))
    assert result.returncode == 0, result.stderr  # a warning: the cluster may be up when it runs
    assert (f"{path}:3: warning: executor 'ray': the Ray cluster at http://127.0.0.1:9 does not answer"
            in result.stderr), result.stderr


def test_check_refuses_a_bad_ray_table_at_its_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('command = "true"\n[executor]\nkind = "ray"\nnum_cpus = -1\nnum_gpu = 1\n')
    result = cli("check", str(path))
    assert result.returncode == 1
    assert f"{path}:5: executor 'ray': unknown key 'num_gpu' (did you mean 'num_gpus'?)" in result.stderr \
        or f"{path}:4: executor 'ray'" in result.stderr, result.stderr


def test_on_a_real_one_machine_cluster() -> None:
    """Runs ray_cluster_cases.py with pytest inside ``unshare --net --pid --fork --mount-proc``."""
    reason = _cluster_skip_reason()
    if reason is not None:
        warnings.warn(f"Ray cluster tests SKIPPED: {reason}")
        pytest.skip(f"SKIPPED LOUDLY: {reason}; the Ray executor was not tested on a cluster")
    cases = Path(__file__).with_name("ray_cluster_cases.py")
    script = (f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider -x "
              f"-o python_files=ray_cluster_cases.py {cases}")
    env = {**base_env(), "CRONFLOW_RAY_NAMESPACE": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{cases.parent}"}
    result = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    print(result.stdout[-20000:])
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
