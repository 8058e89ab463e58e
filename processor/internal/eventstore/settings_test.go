package eventstore

import (
	"testing"
	"time"
)

func TestSettings(t *testing.T) {
	if s := (Options{}).Settings(); s != nil {
		t.Errorf("a single server gets settings %v", s)
	}
	if s := (Options{InsertQuorum: 1}).Settings(); s != nil {
		t.Errorf("a quorum of one is no quorum, got %v", s)
	}
	s := Options{InsertQuorum: 2, InsertQuorumTimeout: 5 * time.Second}.Settings()
	want := map[string]int{"insert_quorum": 2, "insert_quorum_timeout": 5000, "select_sequential_consistency": 1}
	if len(s) != len(want) {
		t.Fatalf("settings %v, want %v", s, want)
	}
	for k, v := range want {
		// ClickHouse 18.16 takes settings as numbers, which the driver
		// encodes only from int and bool.
		if got, ok := s[k].(int); !ok || got != v {
			t.Errorf("%s = %#v, want int %d", k, s[k], v)
		}
	}
	if s := (Options{InsertQuorum: 3}).Settings(); s["insert_quorum_timeout"] != 30000 {
		t.Errorf("default quorum timeout %v, want 30000 ms", s["insert_quorum_timeout"])
	}
}
