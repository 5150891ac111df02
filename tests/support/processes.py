"""A process id that names no process here, for locks and staging folders of a process
that is gone."""

from __future__ import annotations

# Above the highest pid_max Linux allows (2**22), so no process can ever have it.
DEAD_PID = 2**22 + 4321
