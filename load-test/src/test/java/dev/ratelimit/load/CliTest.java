package dev.ratelimit.load;

import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Command line: argument errors, the JSON report, ghz data files. */
class CliTest {
    @Test
    void refusesARemoteTargetBeforeSendingAnything() {
        StringWriter err = new StringWriter();
        CommandLine cl = LoadCli.commandLine();
        cl.setErr(new PrintWriter(err));
        int code = cl.execute("run", "--target", "192.0.2.10:8081", "--duration", "1s", "--pool-size", "10");
        assertEquals(1, code);
        assertTrue(err.toString().contains("not a loopback address"), err.toString());
    }

    @Test
    void refusesRateAndConcurrencyTogether() {
        StringWriter err = new StringWriter();
        CommandLine cl = LoadCli.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(1, cl.execute("run", "--rate", "10", "--concurrency", "4", "--pool-size", "10"));
        assertTrue(err.toString().contains("not both"), err.toString());
    }

    @Test
    @Timeout(30)
    void callSendsOneRequestAndPrintsTheResponse() throws Exception {
        try (FakeRateLimitServer server = new FakeRateLimitServer(1, 0)) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            java.io.PrintStream stdout = System.out;
            System.setOut(new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8));
            int code;
            try {
                code = LoadCli.commandLine().execute("call", "--target", "127.0.0.1:" + server.address().getPort(),
                        "-d", "tier=free,org=acme", "-d", "firewall=per_ip,remote_address=203.0.113.9");
            } finally {
                System.setOut(stdout);
            }
            assertEquals(0, code);
            assertTrue(out.toString(java.nio.charset.StandardCharsets.UTF_8).contains("\"overallCode\": \"OVER_LIMIT\""),
                    out.toString(java.nio.charset.StandardCharsets.UTF_8));
            assertEquals(1, server.received.get());
        }
        assertEquals(2, CallCommand.descriptor("tier=free,org=").getEntriesCount());
        assertEquals("", CallCommand.descriptor("tier=free,org=").getEntries(1).getValue());
    }

    @Test
    @Timeout(30)
    void jsonReportOfAShortRun(@TempDir Path dir) throws Exception {
        try (FakeRateLimitServer server = new FakeRateLimitServer(4, 0)) {
            Path json = dir.resolve("report.json");
            int code = LoadCli.commandLine().execute("run", "--target", "127.0.0.1:" + server.address().getPort(),
                    "--concurrency", "4", "--requests", "400", "--duration", "10s", "--warmup", "0s", "--pool-size", "1000",
                    "--orgs", "100", "--ips", "1000", "--json-out", json.toString());
            assertEquals(0, code);
            String text = Files.readString(json);
            assertTrue(text.contains("\"sent\":400,") && text.contains("\"completed\":400,") && text.contains("\"over_limit\":100,")
                    && text.contains("\"ok\":300,") && text.contains("\"mode\":\"closed\""), text);
            assertTrue(text.matches("(?s)\\{.*\"latency_us\":\\{\"count\":400,.*\"p999\":[0-9.]+,.*}}\\s*"), text);
        }
    }

    @Test
    void ghzDataFileParsesBackIntoTheSameRequests(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("data.json");
        assertEquals(0, LoadCli.commandLine().execute("ghz-data", "--count", "500", "--orgs", "100", "--ips", "300", "--out", out.toString()));
        String text = Files.readString(out).trim();
        assertTrue(text.startsWith("[") && text.endsWith("]"));
        List<String> lines = Files.readAllLines(out);
        assertEquals(502, lines.size());
        RequestGenerator expected = new RequestGenerator(new TrafficMix(100, 300, 2, 0.2, 0.1, 0.05, 1.0,
                TrafficMix.parseTierWeights("free=60,developer=25,launch=10,pro=5"), "api", 42L));
        for (int i = 1; i <= 500; i++) {
            String line = lines.get(i);
            RateLimitRequest.Builder b = RateLimitRequest.newBuilder();
            JsonFormat.parser().merge(line.endsWith(",") ? line.substring(0, line.length() - 1) : line, b);
            assertEquals(expected.next(), b.build());
        }
    }
}
