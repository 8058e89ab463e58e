package migrate

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// A cluster coming back (ZooKeeper session expired, read-only replica,
// a dropped connection) is retried; a refusal is not.
func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("apply schema: %w", &proto.Exception{Code: 999, Message: "Session expired"}), true},
		{fmt.Errorf("apply schema: %w", &proto.Exception{Code: 242, Message: "Table is in readonly mode"}), true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{fmt.Errorf("apply schema: %w", &proto.Exception{Code: 62, Message: "Syntax error"}), false},
		{errors.New(`database tally holds data placed for 2 ClickHouse shard(s)`), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}
