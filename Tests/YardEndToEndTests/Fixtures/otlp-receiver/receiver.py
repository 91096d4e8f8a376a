# A small OTLP/HTTP receiver for the end-to-end tests: decodes every export with
# opentelemetry-proto and appends one JSON line to argv[1] per span, metric data point and
# log record; writes the port it listens on (127.0.0.1, picked by the kernel) to argv[2].
import gzip
import http.server
import json
import os
import sys

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

out = open(sys.argv[1], "a", buffering=1)


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(pairs):
    return {pair.key: value(pair.value) for pair in pairs}


def write(record):
    out.write(json.dumps(record) + "\n")


def spans(body, headers):
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                write({
                    "signal": "span", "resource": resource, "headers": headers,
                    "traceId": span.trace_id.hex(), "spanId": span.span_id.hex(),
                    "parentSpanId": span.parent_span_id.hex(), "name": span.name, "kind": span.kind,
                    "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                    "attributes": attributes(span.attributes), "status": span.status.code,
                })
    return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()


def metrics(body, headers):
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    request.ParseFromString(body)
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                for point in getattr(metric, kind).data_points:
                    if kind in ("histogram", "exponential_histogram"):
                        number = point.count
                    else:
                        number = getattr(point, point.WhichOneof("value"))
                    write({
                        "signal": "metric", "resource": resource, "headers": headers, "name": metric.name,
                        "type": kind, "attributes": attributes(point.attributes), "value": number,
                    })
    return metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()


def logs(body, headers):
    request = logs_service_pb2.ExportLogsServiceRequest()
    request.ParseFromString(body)
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                write({
                    "signal": "log", "resource": resource, "headers": headers, "name": value(record.body),
                    "severity": record.severity_text, "attributes": attributes(record.attributes),
                    "traceId": record.trace_id.hex(),
                })
    return logs_service_pb2.ExportLogsServiceResponse().SerializeToString()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        headers = {name.lower(): value for name, value in self.headers.items()}
        decode = {"/v1/traces": spans, "/v1/metrics": metrics, "/v1/logs": logs}.get(self.path)
        if decode is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = decode(body, headers)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[2] + ".tmp", "w") as port_file:
    port_file.write(str(server.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()
