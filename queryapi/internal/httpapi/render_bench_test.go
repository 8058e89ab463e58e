package httpapi

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/decimal"
)

func BenchmarkRenderGroups(b *testing.B) {
	var out aggregationsJSON
	for i := range 400 {
		c, m := fmt.Sprintf("client_%02d", i/4), fmt.Sprintf("metric_%d", i%4)
		st := aggregate.Stats{Count: 252203, Sum: decimal.MustParse("1261269288.26"), Min: decimal.MustParse("0.02"), Max: decimal.MustParse("9999.93")}
		st.Avg = st.Sum.Div(st.Count)
		out.Groups = append(out.Groups, groupJSON{ClientID: &c, Metric: &m, statsJSON: toStatsJSON(st)})
	}
	for b.Loop() {
		if _, err := json.Marshal(out); err != nil {
			b.Fatal(err)
		}
	}
}
