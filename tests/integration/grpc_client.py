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
"""
import json
import os
import re
import sys

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


def main():
    proto_dir, out_dir, target, cmd, *args = sys.argv[1:]
    pb, pbg = stubs(proto_dir, out_dir)
    from google.protobuf import empty_pb2

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
