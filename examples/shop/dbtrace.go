package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracedDB wraps database/sql calls in CLIENT spans that follow the stable
// database conventions: db.system.name, db.namespace, db.query.text (the
// parameterised text, never the arguments), db.operation.name and
// db.collection.name, and a span name like "SELECT orders".
//
// It is a tiny stand-in for a full database/sql instrumentation library.
type tracedDB struct {
	db        *sql.DB
	tracer    trace.Tracer
	system    string
	namespace string
}

// start opens the span for query.
func (d *tracedDB) start(ctx context.Context, query string) (context.Context, trace.Span) {
	op, table := summarize(query)
	name := op
	if table != "" {
		name += " " + table
	}
	attrs := []attribute.KeyValue{
		semconv.DBSystemNameKey.String(d.system),
		semconv.DBNamespace(d.namespace),
		semconv.DBQueryText(query),
		semconv.DBOperationName(op),
	}
	if table != "" {
		attrs = append(attrs, semconv.DBCollectionName(table))
	}
	return d.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Exec runs a statement that returns no rows.
func (d *tracedDB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, span := d.start(ctx, query)
	res, err := d.db.ExecContext(ctx, query, args...)
	if err == nil {
		if n, nerr := res.RowsAffected(); nerr == nil {
			span.SetAttributes(attribute.Int64("db.response.affected_rows", n))
		}
	}
	endSpan(span, err)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", firstWord(query), err)
	}
	return res, nil
}

// Query runs query and calls scan for each row; the span covers reading
// every row, which is where SQLite does the work.
func (d *tracedDB) Query(ctx context.Context, query string, scan func(*sql.Rows) error, args ...any) (err error) {
	ctx, span := d.start(ctx, query)
	n := 0
	defer func() {
		span.SetAttributes(semconv.DBResponseReturnedRows(n))
		endSpan(span, err)
	}()
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", firstWord(query), err)
	}
	defer rows.Close()
	for rows.Next() {
		n++
		if err := scan(rows); err != nil {
			return fmt.Errorf("scanning row: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading rows: %w", err)
	}
	return nil
}

func firstWord(query string) string {
	f := strings.Fields(query)
	if len(f) == 0 {
		return ""
	}
	return strings.ToUpper(f[0])
}

// summarize returns the operation (first keyword) and the first table the
// statement names (after FROM, INTO, UPDATE or TABLE), good enough for the
// demo's own statements.
func summarize(query string) (op, table string) {
	f := strings.Fields(query)
	if len(f) == 0 {
		return "", ""
	}
	op = strings.ToUpper(f[0])
	for i := 0; i+1 < len(f); i++ {
		switch strings.ToUpper(f[i]) {
		case "FROM", "INTO", "UPDATE", "TABLE":
			t := strings.Trim(f[i+1], "(;,")
			if strings.EqualFold(t, "IF") { // CREATE TABLE IF NOT EXISTS x
				if i+4 < len(f) {
					t = strings.Trim(f[i+4], "(;,")
				}
			}
			return op, t
		}
	}
	return op, ""
}
