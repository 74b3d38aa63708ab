// Browser instrumentation for the Clew demo shop, built with the official
// OpenTelemetry JS web SDK. Bundled by esbuild into ../static/otel-bundle.js
// (committed, so the demo runs without Node): see docs/demo.md.
//
// The Go server injects window.CLEW_SHOP_CONFIG through /config.js:
//   { otlpTracesURL, gatewayURL, serviceName, serviceVersion }
// and the page script (static/app.js) uses window.shopOtel below.

import { context, trace, SpanKind, SpanStatusCode, ROOT_CONTEXT } from '@opentelemetry/api';
import { WebTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-web';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZoneContextManager } from '@opentelemetry/context-zone';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { FetchInstrumentation } from '@opentelemetry/instrumentation-fetch';
import { DocumentLoadInstrumentation } from '@opentelemetry/instrumentation-document-load';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

const cfg = Object.assign(
  {
    otlpTracesURL: 'http://localhost:4318/v1/traces',
    gatewayURL: window.location.origin,
    serviceName: 'frontend',
    serviceVersion: 'dev',
  },
  window.CLEW_SHOP_CONFIG || {},
);

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const exporter = new OTLPTraceExporter({ url: cfg.otlpTracesURL });
const provider = new WebTracerProvider({
  resource: resourceFromAttributes({
    [ATTR_SERVICE_NAME]: cfg.serviceName,
    [ATTR_SERVICE_VERSION]: cfg.serviceVersion,
    'deployment.environment.name': 'demo',
    'browser.language': navigator.language,
    'user_agent.original': navigator.userAgent,
  }),
  // Short delay: the demo wants spans in Clew a moment after each click.
  spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 500 })],
});
provider.register({ contextManager: new ZoneContextManager() });

registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [
    new DocumentLoadInstrumentation(),
    new FetchInstrumentation({
      // traceparent (and baggage) go to the gateway only, never to third parties.
      propagateTraceHeaderCorsUrls: [new RegExp('^' + escapeRegExp(cfg.gatewayURL))],
      // Never trace the exporter's own requests.
      ignoreUrls: [new RegExp('^' + escapeRegExp(cfg.otlpTracesURL))],
      clearTimingResources: true,
    }),
  ],
});

const tracer = provider.getTracer('clew-shop-web', cfg.serviceVersion);

/**
 * action runs fn inside a new root span named name (e.g. "click Place order").
 * fn receives { span, ctx, fetch }: use that fetch (or context.with(ctx, ...))
 * so requests are children of the root span even after an await — native
 * async/await does not carry zone.js context across awaits.
 */
async function action(name, attributes, fn) {
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, root: true, attributes }, ROOT_CONTEXT);
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  const tracedFetch = (url, init) => context.with(ctx, () => fetch(url, init));
  try {
    const result = await context.with(ctx, () => fn({ span, ctx, fetch: tracedFetch }));
    return result;
  } catch (err) {
    span.recordException(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(err && err.message ? err.message : err) });
    throw err;
  } finally {
    span.end();
  }
}

window.shopOtel = {
  config: cfg,
  action,
  traceIdOf: (span) => span.spanContext().traceId,
  flush: () => provider.forceFlush(),
};
