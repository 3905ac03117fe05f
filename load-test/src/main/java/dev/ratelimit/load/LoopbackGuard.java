package dev.ratelimit.load;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * Parses {@code host:port} (IPv6 as {@code [::1]:8081}) and refuses any target that is not a loopback address unless
 * remote targets were explicitly allowed: a load generator pointed at the wrong host is a denial of service.
 */
public final class LoopbackGuard {
    private LoopbackGuard() {
    }

    /** Resolves {@code target}; every address it resolves to must be loopback unless {@code allowRemote}. */
    public static InetSocketAddress resolve(String target, boolean allowRemote) {
        String host;
        String portText;
        String t = target.trim();
        if (t.startsWith("[")) {
            int close = t.indexOf(']');
            if (close < 0 || close + 1 >= t.length() || t.charAt(close + 1) != ':') {
                throw new IllegalArgumentException("--target '" + target + "' is not [ipv6]:port");
            }
            host = t.substring(1, close);
            portText = t.substring(close + 2);
        } else {
            int colon = t.lastIndexOf(':');
            if (colon <= 0 || t.indexOf(':') != colon) {
                throw new IllegalArgumentException("--target '" + target + "' is not host:port (write IPv6 as [::1]:8081)");
            }
            host = t.substring(0, colon);
            portText = t.substring(colon + 1);
        }
        int port;
        try {
            port = Integer.parseInt(portText);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--target port '" + portText + "' is not a number");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("--target port must be within 1..65535, got " + port);
        }
        InetAddress[] addresses;
        try {
            addresses = InetAddress.getAllByName(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("--target host '" + host + "' does not resolve", e);
        }
        if (!allowRemote) {
            for (InetAddress a : addresses) {
                if (!a.isLoopbackAddress()) {
                    throw new IllegalArgumentException("refusing to load " + target + ": " + a.getHostAddress()
                            + " is not a loopback address (use 127.0.0.1 or [::1], or pass --allow-remote if you own that host)");
                }
            }
        }
        return new InetSocketAddress(addresses[0], port);
    }
}
