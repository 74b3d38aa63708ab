// Command clewbench is Clew's load and latency harness.
//
//	clewbench ingest --target 127.0.0.1:4317 --duration 2m --conns 4
//	clewbench query  --query http://127.0.0.1:16686 --ids trace-ids.txt
//	clewbench traceql --tempo http://127.0.0.1:3200
//	clewbench blocks --data-dir /tmp/clew-data --spans 10000000 --ids-out trace-ids.txt
//	clewbench heavy --query http://127.0.0.1:16686 --concurrency 4 --duration 60s
//	clewbench bigexport --grpc 127.0.0.1:4317 --n 8 --size 65011712
//	clewbench ports --n 5
//
// ingest replays pre-encoded OTLP requests over several gRPC connections: the
// requests are built once, and each send only stamps fresh trace IDs into a
// copy of the bytes, so the harness spends its CPU on the wire, not on
// encoding. blocks writes blocks directly, to reach 10 M or 100 M stored
// spans in minutes. See docs/benchmarks.md for the figures and exact commands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: clewbench ingest|query|traceql|blocks|heavy|bigexport|ports [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "ingest":
		err = ingest(os.Args[2:])
	case "query":
		err = queryBench(os.Args[2:])
	case "traceql":
		err = traceqlBench(os.Args[2:])
	case "blocks":
		err = blocksCmd(os.Args[2:])
	case "heavy":
		err = heavyQueries(os.Args[2:])
	case "bigexport":
		err = bigExport(os.Args[2:])
	case "ports":
		err = freePorts(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clewbench:", err)
		os.Exit(1)
	}
}
