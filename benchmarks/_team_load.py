"""The load figure of ``benchmarks/team.py --load``: many machines, each with many terminals, on one
team store, as the product runs them.

    PYTHONPATH=src:. python benchmarks/team.py --load [--machines 4] [--terminals 5]
        [--load-seconds 30] [--think 20] [--work 2] [--no-bouncer | --only-bouncer]
    (the issue's figure: --machines 20 --terminals 5 --load-seconds 120)

``--machines`` machines: each its own ``HOME``/``MAHAVISHNU_HOME``, a member role made by ``team add``
(``members.add``, what the command runs) and joined with ``mahavishnu team join STRING`` run in
that home (the password kept in the home's 0600 secrets file), and its own memory daemon started
as the hooks start it (``mahavishnu service start mahavishnu-memory``: the supervised service,
the local ONNX embedder, ``memory.daemon_pool_size`` connections at most). Each machine has
``--terminals`` terminals; a terminal is a loop of turns, each run as an assistant runs its hooks and
an agent its commands, one process at a time (the hooks by the command ``memory hooks install``
writes, ``python -S -P -m mahavishnu ...``; the agent's commands by the console script's absolute
path; the package's bytecode compiled first, as installing it does):

- the prompt hook when the person submits a prompt: ``mahavishnu memory context --tool claude``
  with a UserPromptSubmit JSON on stdin (the command Claude Code runs; a SessionStart one when the
  terminal opens);
- then the agent works (``--work`` seconds, uniform 0..2x between its steps) and, each with an even
  chance, stores a decision (``mahavishnu memory store TEXT --json`` with a marker of its own:
  acknowledged when it says stored, or queued in the outbox) and searches the memory
  (``mahavishnu memory search WORDS --limit 5``);
- at Stop, the capture hook: two turns appended to the terminal's Claude Code session file, then
  ``mahavishnu memory import --tool claude -`` with the Stop JSON (it hands the import to a
  detached process that the daemon answers);
- then the person reads and thinks, ``--think`` seconds (uniform 0..2x; default 20: with the
  agent's work, a prompt every ~25 s, a busy terminal). The terminals open spread over the first
  ``--think`` seconds, as people open them, not in one instant. ``--think 2 --work 0.5`` is a
  stress run (a terminal's processes back to back, 5-10x a busy person's pace).

Then each terminal's session is captured once more, waiting for it (the detached import), and the
database is counted as its superuser: every acknowledged store present exactly once, every turn
written to a session file present exactly once. Printed: processes run, errors (a non-zero exit,
a hook or capture error in a machine's hook log, a failed request in a daemon's log), prompt-hook
wall time p50/p95 (the process, as the assistant waits for it), prompt hooks left empty because
the daemon was busy, and the peak of server connections of the members' roles (sampled every
0.5 s as the team's owner, the sampler excluded) against ``2 x machines``. Then the same through
PgBouncer in transaction mode (Debian's 1.18, pool 2 per member), the daemons restarted with the
PgBouncer DSN. Everything a run writes goes under a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from _stats import percentile
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from testkit.embedded_pg import start_embedded_postgres
from testkit.pgbouncer import pgbouncer_binary, running_pgbouncer
from testkit.team_pg import TeamCluster

from mahavishnu.environments.memory_hooks import Role, hook_command
from mahavishnu.memory.core.embedders.local import DIMENSION
from mahavishnu.paths import mahavishnu_argv

SRC = Path(__file__).resolve().parents[1] / "src"
WORDS = ["deploy", "pipeline", "retry", "policy", "cache", "index", "vector", "search", "tokens", "rollout"]
#: The issue's targets.
P95_MS, PER_MACHINE = 200.0, 2
#: Environment variables a machine does not inherit from the benchmark's own.
_OWN = ("MAHAVISHNU_", "PG", "CLAUDE_", "CODEX_", "XDG_", "PYTHON_KEYRING")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--load", action="store_true", help="only the load figure: machines x terminals")
    parser.add_argument("--machines", type=int, default=4, help="load: machines, a daemon each (issue: 20)")
    parser.add_argument("--terminals", type=int, default=5, help="load: terminals per machine (issue: 5)")
    parser.add_argument("--load-seconds", type=float, default=30.0, help="load: seconds (issue: 120)")
    parser.add_argument(
        "--think", type=float, default=20.0, help="load: mean seconds a person takes between turns"
    )
    parser.add_argument(
        "--work", type=float, default=2.0, help="load: mean seconds between an agent's steps in a turn"
    )
    parser.add_argument("--no-bouncer", action="store_true", help="load: skip the run through PgBouncer")
    parser.add_argument("--only-bouncer", action="store_true", help="load: only the run through PgBouncer")


@dataclass
class Machine:
    n: int
    root: Path
    role: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    def run(
        self, *args: str, stdin: str = "", extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``mahavishnu ARGS`` as an agent or a person types it: the console script by absolute
        path (``mahavishnu_argv``), in this machine's home."""
        return self._process(mahavishnu_argv(*args), stdin, extra)

    def hook(
        self, role: Role, stdin: str, extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Claude Code's recall or capture hook: the command ``memory hooks install`` writes
        (``python -S``, see ``memory_hooks.hook_command``), in this machine's home."""
        argv = [a for a in shlex.split(hook_command("claude", role)) if not a.startswith("MAHAVISHNU_HOME=")]
        return self._process(argv, stdin, extra)

    def _process(
        self, argv: list[str], stdin: str, extra: dict[str, str] | None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            input=stdin,
            env={**self.env, **(extra or {})},
            cwd=self.home / "api",
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )

    def logs(self) -> tuple[str, str]:
        """(the hook log, the daemon's log)."""
        data = self.home / ".mahavishnu"
        hook = data / "capture" / "capture.log"
        daemon = data / "services" / "mahavishnu-memory.log"
        read = lambda p: p.read_text(encoding="utf-8", errors="replace") if p and p.exists() else ""  # noqa: E731
        return read(hook), read(daemon)


def machine_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN)}
    env.update(
        HOME=str(home),
        MAHAVISHNU_HOME=str(home / ".mahavishnu"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",  # the 0600 secrets file of this home
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        COLUMNS="200",
    )
    return env


def set_up(team: TeamCluster, machines: int, root: Path) -> list[Machine]:
    """Each machine: a home, a member role (``team add``), joined with ``team join`` in that home."""
    made = []
    for n in range(machines):
        machine = Machine(n, root / f"machine{n}")
        (machine.home / "api").mkdir(parents=True)
        machine.env = machine_env(machine.home)
        ticket = team.add(f"machine{n}")
        machine.role = ticket.user
        joined = machine.run("team", "join", ticket.encode(), "--json")
        if joined.returncode != 0:
            raise SystemExit(f"team join failed on machine {n}: {joined.stderr.strip()}")
        made.append(machine)
    return made


def password_of(machine: Machine) -> str:
    """The member's password, as ``team join`` kept it (for PgBouncer's user list)."""
    code = (
        "from mahavishnu.config import load_settings\n"
        "from mahavishnu.environments.secrets import lookup\n"
        "print(lookup('pg-password', load_settings()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=machine.env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def start_daemons(machines: list[Machine]) -> float:
    began = time.monotonic()
    for machine in machines:
        done = machine.run("service", "start", "mahavishnu-memory")
        if done.returncode != 0:
            raise SystemExit(f"machine {machine.n}: the memory daemon did not start: {done.stderr.strip()}")
    return time.monotonic() - began


def stop_daemons(machines: list[Machine]) -> None:
    for machine in machines:
        machine.run("service", "stop", "mahavishnu-memory")


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    prompt_ms: list[float] = field(default_factory=list)
    empty_prompts: int = 0
    acknowledged: list[str] = field(default_factory=list)
    queued: int = 0
    turns: list[str] = field(default_factory=list)

    def ran(self, kind: str, done: subprocess.CompletedProcess[str], what: str) -> bool:
        with self.lock:
            self.runs[kind] = self.runs.get(kind, 0) + 1
            if done.returncode != 0:
                self.errors.append(f"{what}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
                return False
        return True


class Terminal:
    def __init__(self, machine: Machine, t: int, run_id: str, tally: Tally) -> None:
        self.machine, self.t, self.run_id, self.tally = machine, t, run_id, tally
        self.rng = random.Random(f"{run_id}-{machine.n}-{t}")
        self.session = f"{run_id}-m{machine.n}-t{t}"
        project = machine.home / ".claude" / "projects" / "-api"
        project.mkdir(parents=True, exist_ok=True)
        self.transcript = project / f"{self.session}.jsonl"
        self.transcript.touch()
        self.stores = self.turn = 0

    def payload(self, event: str, **more: str) -> str:
        return json.dumps(
            {
                "hook_event_name": event,
                "session_id": self.session,
                "transcript_path": str(self.transcript),
                "cwd": str(self.machine.home / "api"),
                **more,
            }
        )

    def prompt(self, event: str = "UserPromptSubmit") -> None:
        words = " ".join(self.rng.sample(WORDS, 3))
        began = time.perf_counter()
        done = self.machine.hook("recall", self.payload(event, prompt=f"how do we {words}?"))
        ms = (time.perf_counter() - began) * 1000
        if self.tally.ran("prompt hook", done, f"m{self.machine.n} prompt hook") and event != "SessionStart":
            with self.tally.lock:
                self.tally.prompt_ms.append(ms)
                self.tally.empty_prompts += not done.stdout.strip()

    def store(self) -> None:
        self.stores += 1
        text = f"{self.session} store {self.stores}: {' '.join(self.rng.sample(WORDS, 4))}"
        done = self.machine.run("memory", "store", text, "--type", "decision", "--project", "api", "--json")
        if not self.tally.ran("store", done, f"m{self.machine.n} store"):
            return
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            with self.tally.lock:
                self.tally.errors.append(f"m{self.machine.n} store: not JSON: {done.stdout[:200]}")
            return
        with self.tally.lock:
            self.tally.acknowledged.append(text)
            self.tally.queued += bool(answer.get("queued"))

    def capture(self, *, wait: bool = False) -> None:
        lines = []
        for role in ("user", "assistant"):
            self.turn += 1
            text = f"{self.session} turn {self.turn} ({role}) about the {self.rng.choice(WORDS)} policy"
            lines.append(
                json.dumps(
                    {
                        "type": role,
                        "uuid": f"{self.session}-{self.turn}",
                        "sessionId": self.session,
                        "cwd": str(self.machine.home / "api"),
                        "message": {"role": role, "content": text},
                    }
                )
                + "\n"
            )
            with self.tally.lock:
                self.tally.turns.append(text)
        with self.transcript.open("a", encoding="utf-8") as handle:
            handle.write("".join(lines))
        extra = {"MAHAVISHNU_CAPTURE": "detached"} if wait else None  # (the detached import, waited for)
        done = self.machine.hook("capture", self.payload("Stop"), extra)
        self.tally.ran("capture hook", done, f"m{self.machine.n} capture")

    def search(self) -> None:
        words = " ".join(self.rng.sample(WORDS, 2))
        done = self.machine.run("memory", "search", words, "--limit", "5")
        self.tally.ran("search", done, f"m{self.machine.n} search")

    def loop(self, deadline: float, think: float, work: float) -> None:
        time.sleep(self.rng.uniform(0, think))  # (terminals open over a while, not in one instant)
        self.prompt("SessionStart")
        while time.monotonic() < deadline:
            self.prompt()
            steps = [step for step in (self.store, self.search) if self.rng.random() < 0.5]
            for step in steps:
                time.sleep(self.rng.uniform(0, 2 * work))
                step()
            time.sleep(self.rng.uniform(0, 2 * work))
            self.capture()
            time.sleep(self.rng.uniform(0, 2 * think))


class Sampler:
    """The peak of server connections of ``roles``, sampled every 0.5 s as ``dsn``'s role (excluded)."""

    def __init__(self, dsn: str, roles: list[str]) -> None:
        self.dsn, self.roles, self.peak, self.samples = dsn, roles, 0, 0
        self.load = 0.0  # the highest 1-minute load average seen (runnable processes, 2 cores here)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE usename = ANY(%s) AND pid <> pg_backend_pid()",
                    (self.roles,),
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                self.samples += 1
                self.load = max(self.load, os.getloadavg()[0])
                self._stop.wait(0.5)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def counted(admin_dsn: str, run_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """(memories, conversation turns) of this run: content -> rows."""
    like = f"{run_id}-%"
    with psycopg.connect(admin_dsn) as conn:
        memories = conn.execute(
            "SELECT content, count(*) FROM memories WHERE content LIKE %s GROUP BY 1", (like,)
        ).fetchall()
        turns = conn.execute(
            "SELECT content, count(*) FROM agent_conversations WHERE content LIKE %s GROUP BY 1", (like,)
        ).fetchall()
    return {str(c): int(n) for c, n in memories}, {str(c): int(n) for c, n in turns}


#: One per machine during the run: the recall the prompt hook asks of the daemon, asked every 5 s
#: (a busy terminal's prompt rate; once a second, 20 machines' probes were 6x the hooks' recalls)
#: by a client already running (the hook's own process start left out), each answer's milliseconds
#: or None (no answer within the hook's budget, ``daemon.RECALL_SECONDS``).
_RECALL_CLIENT = """
import json, sys, time
from mahavishnu.memory.loop import daemon
end = time.monotonic() + float(sys.argv[1])
payload = {"hook_event_name": "UserPromptSubmit", "session_id": "probe"}
payload["prompt"] = "how do we retry a deploy?"
times = []
while time.monotonic() < end:
    began = time.perf_counter()
    answer = daemon.request("context", {"payload": payload, "tool": "claude"}, timeout=daemon.RECALL_SECONDS)
    times.append(None if answer is None or not answer.get("ok") else (time.perf_counter() - began) * 1000)
    time.sleep(5.0)
print(json.dumps(times))
"""


def recall_client(machine: Machine, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _RECALL_CLIENT, str(seconds)],
        env=machine.env,
        cwd=machine.home / "api",
        stdout=subprocess.PIPE,
        text=True,
    )


def idle_prompt_ms(machine: Machine, runs: int = 20) -> list[float]:
    """Prompt hooks one after another on ``machine`` while nothing else runs: the floor under load."""
    terminal = Terminal(machine, 99, f"idle{os.getpid()}", Tally())
    for _ in range(runs):
        terminal.prompt()
    return terminal.tally.prompt_ms


def _cpu_of(stat: Path, *, children: bool = False) -> tuple[str, float]:
    """(a process's name, the CPU seconds it used: user + system, with those of its children that
    exited and were waited for when ``children``) from its ``/proc/PID/stat``; OSError when gone."""
    name, _, rest = stat.read_text().partition("(")[2].rpartition(")")
    fields = rest.split()
    used = fields[11:15] if children else fields[11:13]  # utime, stime (, cutime, cstime)
    return name, sum(int(v) for v in used) / os.sysconf("SC_CLK_TCK")


def daemon_cpu_seconds(machines: list[Machine]) -> float:
    """The CPU seconds the machines' memory daemons used so far (the pid is the one each daemon
    wrote into its lock)."""
    total = 0.0
    for machine in machines:
        try:
            pid = (machine.home / ".mahavishnu" / "run" / "memory.lock").read_text().strip()
            total += _cpu_of(Path(f"/proc/{pid}/stat"))[1]
        except (OSError, ValueError):
            continue
    return total


def box_cpu_seconds() -> float:
    """The CPU seconds every process of the machine used so far (/proc/stat: all but idle and
    iowait), to tell the run's own use from whatever else runs on the box."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """The CPU seconds the PostgreSQL server's processes (every ``postgres`` process, with its
    backends that exited) and PgBouncer used so far."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, seconds = _cpu_of(stat, children=True)
        except (OSError, ValueError):
            continue
        if name.startswith("postgres") or name == "pgbouncer":
            total += seconds
    return total


def children_cpu_seconds() -> float:
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_load(
    machines: list[Machine], args: argparse.Namespace, owner_dsn: str, admin_dsn: str, label: str
) -> dict[str, Any]:
    run_id = f"load{os.getpid()}x{int(time.time() * 1000) % 10**8}"
    tally = Tally()
    terminals = [Terminal(m, t, run_id, tally) for m in machines for t in range(args.terminals)]
    deadline = time.monotonic() + args.load_seconds
    began = time.monotonic()
    cpu_began = (
        children_cpu_seconds(),
        daemon_cpu_seconds(machines),
        postgres_cpu_seconds(),
        box_cpu_seconds(),
    )
    clients = [recall_client(m, args.load_seconds) for m in machines]
    with Sampler(owner_dsn, [m.role for m in machines]) as sampler:
        threads = [threading.Thread(target=t.loop, args=(deadline, args.think, args.work)) for t in terminals]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        cpu_ended = (
            children_cpu_seconds(),
            daemon_cpu_seconds(machines),
            postgres_cpu_seconds(),
            box_cpu_seconds(),
        )
        cpu = [end - start for end, start in zip(cpu_ended, cpu_began, strict=True)]
        flush = [threading.Thread(target=t.capture, kwargs={"wait": True}) for t in terminals]
        for thread in flush:
            thread.start()
        for thread in flush:
            thread.join()
    answers = [t for c in clients for t in json.loads(c.communicate()[0] or "[]")]
    memories, turns = counted(admin_dsn, run_id)
    busy = hook_errors = daemon_errors = 0
    for machine in machines:
        hook_log, daemon_log = machine.logs()
        for line in hook_log.splitlines():
            if "did not answer within" in line:
                busy += 1
            elif line.strip():
                hook_errors += 1
                if hook_errors <= 3:
                    tally.errors.append(f"m{machine.n} hook log: {line.strip()[:300]}")
        failed = [line for line in daemon_log.splitlines() if "request failed" in line or "Traceback" in line]
        daemon_errors += len(failed)
        tally.errors.extend(f"m{machine.n} daemon log: {line[:300]}" for line in failed[:3])
        hook = machine.home / ".mahavishnu" / "capture" / "capture.log"
        hook.unlink(missing_ok=True)  # (the next run counts its own)
    stored_once = sum(1 for text in tally.acknowledged if memories.get(text) == 1)
    turns_once = sum(1 for text in tally.turns if turns.get(text) == 1)
    result = {
        "label": label,
        "elapsed": elapsed,
        "runs": dict(tally.runs),
        "errors": len([e for e in tally.errors if "hook log" not in e and "daemon log" not in e])
        + hook_errors
        + daemon_errors,
        "error_lines": tally.errors[:6],
        "prompt_p50": percentile(tally.prompt_ms, 50) if tally.prompt_ms else float("nan"),
        "prompt_p95": percentile(tally.prompt_ms, 95) if tally.prompt_ms else float("nan"),
        "prompt_ms": list(tally.prompt_ms),
        "prompts": len(tally.prompt_ms),
        "empty_busy": busy,
        "acknowledged": len(tally.acknowledged),
        "queued": tally.queued,
        "stored_once": stored_once,
        "stores_lost": sum(1 for text in tally.acknowledged if text not in memories),
        "stores_duplicated": sum(1 for text in tally.acknowledged if memories.get(text, 0) > 1),
        "turns": len(tally.turns),
        "turns_once": turns_once,
        "turns_lost": sum(1 for text in tally.turns if text not in turns),
        "turns_duplicated": sum(1 for text in tally.turns if turns.get(text, 0) > 1),
        "recall_ms": [t for t in answers if t is not None],
        "recall_unanswered": sum(1 for t in answers if t is None),
        "cpu_processes": cpu[0],
        "cpu_daemons": cpu[1],
        "cpu_postgres": cpu[2],
        "cpu_box": cpu[3],
        "peak": sampler.peak,
        "load": sampler.load,
        "samples": sampler.samples,
    }
    return result


def _p(samples: list[float], q: float) -> str:
    return f"{percentile(samples, q):.0f}" if samples else "-"


def report(result: dict[str, Any], machines: int, terminals: int) -> None:
    runs = ", ".join(f"{n} {kind}s" for kind, n in sorted(result["runs"].items()))
    print(
        f"load, {result['label']}: {machines} machines x {terminals} terminals "
        f"for {result['elapsed']:.0f} s: "
        f"{sum(result['runs'].values())} processes ({runs}); load average up to {result['load']:.0f} "
        f"on {os.cpu_count()} cores"
    )
    processes = sum(result["runs"].values())
    print(
        f"  CPU: the terminals' processes {result['cpu_processes']:.0f} s "
        f"({result['cpu_processes'] / max(processes, 1) * 1000:.0f} ms each), the daemons "
        f"{result['cpu_daemons']:.0f} s, PostgreSQL {result['cpu_postgres']:.0f} s; the whole box "
        f"{result['cpu_box']:.0f} s busy of {os.cpu_count()} cores x {result['elapsed']:.0f} s = "
        f"{(os.cpu_count() or 1) * result['elapsed']:.0f} s (the rest: other work on the box, and "
        "the processes the run starts but does not wait for)"
    )
    bound = PER_MACHINE * machines
    lost = result["stores_lost"] + result["turns_lost"]
    duplicated = result["stores_duplicated"] + result["turns_duplicated"]
    verdicts = [
        (result["errors"] == 0, f"errors: {result['errors']} (target 0)"),
        (
            lost == 0 and duplicated == 0,
            f"rows: {result['stored_once']}/{result['acknowledged']} acknowledged stores "
            f"({result['queued']} queued) and {result['turns_once']}/{result['turns']} captured turns "
            f"present exactly once; {lost} lost, {duplicated} duplicated (target 0, 0)",
        ),
        (
            result["prompt_p95"] <= P95_MS,
            f"prompt hook: p50 {result['prompt_p50']:.0f} ms, p95 {result['prompt_p95']:.0f} ms over "
            f"{result['prompts']} prompts, {result['empty_busy']} left empty as the daemon was busy "
            f"(target p95 <= {P95_MS:.0f} ms)",
        ),
        (
            bool(result["recall_ms"]) and percentile(result["recall_ms"], 95) <= P95_MS,
            f"the daemon's recall, asked by a warm client every 5 s per machine (the hook's process "
            f"start left out): p50 {_p(result['recall_ms'], 50)} ms, p95 {_p(result['recall_ms'], 95)} ms "
            f"over {len(result['recall_ms'])}, {result['recall_unanswered']} unanswered within 1 s",
        ),
        (
            result["peak"] <= bound,
            f"server connections: peak {result['peak']} of the members' roles ({result['samples']} samples) "
            f"(target <= {PER_MACHINE} x {machines} = {bound})",
        ),
    ]
    for ok, line in verdicts:
        print(f"  {'MET ' if ok else 'MISSED'} {line}")
    shown = ", ".join(f"p{q} {_p(result['prompt_ms'], q)}" for q in (75, 90, 99))
    print(f"    prompt hook: {shown}, max {max(result['prompt_ms'], default=0):.0f} ms")
    for line in result["error_lines"]:
        print(f"    error: {line}")


def through_bouncer(bouncer_dsn: str, role: str) -> str:
    """The member's DSN through PgBouncer, without a password (``resolve_dsn`` adds the one
    ``team join`` kept in the home's secrets)."""
    params = {k: v for k, v in conninfo_to_dict(bouncer_dsn).items() if k != "password"}
    return make_conninfo("", **{**params, "user": role})


def main(args: argparse.Namespace) -> None:
    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.store import default_embedder

    identity = default_embedder(MemorySettings()).identity  # the team records the machines' model
    # Bytecode compiled first, as installing the package does: with PYTHONDONTWRITEBYTECODE set (as
    # here), every process would compile each edited module again (~6 ms for cli/fast.py alone, when it
    # was one file).
    compileall.compile_dir(str(SRC / "mahavishnu"), quiet=1)
    root = Path(tempfile.mkdtemp(prefix="mahavishnu-bench-load-"))
    server, stop = start_embedded_postgres()
    team = TeamCluster(server.dsn, embedder=identity, dimension=DIMENSION)
    machines: list[Machine] = []
    try:
        team.init()
        machines = set_up(team, args.machines, root)
        admin_dsn = make_conninfo(server.dsn, dbname=team.database)
        took = start_daemons(machines)
        floor = idle_prompt_ms(machines[0])
        print(
            f"load: {args.machines} machines joined; their daemons started in {took:.0f} s; one prompt hook "
            f"on an idle machine: p50 {percentile(floor, 50):.0f} ms, p95 {percentile(floor, 95):.0f} ms "
            "(the process's own start included)"
        )
        if not args.only_bouncer:
            direct = run_load(machines, args, team.owner_dsn, admin_dsn, "direct")
            report(direct, args.machines, args.terminals)
        stop_daemons(machines)
        if args.no_bouncer:
            return
        if pgbouncer_binary() is None:
            print("load through PgBouncer: not installed (.ci/install-pgbouncer.sh), skipped")
            return
        users = {m.role: password_of(m) for m in machines}
        with running_pgbouncer(team.owner_dsn, users, pool_size=PER_MACHINE) as bouncer:
            for machine in machines:  # the daemons now reach the store through PgBouncer
                machine.env["MAHAVISHNU_MEMORY__DSN"] = through_bouncer(
                    bouncer.dsn(team.owner_dsn), machine.role
                )
            start_daemons(machines)
            through = run_load(
                machines,
                args,
                team.owner_dsn,
                admin_dsn,
                f"through PgBouncer (transaction mode, pool {PER_MACHINE}/member)",
            )
            stop_daemons(machines)
        report(through, args.machines, args.terminals)
    finally:
        stop_daemons(machines)
        team.drop()
        stop()  # type: ignore[operator]
        shutil.rmtree(root, ignore_errors=True)
