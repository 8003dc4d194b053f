#!/usr/bin/env python3
"""Byte forwarder between a TCP address and a unix socket, for the slice
e2e (tests/e2e/slice): the controller nodes listen on 127.0.0.N in the
root namespace, the agents run in compute namespaces whose own loopback
must reach them under the same address (their certificates name it).

  uxfwd.py unix-to-tcp PATH HOST PORT   listen on unix PATH, connect HOST:PORT
  uxfwd.py tcp-to-unix HOST PORT PATH   listen on HOST:PORT, connect unix PATH

Each accepted connection gets one outgoing connection and two copying
threads; either side closing closes both."""
import os
import socket
import sys
import threading


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(listener, connect):
    while True:
        conn, _ = listener.accept()
        try:
            out = connect()
        except OSError:
            conn.close()
            continue
        for x, y in ((conn, out), (out, conn)):
            threading.Thread(target=pipe, args=(x, y), daemon=True).start()


def main():
    mode = sys.argv[1]
    if mode == "unix-to-tcp":
        path, host, port = sys.argv[2], sys.argv[3], int(sys.argv[4])
        if os.path.exists(path):
            os.unlink(path)
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(path)
        connect = lambda: socket.create_connection((host, port))
    elif mode == "tcp-to-unix":
        host, port, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((host, port))

        def connect():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
    else:
        sys.exit("usage: uxfwd.py unix-to-tcp PATH HOST PORT | tcp-to-unix HOST PORT PATH")
    lst.listen(64)
    serve(lst, connect)


if __name__ == "__main__":
    main()
