// A browser page's tracing set up the way most deployed apps still do it:
// OTel JS web SDK 1.30 with the OTLP/HTTP exporter 0.57, the last releases
// before the exporter switched to fetch. With no custom headers that
// exporter sends every batch with navigator.sendBeacon, which is always in
// credentials mode; with headers (even empty) it uses XMLHttpRequest.
//
// Bundled by esbuild into ../legacy-otel-bundle.js (committed, so the test
// runs without Node); rebuild with: npm ci && npm run build
//
// window.legacyExport({ url, transport, service, traceName }) creates one
// root span and one child, flushes them, and resolves to the trace ID.

import { trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { WebTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-web';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';

window.legacyExport = async function legacyExport({ url, transport, service, traceName }) {
  // transport "beacon": the exporter's default (no headers option at all).
  // transport "xhr": any headers object switches it to XMLHttpRequest.
  const cfg = transport === 'xhr' ? { url, headers: {} } : { url };
  const exporter = new OTLPTraceExporter(cfg);
  const provider = new WebTracerProvider({
    resource: new Resource({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('legacy-export-test');
  const root = tracer.startSpan(traceName, { root: true }, ROOT_CONTEXT);
  const child = tracer.startSpan('child of ' + traceName, {}, trace.setSpan(ROOT_CONTEXT, root));
  child.end();
  root.end();
  await provider.forceFlush();
  return root.spanContext().traceId;
};
window.legacyReady = true;
