package block

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkColumnSizes reports the bytes per span each Parquet column takes
// (a size breakdown, not a speed measurement):
//
//	go test -run '^$' -bench ColumnSizes -benchtime 1x -v ./internal/store/block
func BenchmarkColumnSizes(t *testing.B) {
	b := newBucket(t)
	spans := genSpans(200000, 3)
	m, err := Write(context.Background(), b, spans, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := Open(context.Background(), b, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	var order []string
	for _, rg := range bl.file.Metadata().RowGroups {
		for _, c := range rg.Columns {
			k := fmt.Sprint(c.MetaData.PathInSchema)
			if _, ok := sizes[k]; !ok {
				order = append(order, k)
			}
			sizes[k] += c.MetaData.TotalCompressedSize
		}
	}
	for _, k := range order {
		t.Logf("%-30s %6.2f bytes/span", k, float64(sizes[k])/float64(len(spans)))
	}
	t.ReportMetric(float64(m.Bytes)/float64(len(spans)), "bytes/span")
}
