"""Optional REGISTER with digest auth, against SIPp acting as the PBX's registrar."""

from __future__ import annotations

import subprocess

from tests.ivr.sipp import SCENARIOS, WorkerProcess, free_udp_port


def test_worker_registers_with_digest_auth(redis_url, ivr_data_dir, tmp_path):
    port = free_udp_port()
    registrar = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "registrar.xml"), "-p", str(port), "-i", "127.0.0.1",
         "-m", "1", "-set", "user", "ivr7", "-set", "password", "s3cret", "-nostdin",
         "-timeout", "20s", "-timeout_error", "-trace_msg", "-message_file",
         str(tmp_path / "reg.log")], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        worker = WorkerProcess(redis_url, ivr_data_dir, [
            "--register", f"sip:127.0.0.1:{port}", "--register-user", "ivr7"],
            env={"HCP_SIP_PASSWORD": "s3cret"})
        worker.start()
        try:
            out, _ = registrar.communicate(timeout=30)
            assert registrar.returncode == 0, out[-2000:]
            assert worker.wait_log("registration: 200")
        finally:
            worker.stop()
    finally:
        if registrar.poll() is None:
            registrar.kill()
            registrar.wait()
    log = (tmp_path / "reg.log").read_text(errors="replace")
    assert 'Authorization: Digest username="ivr7"' in log
