package decimal

import (
	"math/big"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestParseString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"}, {"0.000000000", "0"}, {"-0.000000000", "0"}, {"12.500000000", "12.5"},
		{"-3.000000001", "-3.000000001"}, {"+7", "7"}, {".5", "0.5"}, {"5.", "5"},
		{"99999999999999999999999999999.999999999", "99999999999999999999999999999.999999999"},
	}
	for _, tt := range tests {
		v, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got := v.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "-", ".", "1e5", "1.0000000001", " 1", "0x10", "1,5", "NaN"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestAddDiv(t *testing.T) {
	sum := MustParse("1.25").Add(MustParse("-3.000000001"))
	if sum.String() != "-1.750000001" {
		t.Fatalf("sum = %s", sum)
	}
	tests := []struct {
		v    string
		n    uint64
		want string
	}{
		{"3.5", 2, "1.75"},
		{"1", 3, "0.333333333"},
		{"2", 3, "0.666666667"},
		{"-2", 3, "-0.666666667"},
		{"0.000000001", 2, "0.000000001"},   // half rounds away from zero
		{"-0.000000001", 2, "-0.000000001"}, // symmetric
		{"0.000000001", 3, "0"},
		{"5", 0, "0"},
	}
	for _, tt := range tests {
		if got := MustParse(tt.v).Div(tt.n).String(); got != tt.want {
			t.Errorf("%s / %d = %s, want %s", tt.v, tt.n, got, tt.want)
		}
	}
	if MustParse("2").Cmp(MustParse("10")) >= 0 {
		t.Fatal("2 >= 10")
	}
}

// String agrees with big.Rat's exact rendering for any scaled value,
// negative, below one and beyond 64 bits included, and Parse reads it back.
func TestStringMatchesRat(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		scaled := new(big.Int).SetUint64(rapid.Uint64().Draw(t, "lo"))
		scaled.Mul(scaled, new(big.Int).SetUint64(rapid.Uint64Range(0, 1<<40).Draw(t, "hi")+1))
		scaled.Div(scaled, new(big.Int).SetUint64(rapid.Uint64Range(1, 1<<62).Draw(t, "shrink")))
		if rapid.Bool().Draw(t, "neg") {
			scaled.Neg(scaled)
		}
		v := FromScaled(scaled)
		want := strings.TrimRight(strings.TrimRight(new(big.Rat).SetFrac(scaled, unit).FloatString(Scale), "0"), ".")
		if want == "-0" {
			want = "0"
		}
		if got := v.String(); got != want {
			t.Fatalf("String(%s e-9) = %q, want %q", scaled, got, want)
		}
		if back, err := Parse(v.String()); err != nil || back.Cmp(v) != 0 {
			t.Fatalf("Parse(%q) = %v, %v", v.String(), back, err)
		}
	})
}
