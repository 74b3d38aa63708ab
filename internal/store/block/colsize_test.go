package block

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestColumnSizes(t *testing.T) {
	if os.Getenv("CLEW_COLSIZE") == "" {
		t.Skip("set CLEW_COLSIZE=1 to print per-column sizes")
	}
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
		fmt.Printf("%-30s %6.2f bytes/span\n", k, float64(sizes[k])/float64(len(spans)))
	}
	fmt.Printf("total %.2f bytes/span (meta.Bytes)\n", float64(m.Bytes)/float64(len(spans)))
	_ = parquet.Release
}
