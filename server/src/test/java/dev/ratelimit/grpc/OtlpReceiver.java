package dev.ratelimit.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A minimal OTLP/HTTP traces receiver on a loopback port: it accepts {@code POST /v1/traces} with a protobuf
 * {@code ExportTraceServiceRequest}, answers 200 with an empty {@code ExportTraceServiceResponse}, and decodes the
 * fields the tests read (opentelemetry-proto's field numbers, read as unknown fields of the wire format).
 */
final class OtlpReceiver implements AutoCloseable {
  /** One exported span: ids in lower-case hex, attributes as strings (int and bool values printed). */
  record SpanData(String traceId, String spanId, String parentSpanId, String name, long kind, int statusCode,
      Map<String, String> attributes, Map<String, String> resource) {}

  /** One export request: its headers and raw body. */
  record Export(Map<String, List<String>> headers, byte[] body) {}

  private final HttpServer http;
  private final List<Export> exports = new CopyOnWriteArrayList<>();

  OtlpReceiver() throws IOException {
    http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    http.createContext("/v1/traces", exchange -> {
      try (InputStream in = exchange.getRequestBody()) {
        boolean protobuf = "application/x-protobuf".equals(exchange.getRequestHeaders().getFirst("Content-Type"));
        byte[] body = in.readAllBytes();
        exports.add(new Export(Map.copyOf(exchange.getRequestHeaders()), body));
        exchange.getResponseHeaders().add("Content-Type", "application/x-protobuf");
        exchange.sendResponseHeaders(protobuf && "POST".equals(exchange.getRequestMethod()) ? 200 : 400, -1);
      } finally {
        exchange.close();
      }
    });
    http.start();
  }

  /** The base URL, e.g. {@code http://127.0.0.1:40123} (the exporter appends nothing: use {@link #tracesUrl}). */
  URI baseUrl() {
    return URI.create("http://127.0.0.1:" + http.getAddress().getPort());
  }

  URI tracesUrl() {
    return URI.create(baseUrl() + TracingSettings.TRACES_PATH);
  }

  List<Export> exports() {
    return List.copyOf(exports);
  }

  /** Every span received so far. */
  List<SpanData> spans() throws InvalidProtocolBufferException {
    List<SpanData> spans = new ArrayList<>();
    for (Export export : exports) {
      for (ByteString resourceSpans : fields(UnknownFieldSet.parseFrom(export.body()), 1)) {
        UnknownFieldSet rs = UnknownFieldSet.parseFrom(resourceSpans);
        Map<String, String> resource = new LinkedHashMap<>();
        for (ByteString r : fields(rs, 1)) {
          resource.putAll(attributes(UnknownFieldSet.parseFrom(r), 1));
        }
        for (ByteString scopeSpans : fields(rs, 2)) {
          for (ByteString spanBytes : fields(UnknownFieldSet.parseFrom(scopeSpans), 2)) {
            UnknownFieldSet span = UnknownFieldSet.parseFrom(spanBytes);
            List<ByteString> status = fields(span, 15);
            int statusCode = status.isEmpty() ? 0 : (int) varint(UnknownFieldSet.parseFrom(status.get(0)), 3);
            spans.add(new SpanData(hex(span, 1), hex(span, 2), hex(span, 4), string(span, 5), varint(span, 6),
                statusCode, attributes(span, 9), resource));
          }
        }
      }
    }
    return spans;
  }

  private static List<ByteString> fields(UnknownFieldSet message, int number) {
    return message.hasField(number) ? message.getField(number).getLengthDelimitedList() : List.of();
  }

  private static String hex(UnknownFieldSet message, int number) {
    List<ByteString> values = fields(message, number);
    return values.isEmpty() ? "" : HexFormat.of().formatHex(values.get(0).toByteArray());
  }

  private static String string(UnknownFieldSet message, int number) {
    List<ByteString> values = fields(message, number);
    return values.isEmpty() ? "" : values.get(0).toStringUtf8();
  }

  private static long varint(UnknownFieldSet message, int number) {
    return message.hasField(number) ? message.getField(number).getVarintList().get(0) : 0;
  }

  /** KeyValue{key=1, value=2: AnyValue{string=1, bool=2, int=3}} fields numbered {@code number}. */
  private static Map<String, String> attributes(UnknownFieldSet message, int number)
      throws InvalidProtocolBufferException {
    Map<String, String> attributes = new LinkedHashMap<>();
    for (ByteString kvBytes : fields(message, number)) {
      UnknownFieldSet kv = UnknownFieldSet.parseFrom(kvBytes);
      UnknownFieldSet value = UnknownFieldSet.parseFrom(fields(kv, 2).get(0));
      String text = value.hasField(1) ? string(value, 1)
          : value.hasField(2) ? String.valueOf(varint(value, 2) != 0)
          : value.hasField(3) ? String.valueOf(varint(value, 3))
          : "?";
      attributes.put(string(kv, 1), text);
    }
    return attributes;
  }

  @Override
  public void close() {
    http.stop(0);
  }
}
