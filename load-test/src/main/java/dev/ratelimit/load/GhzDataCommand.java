package dev.ratelimit.load;

import com.google.protobuf.util.JsonFormat;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code ghz-data}: writes a ghz data file (a JSON array of RateLimitRequests, sent round-robin by ghz) for the same mix. */
@Command(name = "ghz-data", mixinStandardHelpOptions = true,
        description = "Write a ghz --data-file: a JSON array of RateLimitRequest messages following the traffic mix.")
public final class GhzDataCommand implements Callable<Integer> {
    @Option(names = "--count", description = "Requests in the file (default: ${DEFAULT-VALUE}).")
    int count = 20_000;

    @Option(names = "--out", required = true, description = "Output file.")
    Path out;

    @Mixin
    MixOptions mixOptions;

    @Override
    public Integer call() throws Exception {
        write(new RequestGenerator(mixOptions.toMix()), count, out);
        System.err.printf("wrote %d requests to %s%n", count, out);
        return 0;
    }

    /** Writes {@code count} requests from {@code generator} as a JSON array, one message per line. */
    static void write(RequestGenerator generator, int count, Path out) throws java.io.IOException {
        if (count <= 0) {
            throw new IllegalArgumentException("--count must be > 0, got " + count);
        }
        JsonFormat.Printer printer = JsonFormat.printer().omittingInsignificantWhitespace();
        try (BufferedWriter w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            w.write("[\n");
            for (int i = 0; i < count; i++) {
                w.write(printer.print(generator.next()));
                w.write(i + 1 < count ? ",\n" : "\n");
            }
            w.write("]\n");
        }
    }
}
