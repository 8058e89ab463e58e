package localstack

import (
	"slices"
	"testing"
)

func TestParseSS(t *testing.T) {
	out := []byte(`ESTAB 0      0      127.0.0.1:21192  127.0.0.1:40112 users:(("java",pid=4242,fd=201))
ESTAB 0      0      127.0.0.1:40112  127.0.0.1:21192 users:(("processor",pid=77,fd=9))
ESTAB 0      0      127.0.0.1:51000  127.0.0.1:21093 users:(("java",pid=4242,fd=150),("java",pid=4243,fd=150))
ESTAB 0      0      [::ffff:127.0.0.1]:35000 [::ffff:127.0.0.1]:2181 users:(("java",pid=4243,fd=7))
garbage
`)
	got := parseSS(out, []int{4242, 4243})
	slices.Sort(got)
	if want := []int{21192, 35000, 51000}; !slices.Equal(got, want) {
		t.Errorf("ports %v, want %v", got, want)
	}
}
