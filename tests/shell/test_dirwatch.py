"""The directory watcher on real files: changes arrive in batches, nothing is lost between
arming and the first wait, and an idle watcher does not wake up."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from cronflow.shell.daemon.watcher import DirWatcher


async def next_batch(watcher: DirWatcher, timeout: float = 5.0) -> set[Path]:
    iterator = watcher.__aiter__()
    return await asyncio.wait_for(iterator.__anext__(), timeout)


def test_a_write_a_rename_and_a_removal_are_reported(tmp_path):
    async def main() -> None:
        watcher = DirWatcher([tmp_path], debounce=0.02)
        iterator = watcher.__aiter__()
        (tmp_path / "a.toml").write_text("x")
        first = await asyncio.wait_for(iterator.__anext__(), 5)
        assert tmp_path / "a.toml" in first
        (tmp_path / ".tmp").write_text("y")
        os.rename(tmp_path / ".tmp", tmp_path / "b.toml")
        second = await asyncio.wait_for(iterator.__anext__(), 5)
        assert tmp_path / "b.toml" in second
        (tmp_path / "a.toml").unlink()
        third = await asyncio.wait_for(iterator.__anext__(), 5)
        assert tmp_path / "a.toml" in third
        watcher.close()

    asyncio.run(main())


def test_changes_made_after_arming_but_before_iterating_are_not_lost(tmp_path):
    async def main() -> None:
        watcher = DirWatcher([tmp_path], debounce=0.02)
        (tmp_path / "early.toml").write_text("x")  # before anyone awaits the watcher
        batch = await next_batch(watcher)
        assert tmp_path / "early.toml" in batch
        watcher.close()

    asyncio.run(main())


def test_a_burst_of_files_arrives_complete(tmp_path):
    async def main() -> None:
        watcher = DirWatcher([tmp_path], debounce=0.05)
        iterator = watcher.__aiter__()
        for i in range(1000):
            (tmp_path / f"job{i:04}.toml").write_text("x")
        seen: set[Path] = set()
        while len(seen) < 1000:
            seen |= await asyncio.wait_for(iterator.__anext__(), 5)
        assert {p.name for p in seen} >= {f"job{i:04}.toml" for i in range(1000)}
        watcher.close()

    asyncio.run(main())


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc to count context switches")
def test_an_idle_watcher_does_not_wake_the_process(tmp_path):
    import threading

    def switches() -> int:
        # this thread only: the event loop runs here, and inotify needs no other thread
        tid = threading.get_native_id()
        text = Path(f"/proc/self/task/{tid}/status").read_text()
        return int(text.split("voluntary_ctxt_switches:")[1].split()[0])

    async def main() -> int:
        watcher = DirWatcher([tmp_path])
        assert watcher.uses_inotify
        iterator = watcher.__aiter__()
        waiting = asyncio.ensure_future(iterator.__anext__())
        await asyncio.sleep(0.05)
        before = switches()
        await asyncio.sleep(1.0)  # one timer wake-up of our own, nothing from the watcher
        after = switches()
        waiting.cancel()
        watcher.close()
        return after - before

    assert asyncio.run(main()) <= 3
