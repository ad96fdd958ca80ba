"""Faults: a killed run leaves a complete result or none; a full or read-only disk is one clear
line; a killed calibration resumes with the same command to the same fit.

Runs are killed two ways. At random moments (fixed seed) of a real ``flowsim run``
subprocess, spread over its whole length, which mostly lands in the simulation; and at
the few moments that matter for the files, which a random delay almost never hits: the
`DRIVER` below runs the same command in a subprocess that signals itself from inside the
write (some files written; all written and flushed; the old result set aside; the new
one in place) or after the k-th calibration evaluation.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_calibration import scenario_file, truth_observations

import flowsim.atomic
from flowsim.atomic import remove_stale
from flowsim.cli import main
from flowsim.results import read_result

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"
RUN = ["run", str(SMALL), "-n", "2", "-j", "1", "-q"]

#: Runs `flowsim ARGV...` after importing its libraries and touching the file
#: STARTED_FILE: ``python -c STARTED STARTED_FILE ARGV...``.
STARTED = (
    "import pathlib, sys; import flowsim.runner, flowsim.plotting; from flowsim.cli import main; "
    "pathlib.Path(sys.argv[1]).touch(); sys.exit(main(sys.argv[2:]))"
)


def _sigint_default() -> None:
    """In a child, SIGINT as in a terminal even if this run inherited it ignored.

    A shell starts background commands (``make test &``, CI runners) with SIGINT ignored,
    and a Python started so never turns SIGINT into KeyboardInterrupt.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(out: Path, marker: Path) -> subprocess.Popen:
    """`RUN` into `out`, returned once its libraries are imported (`marker` exists)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", STARTED, str(marker), *RUN, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return proc


#: Runs `flowsim ARGV...` after arranging to send itself SIGNAL at POINT:
#: ``python -c DRIVER POINT SIGNAL K ARGV...``.
DRIVER = r"""
import os, signal, sys, threading
import flowsim.atomic as atomic
point, sig, k = sys.argv[1], getattr(signal, sys.argv[2]), int(sys.argv[3])

def hit():
    os.kill(os.getpid(), sig)

def after(owner, name, when=lambda: True):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if when():
            hit()
        return result
    setattr(owner, name, wrapper)

calls = [0]
def nth():
    calls[0] += 1
    return calls[0] == k

if point == "writing":  # k files of the result written in the temporary folder
    import pandas
    after(pandas.DataFrame, "to_csv", nth)
elif point == "flushed":  # everything written and flushed, nothing in place yet
    after(atomic, "_fsync_tree")
elif point == "set_aside":  # no atomic swap: the old result renamed away, the new one not in place
    atomic._exchange = lambda a, b: False
    _rename = os.rename
    def rename(src, dst, **kwargs):
        _rename(src, dst, **kwargs)
        if ".old-" in os.fspath(dst):
            hit()
    os.rename = rename
elif point == "in_place":  # the new result in place, the command not yet finished
    after(atomic, "_put_in_place")
elif point == "evaluation":  # k new calibration evaluations logged
    from flowsim.inference.calibration import EvaluationLog
    after(EvaluationLog, "add", nth)
elif point == "half_line":  # SIGKILL with the k-th new evaluation half written
    from flowsim.inference.calibration import EvaluationLog
    original = EvaluationLog.add
    def add(self, record):
        if nth():
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write('{"unit": [0.12')
            hit()
        original(self, record)
    EvaluationLog.add = add
elif point == "pool":  # Ctrl-C in a terminal: SIGINT to the process group after k replications
    from concurrent.futures import ProcessPoolExecutor
    assert os.getpgid(0) == os.getpid(), "needs its own process group (start_new_session)"
    original = ProcessPoolExecutor.submit
    def done(_future):
        if nth():
            threading.Timer(0.2, lambda: os.killpg(os.getpgid(0), sig)).start()
    def submit(self, *args, **kwargs):
        future = original(self, *args, **kwargs)
        future.add_done_callback(done)
        return future
    ProcessPoolExecutor.submit = submit

from flowsim.cli import main
sys.exit(main(sys.argv[4:]))
"""


def drive(point: str, sig: signal.Signals, argv: list[str], k: int = 1, group: bool = False):
    """Run `flowsim argv` in a subprocess that signals itself at `point`."""
    return subprocess.run(
        [sys.executable, "-c", DRIVER, point, sig.name, str(k), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=group,
        preexec_fn=_sigint_default,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A complete result of `RUN`, and the command's run time once its libraries are imported."""
    folder = tmp_path_factory.mktemp("reference")
    out = folder / "run"
    proc = start(out, folder / "started")
    started = time.perf_counter()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out, time.perf_counter() - started


def complete_or_absent(out: Path, reference: Path) -> bool:
    """True if `out` is a complete result (the files of `reference`, parseable); False if absent."""
    if not out.exists():
        return False
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    result = read_result(out)  # every table, the arrays, the metadata and the scenario parse
    assert result.metadata.replications == 2 and len(result.daily) > 0
    assert (out / "daily_entries.png").read_bytes().startswith(b"\x89PNG")
    return True


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def assert_hidden_and_never_a_result(names: list[str], out: Path) -> None:
    """Leftovers of a killed writer: hidden, marked temporary or old, never the result's name."""
    for name in names:
        assert name.startswith(f".{out.name}.tmp-") or name.startswith(f".{out.name}.old-"), name


def interrupted(out: Path, written: bool) -> str:
    """The line a SIGINT gives, before or after the result was put in place."""
    if written:
        return f"flowsim: interrupted after writing {out}"
    return f"flowsim: interrupted; nothing written to {out}"


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# ----------------------------------------------------------------- killed at random moments

_rng = random.Random(20221004)
DELAYS = sorted(round(_rng.uniform(0.0, 1.15), 3) for _ in range(5))  # shares of the run's length


@pytest.mark.parametrize("share", DELAYS)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_run_killed_at_a_random_moment_leaves_a_complete_result_or_none(
    tmp_path, reference, share, sig
):
    ref, seconds = reference
    out = tmp_path / "results" / "run"
    out.parent.mkdir()
    # Timed from the end of the imports of numpy, pandas, matplotlib and pydantic: an
    # interrupt inside them surfaces through their import machinery (CPython 3.11 even
    # ends the process by the signal after an exec() at import time), not through flowsim.
    proc = start(out, tmp_path / "started")
    time.sleep(share * seconds)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    finished = complete_or_absent(out, ref)
    if sig == signal.SIGKILL:
        assert_hidden_and_never_a_result(leftovers(out), out)
        return
    assert leftovers(out) == []
    if proc.returncode == 0:
        assert finished
    elif proc.returncode == -signal.SIGINT and not err:
        # Landed after flowsim returned, while the interpreter shut down (its handlers
        # are gone by then): the result must be complete.
        assert finished
    else:
        # 130 from flowsim's handler; -SIGINT when the interrupt lands in an exec() of
        # generated code while a module imports (dataclasses build methods that way), which
        # CPython 3.11 then marks as unhandled and ends the process by the signal. A shell
        # reports both as status 130, and the one line is printed either way.
        assert proc.returncode in (130, -signal.SIGINT), err
        assert one_line(err) == interrupted(out, written=finished)


# ------------------------------------------------------- killed at the moments that matter


@pytest.mark.parametrize("point", ["writing", "flushed", "in_place"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_run_killed_while_writing_leaves_a_complete_result_or_none(
    tmp_path, reference, point, sig
):
    ref, _ = reference
    out = tmp_path / "run"
    done = drive(point, sig, [*RUN, "--out", str(out)], k=3)
    finished = complete_or_absent(out, ref)
    assert finished == (point == "in_place")
    if sig == signal.SIGINT:
        assert done.returncode == 130 and leftovers(out) == []
        assert one_line(done.stderr) == interrupted(out, written=finished)
        return
    assert done.returncode == -signal.SIGKILL
    left = leftovers(out)
    assert_hidden_and_never_a_result(left, out)
    assert len(left) == (point != "in_place")
    # The next write to the same folder removes what the killed one left.
    assert main([*RUN, "--out", str(out)]) == 0
    assert complete_or_absent(out, ref) and leftovers(out) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_rerun_killed_while_replacing_keeps_the_old_result(tmp_path, reference, sig):
    """Without the atomic swap (not Linux, or a file system without it) the old result is
    renamed away before the new one is renamed in: killed between the two, the old comes back."""
    ref, _ = reference
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    before = (out / "metadata.json").read_text()
    done = drive("set_aside", sig, [*RUN, "--out", str(out)])
    if sig == signal.SIGINT:  # put back at once
        assert done.returncode == 130 and leftovers(out) == []
        assert one_line(done.stderr) == interrupted(out, written=False)
    else:  # put back by the next write to the same folder
        assert not out.exists()
        assert_hidden_and_never_a_result(leftovers(out), out)
        remove_stale(out)
        assert leftovers(out) == []
    assert complete_or_absent(out, ref) and (out / "metadata.json").read_text() == before


def test_a_rerun_swaps_the_new_result_for_the_old_in_one_step(tmp_path, reference, monkeypatch):
    """On Linux the folder holds the old result until one system call puts the new one there."""
    ref, _ = reference
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    swaps = []
    original = flowsim.atomic._exchange

    def exchange(a, b):
        assert read_result(b).metadata.seed == 11  # the old result, whole, up to the swap
        swaps.append(original(a, b))
        return swaps[-1]

    monkeypatch.setattr(flowsim.atomic, "_exchange", exchange)
    assert main([*RUN, "--seed", "99", "--out", str(out)]) == 0
    assert (
        complete_or_absent(out, ref)
        and read_result(out).metadata.seed == 99
        and leftovers(out) == []
    )
    if swaps != [True]:
        pytest.skip(
            "no one-step swap here (not Linux, or the file system lacks it): two renames were used"
        )


def test_only_leftovers_of_dead_writers_on_this_machine_are_tidied(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead, host = int(gone.stdout), flowsim.atomic._host()
    tidied = {f".run.tmp-{dead}-{host}-x1y2", f".run.tmp-{dead}-{host}-z3"}
    kept = {
        f".run.tmp-1-{host}-x1y2",  # a writer still running (pid 1 always is)
        f".run.tmp-{dead}-otherhost-x1y2",  # another machine sharing the folder
        f".runs.tmp-{dead}-{host}-x1y2",  # another result's
        ".run.tmp-x1y2",  # not a name this module makes
        f"run.tmp-{dead}-{host}-x1y2",  # not hidden: not ours
    }
    for name in tidied | kept:
        (tmp_path / name).mkdir()
    (tmp_path / f".run.old-{dead}-{host}").mkdir()  # an old result set aside: back in place
    remove_stale(tmp_path / "run")
    assert {p.name for p in tmp_path.iterdir()} == kept | {"run"}


# ------------------------------------------------------------- Ctrl-C with a process pool


@pytest.fixture(scope="module")
def interrupted_pool(tmp_path_factory):
    """Ctrl-C in a terminal: SIGINT to the command and its two workers, one busy with the last
    of three replications, the other idle."""
    out = tmp_path_factory.mktemp("pool") / "run"
    done = drive(
        "pool",
        signal.SIGINT,
        ["run", str(SMALL), "-n", "3", "-j", "2", "-q", "--out", str(out)],
        k=2,
        group=True,
    )
    return out, done


def test_ctrl_c_with_a_process_pool_leaves_nothing(interrupted_pool, reference):
    out, done = interrupted_pool
    assert done.returncode == 130
    assert not complete_or_absent(out, reference[0]) and leftovers(out) == []
    assert done.stderr.strip().splitlines()[-1] == interrupted(out, written=False)


def test_ctrl_c_with_a_process_pool_is_one_line(interrupted_pool):
    _, done = interrupted_pool
    one_line(done.stderr)


# ------------------------------------------------------------- full or read-only disks

REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EDQUOT: "disk quota exceeded",
}


def _fail(code: int):
    def fail(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    return fail


def _to_csv_fails_on_the_second_file(monkeypatch, code):
    original, calls = pd.DataFrame.to_csv, []

    def to_csv(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(code, os.strerror(code))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("making the temporary folder", errno.EROFS),
        ("writing the files", errno.ENOSPC),
        ("writing the files", errno.EDQUOT),
        ("flushing", errno.ENOSPC),
        ("renaming into place", errno.EACCES),
    ],
)
def test_a_full_or_read_only_disk_is_one_clear_line(tmp_path, capsys, monkeypatch, where, code):
    patch = {
        "making the temporary folder": lambda: monkeypatch.setattr(
            flowsim.atomic.tempfile, "mkdtemp", _fail(code)
        ),
        "writing the files": lambda: _to_csv_fails_on_the_second_file(monkeypatch, code),
        "flushing": lambda: monkeypatch.setattr(flowsim.atomic, "_fsync_tree", _fail(code)),
        "renaming into place": lambda: monkeypatch.setattr(
            flowsim.atomic, "_put_in_place", _fail(code)
        ),
    }
    patch[where]()
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert one_line(err) == f"flowsim: error: {out}: cannot write results ({REASONS[code]})"
    assert list(tmp_path.iterdir()) == []


def _writes_are_refused(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except PermissionError:
        return True
    (folder / ".probe").unlink()
    return False


def test_a_read_only_output_folder_is_one_clear_line(tmp_path, capsys):
    parent = tmp_path / "results"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if not _writes_are_refused(parent):
            pytest.skip(
                "permissions do not stop this user (root?); the monkeypatched cases cover it"
            )
        out = parent / "run"
        assert main([*RUN, "--out", str(out)]) == 2
        assert (
            one_line(capsys.readouterr().err)
            == f"flowsim: error: {out}: cannot write results (permission denied)"
        )
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


# ------------------------------------------------------ a killed calibration resumes


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """The small calibration of test_calibration.py, its command, and an uninterrupted fit."""
    folder = tmp_path_factory.mktemp("calibration")
    path = scenario_file(folder)
    observations = truth_observations(path, folder)

    def command(out: Path) -> list[str]:
        return ["calibrate", str(path), "--observations", str(observations), "-n", "2",
                "--budget", "14", "-j", "1", "--pilot-replications", "3",
                "--validation-replications", "2", "-q", "--out", str(out)]  # fmt: skip

    assert main(command(folder / "whole")) == 0
    return command, folder / "whole"


def _fit(out: Path) -> tuple[str, list[str]]:
    """The fitted parameters as written (parameters.csv and the values in fitted.yaml)."""
    lines = (out / "fitted.yaml").read_text().splitlines()
    return (out / "parameters.csv").read_text(), [line for line in lines if line.startswith("  ")]


def _logged(out: Path) -> int:
    return len((out / "evaluations.jsonl").read_text().splitlines())


@pytest.mark.slow
def test_a_killed_calibration_resumes_to_the_same_fit(tmp_path, calibration):
    """Interrupted (SIGINT) after 4 evaluations, resumed and killed (SIGKILL) with its 4th new
    evaluation half written, then resumed to the end: the same command every time, and
    exactly the fit of the uninterrupted calibration with the same seed."""
    command, whole = calibration
    out = tmp_path / "cal"
    done = drive("evaluation", signal.SIGINT, command(out), k=4)
    assert done.returncode == 130 and _logged(out) == 4
    assert one_line(done.stderr) == (
        f"flowsim: interrupted; the evaluations so far are kept in {out}: "
        "rerun the same command to resume"
    )
    done = drive("half_line", signal.SIGKILL, command(out), k=4)
    assert done.returncode == -signal.SIGKILL and _logged(out) == 8  # 7 whole lines and half of one
    assert not (out / "fitted.yaml").exists()
    assert main(command(out)) == 0
    assert _fit(out) == _fit(whole)
    pilots = [json.loads((folder / "pilot.json").read_text()) for folder in (out, whole)]
    for pilot in pilots:
        pilot.pop("round_seconds")  # a measured time, like a run's wall time
    assert pilots[0] == pilots[1]


@pytest.mark.slow
def test_a_finished_calibration_reruns_no_evaluation_after_a_kill_mid_line(tmp_path, calibration):
    command, _ = calibration
    out = tmp_path / "cal"
    drive("half_line", signal.SIGKILL, command(out), k=3)
    assert main(command(out)) == 0
    logged = _logged(out)
    assert main(command(out)) == 0
    assert _logged(out) == logged  # everything was replayed from the log


def test_disk_full_while_logging_an_evaluation_is_one_clear_line(
    tmp_path, calibration, capsys, monkeypatch
):
    from flowsim.inference.calibration import EvaluationLog

    command, _ = calibration
    out = tmp_path / "cal"

    def add(self, record):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    monkeypatch.setattr(EvaluationLog, "add", add)
    assert main(command(out)) == 1
    line = one_line(capsys.readouterr().err)
    assert line == f"flowsim: error: {out / 'evaluations.jsonl'}: {os.strerror(errno.ENOSPC)}"


# ------------------------------------------------------------- a killed parent's workers


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("pdeathsig", [True, False], ids=["prctl", "watchdog"])
def test_the_workers_of_a_killed_run_exit(tmp_path, monkeypatch, pdeathsig):
    """SIGKILL to `flowsim run -j 2` while its workers are busy: they end within seconds,
    by the kernel's parent-death signal on Linux, or by their own watch of the parent."""
    code = STARTED
    if not pdeathsig:  # as where there is no prctl: only the watch is left
        no_prctl = "e.sys = types.SimpleNamespace(platform='other')"
        code = f"import types, flowsim.executors as e; {no_prctl}; {code}"
    long_run = ["run", str(SMALL), "-n", "8", "-j", "2", "-q", "--no-plot", "--out",
                str(tmp_path / "o"), "--set", "horizon.end=2022-12-01T00:00:00+03:00"]  # fmt: skip
    marker = tmp_path / "started"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(marker), *long_run],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        workers = _children(proc.pid) if marker.exists() else set()
    assert len(workers) >= 2, "the pool did not start"
    time.sleep(0.5)  # the workers are busy with their first replications
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "workers outlived their parent"


# ------------------------------------------------------------- Ctrl-C during the imports

#: Runs `flowsim ARGV...` with Ctrl-C pressed while pandas is being imported, in a module
#: that, as a compiled one may, turns an interrupt into ImportError (``raise``) or
#: swallows it (``swallow``): ``python -c IMPORTING MODE ARGV...``.
IMPORTING = """
import os, signal, sys, time

class Extension:
    def find_spec(self, name, path=None, target=None):
        if name != "pandas":
            return None
        sys.meta_path.remove(self)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        except KeyboardInterrupt:
            if sys.argv[1] == "raise":
                raise ImportError("initialization failed") from None
        return None

sys.meta_path.insert(0, Extension())
from flowsim.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("mode", ["raise", "swallow"])
def test_ctrl_c_while_libraries_are_imported_is_exit_130_and_one_line(tmp_path, mode):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", IMPORTING, mode, *RUN, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_sigint_default,
    )
    assert done.returncode == 130, done.stderr
    assert one_line(done.stderr) == interrupted(out, written=False)
    assert not out.exists()
