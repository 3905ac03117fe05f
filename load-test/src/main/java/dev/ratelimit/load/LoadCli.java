package dev.ratelimit.load;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of {@code ratelimit-load.jar}: {@code run} sends load; {@code ghz-data} and {@code h2load-bodies} write
 * inputs for ghz and h2load.
 */
@Command(name = "ratelimit-load", mixinStandardHelpOptions = true, version = "ratelimit-load 0.1.0",
        subcommands = {RunCommand.class, CallCommand.class, GhzDataCommand.class, H2loadBodiesCommand.class},
        description = "Load generator for Envoy's RateLimitService v3 (ShouldRateLimit), loopback targets by default.")
public final class LoadCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "choose a subcommand: run, call, ghz-data or h2load-bodies");
    }

    /** Runs the command line; exit code 0 on success, 1 on bad arguments, 2 when nothing completed. */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured picocli command line (argument errors print one line, not a stack trace). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new LoadCli());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof IllegalArgumentException || e instanceof IllegalStateException) {
                cmd.getErr().println("error: " + e.getMessage());
                return 1;
            }
            throw e;
        });
        return cl;
    }
}
