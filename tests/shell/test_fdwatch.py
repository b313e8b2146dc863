"""The epoll of job descriptors on the event loop (cronflow.shell.process.fdwatch)."""

import asyncio
import gc
import os

from cronflow.shell.process import fdwatch


def test_a_readable_descriptor_calls_back_until_removed() -> None:
    async def main() -> list[bytes]:
        read, write = os.pipe()
        got: list[bytes] = []
        fds = fdwatch.watcher()
        assert fdwatch.watcher() is fds  # one per loop

        def ready() -> None:
            got.append(os.read(read, 100))
        fds.add(read, ready)
        os.write(write, b"one")
        while not got:
            await asyncio.sleep(0.01)
        fds.remove(read)
        os.write(write, b"two")
        for _ in range(5):
            await asyncio.sleep(0.01)
        fds.remove(read)  # twice is harmless
        os.close(read)
        os.close(write)
        return got

    assert asyncio.run(main()) == [b"one"]


def test_a_callback_that_raises_does_not_stop_the_others() -> None:
    async def main() -> tuple[list[str], list[object]]:
        loop = asyncio.get_running_loop()
        errors: list[object] = []
        loop.set_exception_handler(lambda _, context: errors.append(context["exception"]))
        pipes = [os.pipe() for _ in range(2)]
        seen: list[str] = []

        def bad() -> None:
            os.read(pipes[0][0], 10)
            raise RuntimeError("boom")

        def good() -> None:
            seen.append(os.read(pipes[1][0], 10).decode())
        fds = fdwatch.watcher()
        fds.add(pipes[0][0], bad)
        fds.add(pipes[1][0], good)
        for _, write in pipes:
            os.write(write, b"x")
        while not seen or not errors:
            await asyncio.sleep(0.01)
        for read, write in pipes:
            fds.remove(read)
            os.close(read)
            os.close(write)
        return seen, errors

    seen, errors = asyncio.run(main())
    assert seen == ["x"] and isinstance(errors[0], RuntimeError)


def test_the_epoll_goes_with_its_loop() -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def use() -> None:
        fdwatch.watcher()

    before = open_fds()
    for _ in range(20):
        asyncio.run(use())
    gc.collect()
    assert open_fds() <= before + 1
