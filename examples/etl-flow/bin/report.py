"""Post-processing from code: start one `extract-customers` run per region, wait for all."""

from cronflow import api

handles = [api.start("extract-customers", {"region": region}) for region in ("eu", "us")]
succeeded, failed = api.wait_all(handles, timeout=600)
print(f"report: {len(succeeded)} regions ok, {len(failed)} failed")
raise SystemExit(1 if failed else 0)
