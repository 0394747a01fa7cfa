"""A one-line progress bar for long CLI runs.

Written by hand (thirty lines) rather than taking a dependency: the CLI must
run on a NumPy-only install.  The bar is drawn only on a terminal, names the
step in progress (so a slow step is visible, not a frozen count), and always
erases itself when it closes, whatever ended the run, so the output that
follows starts on a clean line.
"""

from __future__ import annotations

import shutil
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Progress"]

_BAR = 24


class Progress:
    """Draw ``[#####.....] done/total label`` on ``stream`` while it is a terminal.

    With no stream (None) it draws nothing.
    """

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total = max(total, 1)
        self.done = 0
        # Where the bar is drawn: None when it is not drawn at all.
        self.stream = stream if stream is not None and stream.isatty() else None
        self.width = shutil.get_terminal_size().columns - 1

    def step(self, label: str) -> None:
        """Start the next step, named ``label``."""
        if self.stream is not None:
            filled = _BAR * self.done // self.total
            count = f"{self.done + 1}/{self.total}"
            bar = f"[{'#' * filled}{'.' * (_BAR - filled)}] {count} {label}"
            self.stream.write("\r" + bar[: self.width].ljust(self.width))
            self.stream.flush()
        self.done += 1

    def close(self) -> None:
        """Erase the bar."""
        if self.stream is not None:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.stream = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
