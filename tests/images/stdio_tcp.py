"""Joins stdin/stdout to a TCP connection: QEMU's user network runs it per guest connection
(``guestfwd=tcp:IP:PORT-cmd:python3 stdio_tcp.py HOST PORT``), so a guest address reaches a server on
the host (a ``tcp:`` chardev would carry only one connection for the VM's whole life)."""

from __future__ import annotations

import os
import socket
import sys
import threading


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    conn = socket.create_connection((host, port))

    def to_server() -> None:
        while chunk := os.read(0, 65536):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)

    threading.Thread(target=to_server, daemon=True).start()
    out = sys.stdout.buffer
    while chunk := conn.recv(65536):
        out.write(chunk)
        out.flush()


if __name__ == "__main__":
    main()
