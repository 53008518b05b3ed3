"""A native gRPC client for acond (grpcio, stubs generated from proto/acon.proto at run time).

Run by tests/integration/grpc_test.ts with Debian's /usr/bin/python3 (python3-grpcio,
python3-grpc-tools). Usage: grpc_client.py PROTO_DIR OUT_DIR TARGET COMMAND [ARG...]
TARGET is a grpcio target ("127.0.0.1:PORT" or "unix:/path"). Prints one JSON line with what
it saw; RPC errors are printed as {"error": CODE_NAME, "message": ...}, never raised.

Commands:
  health                     Health
  inspect ID                 Inspect(container_id=ID)
  blobstatus UPLOAD_ID       BlobStatus(upload_id)
  logs ID                    Logs(ID, from_start, follow): the chunks' text until the stream ends
  kernellog-deadline SECS    KernelLog(follow) with a deadline of SECS: its end status
  watch-deadline SECS        Watch with a deadline of SECS: its end status
  raw-unary METHOD HEX       METHOD with the bytes HEX as its request message (malformed input)
  load CLIENTS RPCS SEED RUNNER HANG_S
                             scripts/stress load-grpc: CLIENTS threads, each its own channel
                             (connection), RPCS mixed RPCs each (Health, Inspect, Report, Exec
                             Echo into container RUNNER, GetEventLog, Logs and KernelLog streams
                             ended by their deadline); prints the counts and the first failures
"""
import json
import os
import random
import re
import sys
import threading
import time

import grpc


def stubs(proto_dir, out_dir):
    from grpc_tools import protoc
    import grpc_tools

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    if not os.path.exists(os.path.join(out_dir, "acon_pb2_grpc.py")):
        # Debian's protoc (3.5) predates proto3 `optional`: without the label a field has the same
        # wire form (only its presence tracking differs, which no command here reads).
        with open(os.path.join(proto_dir, "acon.proto")) as f:
            text = re.sub(r"^(\s*)optional ", r"\1", f.read(), flags=re.M)
        with open(os.path.join(out_dir, "acon.proto"), "w") as f:
            f.write(text)
        rc = protoc.main([
            "protoc", f"-I{out_dir}", f"-I{include}", f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}", os.path.join(out_dir, "acon.proto"),
        ])
        if rc != 0:
            raise SystemExit(f"protoc failed ({rc})")
    sys.path.insert(0, out_dir)
    import acon_pb2
    import acon_pb2_grpc
    return acon_pb2, acon_pb2_grpc


def error(e):
    return {"error": e.code().name, "message": e.details()}


# Codes a load RPC may earn: the caps (upload, open streams), and a stream's own deadline.
EARNED = {"RESOURCE_EXHAUSTED"}
STREAM_EARNED = {"RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}


def load(pb, pbg, channel_of, clients, rpcs, seed, runner, hang_s):
    from google.protobuf import empty_pb2

    lock = threading.Lock()
    res = {"rpcs": 0, "counts": {}, "hangs": [], "unearned": [], "wrong": [],
           "n_hangs": 0, "n_unearned": 0, "n_wrong": 0}

    def note(kind, what):
        with lock:
            res["n_" + kind] += 1
            if len(res[kind]) < 6:
                res[kind].append(what)

    def one(s, r, i, ci):
        pick = r.choices(["Health", "Inspect", "Report", "Exec", "GetEventLog", "Logs", "KernelLog"],
                         weights=[2, 3, 2, 3, 1, 1, 1])[0]
        with lock:
            res["rpcs"] += 1
            res["counts"][pick] = res["counts"].get(pick, 0) + 1
        began = time.monotonic()
        stream = pick in ("Logs", "KernelLog")
        try:
            if pick == "Health":
                s.Health(empty_pb2.Empty(), timeout=3 * hang_s)
            elif pick == "Inspect":
                s.Inspect(pb.InspectRequest(container_id=runner if r.random() < 0.5 else 0),
                          timeout=3 * hang_s)
            elif pick == "Report":
                s.Report(pb.ReportRequest(nonce_lo=r.getrandbits(32), nonce_hi=1,
                                          request_type=r.randrange(2)), timeout=3 * hang_s)
            elif pick == "Exec":
                word = f"g{r.randrange(10**6)}"
                out = s.Exec(pb.ExecRequest(container_id=runner, command="Echo", arguments=[word],
                                            envs=["PATH=/bin"], timeout=10), timeout=3 * hang_s)
                if out.stdout != (word + "\n").encode():
                    note("wrong", f"Exec Echo {word} gave {out.stdout!r}")
            elif pick == "GetEventLog":
                s.GetEventLog(empty_pb2.Empty(), timeout=3 * hang_s)
            else:
                # A follow stream, ended by its own deadline (0..0.3 s): DEADLINE_EXCEEDED earned.
                d = r.random() * 0.3 + 0.01
                it = (s.Logs(pb.LogsRequest(container_id=runner, follow=True), timeout=d)
                      if pick == "Logs" else s.KernelLog(pb.KernelLogRequest(follow=True), timeout=d))
                for _ in it:
                    pass
        except grpc.RpcError as e:
            code = e.code().name
            ms = int((time.monotonic() - began) * 1000)
            if code == "DEADLINE_EXCEEDED" and not stream:
                note("hangs", f"{pick}: stuck, no answer in {ms} ms (RPC {i} of client {ci})")
                return
            if code not in (STREAM_EARNED if stream else EARNED):
                note("unearned", f"{pick}: {code} {e.details()}")
                return
        ms = int((time.monotonic() - began) * 1000)
        if ms > hang_s * 1000 + (300 if stream else 0):
            note("hangs", f"{pick}: slow, answered after {ms} ms (RPC {i} of client {ci})")

    def client(ci):
        r = random.Random(seed * 7919 + ci * 104729)
        with channel_of() as ch:
            s = pbg.AconServiceStub(ch)
            for i in range(rpcs):
                one(s, r, i, ci)

    threads = [threading.Thread(target=client, args=(ci,)) for ci in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return res


def main():
    proto_dir, out_dir, target, cmd, *args = sys.argv[1:]
    pb, pbg = stubs(proto_dir, out_dir)
    from google.protobuf import empty_pb2

    if cmd == "load":
        clients, rpcs, seed, runner = (int(a) for a in args[:4])
        channel_of = lambda: grpc.insecure_channel(  # noqa: E731
            target, options=[("grpc.use_local_subchannel_pool", 1)])
        print(json.dumps(load(pb, pbg, channel_of, clients, rpcs, seed, runner, float(args[4]))))
        return

    root = os.environ.get("GRPC_ROOT_CERT")
    if root:
        # acond's attested TLS listener: trust the certificate it serves (its evidence is
        # aconctl's to verify); the certificate names localhost.
        with open(root, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(
            target, creds, options=[("grpc.ssl_target_name_override", "localhost")]
        )
    else:
        channel = grpc.insecure_channel(target)
    with channel as ch:
        s = pbg.AconServiceStub(ch)
        try:
            if cmd == "health":
                r = s.Health(empty_pb2.Empty(), timeout=20)
                out = {"version": r.version, "tee": r.tee, "api_version": r.api_version}
            elif cmd == "inspect":
                r = s.Inspect(pb.InspectRequest(container_id=int(args[0])), timeout=20)
                out = {"info": [{"id": i.container_id, "state": i.state} for i in r.info]}
            elif cmd == "blobstatus":
                r = s.BlobStatus(pb.BlobStatusRequest(upload_id=args[0]), timeout=20)
                out = {"received": r.received}
            elif cmd == "logs":
                text = b""
                req = pb.LogsRequest(container_id=int(args[0]), follow=True, from_start=True)
                for chunk in s.Logs(req, timeout=60):
                    text += chunk.data
                out = {"logs": text.decode(errors="replace")}
            elif cmd in ("kernellog-deadline", "watch-deadline"):
                try:
                    if cmd == "kernellog-deadline":
                        it = s.KernelLog(pb.KernelLogRequest(follow=True), timeout=float(args[0]))
                    else:
                        it = s.Watch(pb.WatchRequest(), timeout=float(args[0]))
                    n = sum(1 for _ in it)
                    out = {"ended": "OK", "messages": n}
                except grpc.RpcError as e:
                    out = error(e)
            elif cmd == "raw-unary":
                call = ch.unary_unary(
                    f"/acon.grpc.AconService/{args[0]}",
                    request_serializer=lambda b: b,
                    response_deserializer=lambda b: b,
                )
                r = call(bytes.fromhex(args[1]), timeout=20)
                out = {"raw": r.hex()}
            else:
                raise SystemExit(f"unknown command {cmd}")
        except grpc.RpcError as e:
            out = error(e)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
