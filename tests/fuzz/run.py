"""Run one fuzz target under atheris (libFuzzer):

    python -m tests.fuzz.run TARGET [libFuzzer flags] [CORPUS_DIR ...]

Without a corpus directory, the seeds are built into a temporary one (in a subprocess, so
the fuzzing process imports only what its target needs) and new inputs go to a fresh
temporary directory; MEDVAULT_FUZZ_SEEDS=DIR reuses seeds built by `python -m
tests.fuzz.seeds DIR`. The fuzzing runs in a child process, since libFuzzer ends it with
exit(); this process then removes every temporary folder. A finding (any exception other
than a MedvaultError, a timeout, or the RSS limit) makes libFuzzer write
crash-*/timeout-*/oom-* and exit non-zero.

Reproduce a finding without atheris: python -m tests.fuzz.run TARGET --replay FILE...
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _instrument_plan(target: str) -> tuple[list[str], list[str]]:
    """atheris includes whole top-level packages: exclude the medvault modules TARGET
    does not cover, so start-up stays short and coverage means the parser's own code."""
    from tests.fuzz.covers import COVERS

    covers = COVERS.get(target, ["medvault"])
    package = Path(__file__).resolve().parents[2] / "medvault"
    modules = [
        ".".join(("medvault", *path.relative_to(package).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for path in package.rglob("*.py")
    ]
    exclude = [m for m in modules if not any(m == c or m.startswith(c + ".") for c in covers)]
    return sorted({c.split(".")[0] for c in covers}), exclude


def replay(target: str, files: list[str]) -> int:
    from tests.fuzz.targets import run_one

    for name in files:
        print(f"replaying {name}", flush=True)
        run_one(target, Path(name).read_bytes())
    return 0


def fuzz(target: str, args: list[str]) -> int:
    """The fuzzing process itself (libFuzzer ends it with exit(), so atexit never runs:
    the parent made every temporary folder and removes them)."""
    import atheris

    include, exclude = _instrument_plan(target)
    with atheris.instrument_imports(include=include, exclude=exclude):
        # medvault.keys.shares imports these lazily: import them here to instrument them.
        import shamir_mnemonic.rs1024
        import shamir_mnemonic.share
        import shamir_mnemonic.wordlist  # noqa: F401

        from tests.fuzz import targets

    def one_input(data: bytes) -> None:
        targets.run_one(target, data)

    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()
    return 0


def main(argv: list[str]) -> int:
    from tests.fuzz.covers import COVERS

    if len(argv) < 2 or argv[1].startswith("-") or argv[1] not in COVERS:
        print(__doc__, "\ntargets:", " ".join(COVERS), file=sys.stderr)
        return 2
    target, rest = argv[1], argv[2:]
    if rest[:1] == ["--replay"]:
        return replay(target, rest[1:])
    if rest[:1] == ["--child"]:
        return fuzz(target, rest[1:])
    with tempfile.TemporaryDirectory(prefix=f"medvault-fuzz-{target}-") as tmp:
        work = Path(tmp)
        if not any(not arg.startswith("-") for arg in rest):
            seeds = os.environ.get("MEDVAULT_FUZZ_SEEDS")
            if not seeds:
                seeds = str(work / "seeds")
                subprocess.run([sys.executable, "-m", "tests.fuzz.seeds", seeds], check=True)
            (work / "corpus").mkdir()
            seed_target = "pack_prelude" if target == "planted" else target
            rest += [str(work / "corpus"), str(Path(seeds) / seed_target)]
        # Files the targets rewrite per input live on tmpfs where there is one.
        shm = Path("/dev/shm")
        scratch = Path(
            tempfile.mkdtemp(prefix="medvault-fuzz-", dir=shm if os.access(shm, os.W_OK) else work)
        )
        env = {**os.environ, "MEDVAULT_FUZZ_SCRATCH": str(scratch)}
        try:
            argv_child = [sys.executable, "-m", "tests.fuzz.run", target, "--child", *rest]
            return subprocess.run(argv_child, env=env, check=False).returncode
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
