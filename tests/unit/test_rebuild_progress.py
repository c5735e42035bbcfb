"""What `ledger rebuild` shows: a redrawn bar on a terminal, structured log lines otherwise."""

from __future__ import annotations

import io

from api.cli.rebuild import RebuildBar
from api.importers.progress import BAR_WIDTH
from projections.rebuild import RebuildProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def halfway() -> RebuildProgress:
    return RebuildProgress(
        generation=3, position=50_000, head=100_000, events_done=48_000, events_per_second=25_000
    )


def test_the_bar_shows_positions_events_rate_and_eta_on_a_terminal():
    screen = Terminal()
    bar = RebuildBar(stream=screen)
    bar.update(halfway())
    bar.finish()
    line = screen.getvalue().rsplit("\r", 1)[-1]
    assert line.startswith("[" + "#" * (BAR_WIDTH // 2) + "." * (BAR_WIDTH // 2) + "]")
    assert "50,000/100,000 positions" in line
    assert "48,000 events" in line
    assert "25,000 events/s" in line
    assert "ETA 0:02" in line  # 50,000 positions left at 25,000 per second
    assert line.endswith("\n")


def test_redraws_are_throttled_and_overwrite_the_line():
    screen = Terminal()
    bar = RebuildBar(stream=screen)
    for done in range(10):
        bar.update(
            RebuildProgress(
                generation=2, position=done, head=10, events_done=done, events_per_second=1.0
            )
        )
    assert screen.getvalue() == ""  # nothing for 0.2 s: a terminal cannot show it anyway
    bar.finish()
    assert screen.getvalue().count("\r") == 1
    assert "9/10 positions" in screen.getvalue()


def test_off_a_terminal_it_logs_instead_of_drawing(capsys):
    stream = io.StringIO()
    bar = RebuildBar(stream=stream)
    bar.update(halfway())
    bar.finish()
    assert stream.getvalue() == ""
    logged = capsys.readouterr()
    assert "rebuilding" in logged.out + logged.err
    assert "events_done" in logged.out + logged.err
