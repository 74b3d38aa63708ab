package block

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"
)

func TestProbeColumns(t *testing.T) {
	if os.Getenv("CLEW_PROBE") == "" {
		t.Skip()
	}
	st, err := benchBlock()
	if err != nil {
		t.Fatal(err)
	}
	bl := st.bl
	rgs := bl.file.RowGroups()
	type res struct {
		name string
		d    time.Duration
		dictN int
	}
	var out []res
	leaves := bl.file.Schema().Columns()
	for ci := range rgs[0].ColumnChunks() {
		var tot time.Duration
		dn := 0
		for k := 0; k < 50; k++ {
			rg := rgs[k%len(rgs)]
			row := int64((k * 7919) % int(rg.NumRows()))
			t0 := time.Now()
			p := rg.ColumnChunks()[ci].Pages()
			if err := p.SeekToRow(row); err != nil {
				t.Fatal(err)
			}
			pg, err := p.ReadPage()
			if err != nil {
				t.Fatal(err)
			}
			if d := pg.Dictionary(); d != nil {
				dn += d.Len()
			}
			p.Close()
			tot += time.Since(t0)
		}
		out = append(out, res{fmt.Sprint(leaves[ci]), tot / 50, dn / 50})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].d > out[j].d })
	var sum time.Duration
	for _, r := range out {
		sum += r.d
		fmt.Printf("%-30s %8v dict=%d\n", r.name, r.d, r.dictN)
	}
	fmt.Println("sum", sum)
}
