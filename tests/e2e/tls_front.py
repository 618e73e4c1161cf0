#!/usr/bin/env python3
"""A TLS front for the AWS API emulator, for helpers that ignore AWS_ENDPOINT_URL_*.

Inside the test's mount namespace the hosts file points the real API names
(api.ecr.<region>.amazonaws.com, sts...) at a loopback address where this listens with the
test CA's certificate, and pipes every connection to moto on 127.0.0.1. A helper that honours
AWS_ENDPOINT_URL_ECR never comes here; one that does not (Debian's Go helper 0.6.0) still only
talks to loopback. Each accepted connection appends one line to --log.

usage: tls_front.py --listen 127.0.73.5:443 --to 127.0.0.1:PORT --cert C --key K [--log F]
"""
import argparse
import socket
import ssl
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, target, log):
    try:
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
    except OSError as err:
        print(f"tls_front: upstream {target}: {err}", file=sys.stderr, flush=True)
        conn.close()
        return
    if log:
        with open(log, "a") as f:
            f.write(f"{getattr(conn, 'e2e_sni', None) or '-'}\n")
    t = threading.Thread(target=pipe, args=(upstream, conn), daemon=True)
    t.start()
    pipe(conn, upstream)
    t.join(timeout=30)
    conn.close()
    upstream.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--log")
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    to_host, to_port = a.to.rsplit(":", 1)
    for h in (host, to_host):
        if not h.startswith("127."):
            sys.exit("tls_front: loopback addresses only")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.sni_callback = lambda sock, name, _ctx: setattr(sock, "e2e_sni", name)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, int(port)))
    lsock.listen(64)
    print(f"tls_front listening on {a.listen} -> {a.to}", flush=True)
    while True:
        raw, _ = lsock.accept()
        try:
            raw.settimeout(10)
            conn = ctx.wrap_socket(raw, server_side=True)
            conn.settimeout(None)
        except (OSError, ssl.SSLError) as err:
            print(f"tls_front: handshake: {err}", file=sys.stderr, flush=True)
            raw.close()
            continue
        threading.Thread(target=serve, args=(conn, (to_host, int(to_port)), a.log),
                         daemon=True).start()


if __name__ == "__main__":
    main()
