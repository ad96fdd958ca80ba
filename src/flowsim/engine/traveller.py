"""The party record: persons travelling together in one vehicle (or on foot)."""

from __future__ import annotations

from dataclasses import dataclass

WAITING = 0
IN_SERVICE = 1
DONE = 2
TRAVELLING = 3


@dataclass(slots=True, eq=False)
class Party:
    """One travelling party; `counts[i]` persons hold attribute i."""

    pid: int  #: serial number within the replication
    origin: int
    klass: int
    size: int
    counts: list[int]
    profile: int
    informed: bool
    balk_minutes: float
    patience_minutes: float
    surge: bool = False  #: set out in the mobilization surge (not normal traffic)
    site: int = -1
    mode: str = ""
    arrived: float = 0.0  #: when it reached the current checkpoint
    joined: float = 0.0  #: when it joined the current stage's queue
    deadline: float = float("inf")  #: when it gives up waiting for exit control
    state: int = TRAVELLING
    stage: object = None  #: the stage whose queue it waits in; stale queue entries are skipped
    tried: tuple[int, ...] = ()  #: checkpoints it left for another
