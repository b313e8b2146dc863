"""The daemon's log handler (cronflow.shell.daemon.log.TurnHandler): lines logged on the
event loop reach the stream together at the end of the turn; warnings, lines from other
threads and lines with no loop running are written at once; none is lost at exit."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time

from cronflow.shell.daemon import log


def test_info_lines_of_a_turn_are_written_together_at_its_end() -> None:
    stream = io.StringIO()
    logger = log.setup(stream=stream)

    async def turn(tag: str) -> None:
        logger.info("first %s", tag)
        logger.info("second %s", tag)
        assert f"first {tag}" not in stream.getvalue()  # held until the turn ends
        await asyncio.sleep(0)
        assert stream.getvalue().count(f"{tag}\n") == 2

    asyncio.run(turn("a"))
    asyncio.run(turn("b"))  # a second loop in the same thread is found again


def test_warnings_other_threads_and_no_loop_are_written_at_once() -> None:
    stream = io.StringIO()
    logger = log.setup(stream=stream)
    logger.info("no loop")
    assert "no loop" in stream.getvalue()

    async def turn() -> None:
        logger.info("held")
        logger.warning("urgent")
        # a warning takes the lines held before it along, in order
        assert stream.getvalue().index("held") < stream.getvalue().index("urgent")
        thread = threading.Thread(target=lambda: logger.info("from a thread"))
        thread.start()
        thread.join()
        assert "from a thread" in stream.getvalue()
        logger.info("late")
        time.sleep(log.HOLD * 2)  # a long turn: the next line takes it along
        logger.info("later")
        assert "late\n" in stream.getvalue() and "later" in stream.getvalue()
        logger.info("pending at exit")

    asyncio.run(turn())
    logging.shutdown()
    assert "pending at exit" in stream.getvalue()
