"""This workstation, not the drive: staging folders for exports, drive discovery, and
whether a process recorded in a lock still runs here (the seams a port to another OS
replaces)."""
