"""Screenshots of the dashboard's three pages into docs/ (the README shows them).

    .venv/bin/python docs/screenshots.py        # needs chromium + chromium-driver, selenium

It starts a daemon and ``cronflow web`` on a few made-up jobs and a flow in a temporary
directory, lets some runs happen (one fails), and saves ``web-overview.png``,
``web-job.png`` and ``web-run.png`` (the flow run, with its Gantt bars) beside itself.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "shell"))

from daemon_helpers import Daemon, wait_for  # noqa: E402
from web_helpers import WebServer  # noqa: E402

JOBS = {
    "backup": 'description = "Nightly backup of /srv"\nschedule = "every day at 02:30"\ntags = ["ops"]\n'
              'command = "echo dumping; sleep 0.4; echo done"\n',
    "heartbeat": 'schedule = "every 2s"\ncommand = "echo ok"\n',
    "report": 'description = "Weekly sales report"\nschedule = "every monday at 08:00"\ntimezone = "Europe/Paris"\n'
              'command = "echo building report for $CRONFLOW_PARAM_WEEK"\n[params]\nweek = "last"\n',
    "flaky": 'schedule = "every 3s"\ncommand = "test $(( $(date +%s) % 2 )) -eq 0 && echo fine || '
             '(echo something broke >&2; exit 3)"\n',
    "etl": 'description = "Extract, transform, load"\nschedule = "every day at 03:00"\n'
           '[[steps]]\nname = "extract-orders"\ncommand = "sleep 0.6; echo orders"\n'
           '[[steps]]\nname = "extract-customers"\ncommand = "sleep 0.9; echo customers"\n'
           '[[steps]]\nname = "transform"\ncommand = "sleep 0.5"\nneeds = ["extract-orders", "extract-customers"]\n'
           '[[steps]]\nname = "load"\ncommand = "sleep 0.3"\nneeds = ["transform"]\n',
}


def main() -> int:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    root = Path(tempfile.mkdtemp(prefix="cronflow-shots-"))
    daemon = Daemon(root)
    for name, text in JOBS.items():
        daemon.write_job(name, text)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,760"):
        options.add_argument(flag)
    with daemon, WebServer(daemon) as web:
        for job in ("backup", "report", "etl"):
            assert web.post(f"/api/v1/jobs/{job}/runs").status == 202
        flow = wait_for(lambda: [r for r in web.runs("etl") if r["state"] == "succeeded"], timeout=30,
                        message="the flow run")[0]
        wait_for(lambda: len(web.runs("flaky")) >= 3 and len(web.runs("heartbeat")) >= 4, timeout=30,
                 message="a few runs")
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            driver.get(web.url)
            for path, name in (("/", "web-overview.png"), ("/jobs/backup", "web-job.png"),
                               (f"/runs/{flow['id']}", "web-run.png")):
                driver.get(web.base + path)
                time.sleep(0.5)
                driver.save_screenshot(str(HERE / name))
                print(f"wrote {HERE / name}")
        finally:
            driver.quit()
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
