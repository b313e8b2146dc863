"""Entry-point discovery for real: fake installed distributions (``*.dist-info`` with
METADATA and entry_points.txt) on PYTHONPATH, and ``python -m cronflow plugins`` run in a
subprocess. Also the example plugin package, registered on a fresh manager."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cronflow.model import NotifySpec, RetrySpec, Run, RunState
from cronflow.plugins import build_registry, call_hook, get_plugin_manager, notify, plugin_info, retry_delay

ROOT = Path(__file__).resolve().parents[2]


def install_fake(site: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A distribution as pip would leave it: module files plus ``<dist>-<version>.dist-info``."""
    site.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[cronflow]\n{lines}")


def cronflow(*args: str, site: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRONFLOW_")}
    environ["PYTHONPATH"] = str(site)
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "cronflow", *args], env=environ,
                          capture_output=True, text=True, timeout=60)


PAGER = """
    from cronflow import hookimpl

    def page(event, run, config):
        pass

    @hookimpl
    def register_notifiers(register):
        register("zz-pager", page)

    @hookimpl
    def on_run_finish(run):
        pass
"""


def test_an_installed_entry_point_is_listed_with_its_version_hooks_and_names(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-pager", "1.2.3", {"zz-pager": "zz_pager"}, {"zz_pager": PAGER})
    proc = cronflow("plugins", "--json", site=site)
    assert proc.returncode == 0, proc.stderr
    info = {item["name"]: item for item in json.loads(proc.stdout)}
    assert info["zz-pager"] == {
        "name": "zz-pager", "version": "1.2.3", "distribution": "cronflow-zz-pager", "builtin": False,
        "origin": None, "hooks": ["on_run_finish", "register_notifiers"],
        "provides": {"register_notifiers": ["zz-pager"]}, "state": "loaded", "error": None, "reason": None,
    }
    assert info["cronflow.builtin.notify"]["builtin"] is True
    names = [item["name"] for item in json.loads(proc.stdout)]
    assert names.index("cronflow.builtin.triggers") < names.index("zz-pager")  # built-ins first

    text = cronflow("plugins", site=site)
    assert "zz-pager 1.2.3 (cronflow-zz-pager)\n  hooks: on_run_finish, register_notifiers\n  notifiers: zz-pager" in text.stdout


def test_disabled_plugins_are_not_loaded_but_listed_as_disabled(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-pager", "1.2.3", {"zz-pager": "zz_pager"}, {"zz_pager": PAGER})
    proc = cronflow("plugins", "--json", site=site, CRONFLOW_DISABLE_PLUGINS="zz-pager,cronflow.builtin.retry")
    info = {item["name"]: item for item in json.loads(proc.stdout)}
    assert info["zz-pager"]["state"] == "disabled"
    assert info["zz-pager"]["reason"] == "$CRONFLOW_DISABLE_PLUGINS"
    assert info["zz-pager"]["version"] == "1.2.3" and info["zz-pager"]["hooks"] == []
    assert info["cronflow.builtin.retry"]["state"] == "disabled"
    assert info["cronflow.builtin.notify"]["state"] == "loaded"
    text = cronflow("plugins", site=site, CRONFLOW_DISABLE_PLUGINS="zz-pager").stdout
    assert "zz-pager 1.2.3 (cronflow-zz-pager) [disabled]\n  not loaded: $CRONFLOW_DISABLE_PLUGINS" in text


def test_an_entry_point_that_fails_to_import_is_reported_not_fatal(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-broken", "0.1", {"zz-broken": "zz_broken"},
                 {"zz_broken": "import no_such_module_anywhere\n"})
    proc = cronflow("plugins", "--json", site=site)
    assert proc.returncode == 0, proc.stderr
    assert "plugin zz-broken: entry point zz_broken failed to load: ModuleNotFoundError" in proc.stderr
    assert "Traceback" not in proc.stderr
    info = {item["name"]: item for item in json.loads(proc.stdout)}
    assert info["zz-broken"]["error"].startswith("ModuleNotFoundError: No module named 'no_such_module_anywhere'")
    assert info["cronflow.builtin.retry"]["error"] is None


CLASH = ("notifier 'zz-pager' is registered by both plugin zz-a and plugin zz-b; "
         "uninstall or disable one ($CRONFLOW_DISABLE_PLUGINS)")


def test_the_same_name_from_two_plugins_is_refused_naming_both_and_both_are_listed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-a", "1.0", {"zz-a": "zz_a"}, {"zz_a": PAGER})
    install_fake(site, "cronflow-zz-b", "2.0", {"zz-b": "zz_b"}, {"zz_b": PAGER})
    proc = cronflow("plugins", "--json", site=site)
    assert proc.returncode == 0, proc.stderr
    assert f"{CLASH}; jobs using it fail to load" in proc.stderr
    assert "Traceback" not in proc.stderr
    info = {item["name"]: item for item in json.loads(proc.stdout)}
    for name in ("zz-a", "zz-b"):
        assert info[name]["state"] == "clashing"
        assert info[name]["error"] == CLASH
        assert info[name]["provides"] == {"register_notifiers": ["zz-pager"]}
        assert info[name]["hooks"] == ["on_run_finish", "register_notifiers"]
    assert info["cronflow.builtin.notify"]["state"] == "loaded"
    text = cronflow("plugins", site=site).stdout
    assert f"zz-a 1.0 (cronflow-zz-a) [clashing]\n  hooks: on_run_finish, register_notifiers\n" \
           f"  notifiers: zz-pager\n  error: {CLASH}" in text

    # a job naming the clashing notifier fails at its line; the others are fine
    page = tmp_path / "page.toml"
    page.write_text('command = "true"\n\n[[notify]]\nvia = "zz-pager"\n')
    fine = tmp_path / "fine.toml"
    fine.write_text('command = "true"\n')
    checked = cronflow("check", str(page), str(fine), site=site)
    assert checked.returncode == 1
    assert f"{page}:4: {CLASH}" in checked.stdout + checked.stderr
    assert cronflow("check", str(fine), site=site).returncode == 0


def test_a_misspelled_hook_leaves_the_plugin_out_listed_as_failed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    source = "from cronflow import hookimpl\n\n@hookimpl\ndef on_run_finsh(run):\n    pass\n"
    install_fake(site, "cronflow-zz-typo", "1.0", {"zz-typo": "zz_typo"}, {"zz_typo": source})
    install_fake(site, "cronflow-zz-pager", "1.2.3", {"zz-pager": "zz_pager"}, {"zz_pager": PAGER})
    proc = cronflow("plugins", "--json", site=site)
    assert proc.returncode == 0, proc.stderr
    message = "unknown hook on_run_finsh (did you mean 'on_run_finish'?)"
    assert proc.stderr.strip() == f"plugin zz-typo: not loaded: {message}"
    info = {item["name"]: item for item in json.loads(proc.stdout)}
    assert info["zz-typo"]["state"] == "failed" and info["zz-typo"]["error"] == message
    assert info["zz-pager"]["state"] == "loaded"


def test_check_names_the_plugin_notifier_once_installed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    job = tmp_path / "page.toml"
    job.write_text('command = "true"\n\n[[notify]]\nvia = "zz-pager"\n')
    before = cronflow("check", str(job), site=site)
    assert before.returncode == 1
    assert f"{job}:4: unknown notifier 'zz-pager'" in before.stderr + before.stdout
    install_fake(site, "cronflow-zz-pager", "1.2.3", {"zz-pager": "zz_pager"}, {"zz_pager": PAGER})
    after = cronflow("check", str(job), site=site)
    assert after.returncode == 0, after.stderr


# --- the example package (examples/custom-plugin), on a fresh manager ---------------------


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "custom-plugin"))
    import cronflow_example

    pm = get_plugin_manager(entry_points=False)
    pm.register(cronflow_example, name="example")
    return pm


def test_example_plugin_provides_its_notifier_policy_and_hook(example, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    registry = build_registry(example)
    log = logging.getLogger("test")
    run = Run(id="r9", job="flaky", state=RunState.FAILED, exit_code=2, attempt=2)

    out = tmp_path / "notifications.jsonl"
    assert notify(registry, NotifySpec(via="logfile", config={"path": str(out)}), "retry", run, log)
    assert json.loads(out.read_text()) == {
        "event": "retry", "job": "flaky", "run_id": "r9", "state": "failed", "attempt": 2, "exit_code": 2,
    }

    spec = RetrySpec(policy="fibonacci", attempts=6, config={"delay": "10s", "max_delay": "45s"})
    assert [retry_delay(registry, spec, n, log) for n in range(1, 7)] == [10.0, 10.0, 20.0, 30.0, 45.0, None]

    call_hook(example, "on_run_finish", log, run=run)  # no $CRONFLOW_EXAMPLE_LOG: harmless
    runs = tmp_path / "runs.log"
    monkeypatch.setenv("CRONFLOW_EXAMPLE_LOG", str(runs))
    call_hook(example, "on_run_finish", log, run=run)
    assert runs.read_text() == "flaky r9 failed 2\n"

    info = {item["name"]: item for item in plugin_info(example)}["example"]
    assert info["hooks"] == ["on_run_finish", "register_commands", "register_notifiers", "register_retry_policies"]
