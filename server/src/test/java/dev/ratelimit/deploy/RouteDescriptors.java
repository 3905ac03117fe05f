package dev.ratelimit.deploy;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.RateLimit;
import io.envoyproxy.envoy.config.route.v3.RateLimit.Action;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Test-only model of how Envoy's HTTP rate-limit filter turns a request into descriptors: pick the
 * first matching route, then for each of its {@code rate_limits} entries run the actions in order;
 * an action that cannot produce its entry drops that whole descriptor (Envoy's
 * {@code RateLimitPolicyEntryImpl::populateDescriptors}). It models exactly the features our
 * {@code envoy.yaml} uses and throws on anything else, so a config change that it does not
 * understand fails the tests instead of being evaluated wrongly.
 */
final class RouteDescriptors {
  private final VirtualHost virtualHost;

  private RouteDescriptors(VirtualHost virtualHost) {
    this.virtualHost = virtualHost;
  }

  /** Reads the only virtual host of the bootstrap's only HTTP connection manager. */
  static RouteDescriptors of(Bootstrap bootstrap) throws InvalidProtocolBufferException {
    HttpConnectionManager hcm = httpConnectionManager(bootstrap);
    List<VirtualHost> hosts = hcm.getRouteConfig().getVirtualHostsList();
    require(hosts.size() == 1, "expected one virtual host, found " + hosts.size());
    return of(hosts.get(0));
  }

  /** Reads one virtual host (e.g. an Istio route table with EnvoyFilter patches applied). */
  static RouteDescriptors of(VirtualHost host) {
    require(host.getRateLimitsCount() == 0,
        "virtual-host rate_limits are not modelled (their use depends on per-route options)");
    return new RouteDescriptors(host);
  }

  /** The bootstrap's only HTTP connection manager. */
  static HttpConnectionManager httpConnectionManager(Bootstrap bootstrap)
      throws InvalidProtocolBufferException {
    List<Filter> hcms = new ArrayList<>();
    bootstrap.getStaticResources().getListenersList().forEach(listener ->
        listener.getFilterChainsList().forEach(chain -> chain.getFiltersList().stream()
            .filter(f -> f.getName().equals("envoy.filters.network.http_connection_manager"))
            .forEach(hcms::add)));
    require(hcms.size() == 1, "expected one HTTP connection manager, found " + hcms.size());
    return hcms.get(0).getTypedConfig().unpack(HttpConnectionManager.class);
  }

  /** The route Envoy picks for the request: the first whose match applies. */
  Route route(SampleRequest request) {
    for (Route route : virtualHost.getRoutesList()) {
      if (matches(route.getMatch(), request.pathWithoutQuery())
          && route.getMatch().getHeadersList().stream().allMatch(h -> headerMatches(h, request))) {
        return route;
      }
    }
    throw new IllegalArgumentException("no route for " + request.path());
  }

  /** The descriptors the filter (at stage 0) sends for the request, in Envoy's order. */
  List<RateLimitDescriptor> descriptors(SampleRequest request) {
    Route route = route(request);
    require(route.getTypedPerFilterConfigCount() == 0,
        "per-route filter config is not modelled (route " + route.getName() + ")");
    List<RateLimitDescriptor> out = new ArrayList<>();
    for (RateLimit rateLimit : route.getRoute().getRateLimitsList()) {
      require(!rateLimit.hasLimit() && !rateLimit.hasHitsAddend()
              && !rateLimit.getApplyOnStreamDone() && rateLimit.getDisableKey().isEmpty(),
          "rate_limits options beyond actions and stage are not modelled");
      if (rateLimit.hasStage() && rateLimit.getStage().getValue() != 0) {
        continue;
      }
      descriptor(rateLimit, request).ifPresent(out::add);
    }
    return out;
  }

  private static Optional<RateLimitDescriptor> descriptor(RateLimit rateLimit, SampleRequest request) {
    RateLimitDescriptor.Builder descriptor = RateLimitDescriptor.newBuilder();
    for (Action action : rateLimit.getActionsList()) {
      switch (action.getActionSpecifierCase()) {
        case GENERIC_KEY -> descriptor.addEntries(entry(
            orDefault(action.getGenericKey().getDescriptorKey(), "generic_key"),
            action.getGenericKey().getDescriptorValue()));
        case REMOTE_ADDRESS -> descriptor.addEntries(entry("remote_address", request.remoteAddress()));
        case REQUEST_HEADERS -> {
          Action.RequestHeaders rh = action.getRequestHeaders();
          Optional<String> value = request.header(rh.getHeaderName());
          if (value.isPresent()) {
            descriptor.addEntries(entry(rh.getDescriptorKey(), value.get()));
          } else if (!rh.getSkipIfAbsent()) {
            return Optional.empty();
          }
        }
        case HEADER_VALUE_MATCH -> {
          Action.HeaderValueMatch hvm = action.getHeaderValueMatch();
          boolean expect = !hvm.hasExpectMatch() || hvm.getExpectMatch().getValue();
          boolean all = hvm.getHeadersList().stream().allMatch(m -> headerMatches(m, request));
          if (all != expect) {
            return Optional.empty();
          }
          descriptor.addEntries(entry(
              orDefault(hvm.getDescriptorKey(), "header_match"), hvm.getDescriptorValue()));
        }
        default -> throw new UnsupportedOperationException(
            "action not modelled: " + action.getActionSpecifierCase());
      }
    }
    return Optional.of(descriptor.build());
  }

  /** Envoy's {@code HeaderUtility::matchHeaders} for the matcher kinds we use. */
  private static boolean headerMatches(HeaderMatcher matcher, SampleRequest request) {
    require(!matcher.getTreatMissingHeaderAsEmpty(), "treat_missing_header_as_empty not modelled");
    Optional<String> value = request.header(matcher.getName());
    boolean present = matcher.getHeaderMatchSpecifierCase()
        == HeaderMatcher.HeaderMatchSpecifierCase.PRESENT_MATCH;
    if (value.isEmpty()) {
      return matcher.getInvertMatch()
          ? present && matcher.getPresentMatch()
          : present && !matcher.getPresentMatch();
    }
    boolean match = switch (matcher.getHeaderMatchSpecifierCase()) {
      case PRESENT_MATCH -> matcher.getPresentMatch();
      case STRING_MATCH -> {
        require(matcher.getStringMatch().hasExact() && !matcher.getStringMatch().getIgnoreCase(),
            "only exact, case-sensitive string_match is modelled");
        yield value.get().equals(matcher.getStringMatch().getExact());
      }
      default -> throw new UnsupportedOperationException(
          "header matcher not modelled: " + matcher.getHeaderMatchSpecifierCase());
    };
    return match != matcher.getInvertMatch();
  }

  private static boolean matches(RouteMatch match, String path) {
    require(match.getQueryParametersCount() == 0
            && !match.hasRuntimeFraction() && (!match.hasCaseSensitive() || match.getCaseSensitive().getValue()),
        "route match options beyond path, prefix and headers are not modelled");
    return switch (match.getPathSpecifierCase()) {
      case PATH -> path.equals(match.getPath());
      case PREFIX -> path.startsWith(match.getPrefix());
      default -> throw new UnsupportedOperationException(
          "route match not modelled: " + match.getPathSpecifierCase());
    };
  }

  private static Entry entry(String key, String value) {
    return Entry.newBuilder().setKey(key).setValue(value).build();
  }

  private static String orDefault(String value, String fallback) {
    return value.isEmpty() ? fallback : value;
  }

  private static void require(boolean condition, String message) {
    if (!condition) {
      throw new UnsupportedOperationException(message);
    }
  }
}
