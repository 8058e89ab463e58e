package seen

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestLookupAndMark(t *testing.T) {
	mr := miniredis.RunT(t)
	s := NewRedis(redis.NewClient(&redis.Options{Addr: mr.Addr()}), time.Hour)
	ctx := context.Background()

	got, err := s.Lookup(ctx, []string{"a", "b"})
	if err != nil || len(got) != 0 {
		t.Fatalf("empty lookup = %v, %v", got, err)
	}
	if err := s.Mark(ctx, map[string]Origin{"a": {Partition: 3, Offset: 42}}); err != nil {
		t.Fatal(err)
	}
	// SET NX: a later mark never overwrites the first original.
	if err := s.Mark(ctx, map[string]Origin{"a": {Partition: 1, Offset: 7}}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Lookup(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["a"] != (Origin{Partition: 3, Offset: 42}) {
		t.Fatalf("lookup = %v", got)
	}
	if ttl := mr.TTL(KeyPrefix + "a"); ttl != time.Hour {
		t.Fatalf("ttl = %v", ttl)
	}
	mr.Close()
	if _, err := s.Lookup(ctx, []string{"a"}); err == nil {
		t.Fatal("lookup against a stopped Redis returned no error")
	}
}

func TestParseOrigin(t *testing.T) {
	if o, ok := ParseOrigin("7:123"); !ok || o != (Origin{7, 123}) {
		t.Fatalf("ParseOrigin = %v %v", o, ok)
	}
	for _, bad := range []string{"", "7", "x:1", "1:y"} {
		if _, ok := ParseOrigin(bad); ok {
			t.Errorf("ParseOrigin(%q) accepted", bad)
		}
	}
}
