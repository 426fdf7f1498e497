"""baresip (Debian, 1.0.0) as a caller, driven over its ctrl_tcp module.

ctrl_tcp speaks netstrings of JSON: commands ``{"command": "dial", "params": uri,
"token": n}``, responses ``{"response": true, "ok": …, "token": n}`` and events
``{"event": true, "type": "CALL_ESTABLISHED", …}``. ``sndcode`` sends one key by
RFC 2833. The microphone is a WAV (aufile; the call ends when it ends, so it is
padded with silence); what the caller hears is dropped (aubridge,nil).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from tests.ivr.sipp import free_udp_port


class Baresip:
    def __init__(self, workdir: Path, mic_wav: Path):
        self.dir = workdir / "baresip"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.mic_wav = mic_wav
        self._configure()
        (self.dir / "accounts").write_text(
            "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
        (self.dir / "contacts").write_text("")
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.events: list[dict] = []
        self.token = 0

    def _configure(self) -> None:
        """Fresh ports (free for UDP when picked; TCP/TLS on the same number may be
        taken meanwhile by another test: ``start`` then picks again)."""
        self.ctrl_port = free_udp_port()
        self.sip_port = free_udp_port()
        mic_wav = self.mic_wav
        modules = ["g711", "aufile", "aubridge", "cons", "ctrl_tcp", "menu", "account"]
        config = [
            "module_path /usr/lib/baresip/modules",
            f"sip_listen 127.0.0.1:{self.sip_port}",
            f"audio_source aufile,{mic_wav}",
            "audio_player aubridge,nil",
            "audio_alert aubridge,nil",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"cons_listen 127.0.0.1:{free_udp_port()}",
            "audio_srate 8000",
            "audio_channels 1",
            *[f"module {m}.so" for m in modules],
        ]
        (self.dir / "config").write_text("\n".join(config) + "\n")

    def start(self, timeout: float = 10, tries: int = 3) -> Baresip:
        for _ in range(tries - 1):
            try:
                return self._start(timeout)
            except RuntimeError as exc:
                if "Address already in use" not in str(exc):
                    raise
                self._configure()
        return self._start(timeout)

    def _start(self, timeout: float) -> Baresip:
        self.log = open(self.dir / "baresip.log", "w")
        self.proc = subprocess.Popen(["baresip", "-f", str(self.dir)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.ctrl_port), 0.5)
                self.sock.settimeout(0.2)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("baresip did not open ctrl_tcp: "
                           + (self.dir / "baresip.log").read_text()[-1500:])

    def command(self, command: str, params: str = "") -> None:
        self.token += 1
        body = json.dumps({"command": command, "params": params,
                           "token": str(self.token)}).encode()
        self.sock.sendall(f"{len(body)}:".encode() + body + b",")

    def _read(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return
        self.buffer += chunk
        while b":" in self.buffer:
            size, rest = self.buffer.split(b":", 1)
            if len(rest) < int(size) + 1:
                return
            self.events.append(json.loads(rest[:int(size)]))
            self.buffer = rest[int(size) + 1:]

    def wait_event(self, kind: str, timeout: float = 15) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.events:
                if ev.get("event") and ev.get("type") == kind:
                    return ev
            self._read()
        return None

    def stop(self) -> None:
        if self.sock is not None:
            try:
                self.command("quit")
            except OSError:
                pass
            self.sock.close()
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
