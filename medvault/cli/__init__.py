"""The command line: click commands, prompts, progress and exit codes. Nothing imports it."""
