package decimal

import "testing"

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
