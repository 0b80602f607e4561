# SPDX-License-Identifier: MIT
"""A Varlink client for integration tests, run as another uid by setpriv.

Reads one JSON command per line on stdin, answers one JSON line on stdout:
  {"op": "call", "method": M, "parameters": P}  -> {"reply": R, "nfds": N}
  {"op": "close", "slot": S}                    -> {"closed": N}
  {"op": "fdinfo", "slot": S}                   -> {"fds": [readlink of each fd]}
Fds that arrive with an Acquire reply are kept (keyed by slot number) until
"close" or exit, like a VMM holding its TAP."""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FrameReader  # noqa: E402


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sys.argv[1])
    reader = FrameReader(sock)
    held = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "call":
            req = {"method": cmd["method"]}
            if cmd.get("parameters") is not None:
                req["parameters"] = cmd["parameters"]
            sock.sendall(json.dumps(req).encode() + b"\0")
            try:
                raw, fds = reader.next()
            except ConnectionResetError:
                print(json.dumps({"reply": {"error": "disconnected"}, "nfds": 0}), flush=True)
                return
            reply = json.loads(raw)
            slot = reply.get("parameters", {}).get("slot")
            if isinstance(slot, dict):
                held.setdefault(slot["slot"], []).extend(fds)
            else:
                for fd in fds:
                    os.close(fd)
            print(json.dumps({"reply": reply, "nfds": len(fds)}), flush=True)
        elif cmd["op"] == "close":
            fds = held.pop(cmd["slot"], [])
            for fd in fds:
                os.close(fd)
            print(json.dumps({"closed": len(fds)}), flush=True)
        elif cmd["op"] == "fdinfo":
            fds = held.get(cmd["slot"], [])
            print(json.dumps({"fds": [os.readlink("/proc/self/fd/%d" % fd) for fd in fds]}), flush=True)


if __name__ == "__main__":
    main()
