package event

import "testing"

func TestAmountRoundTrip(t *testing.T) {
	cases := map[string]string{
		"1200": "1200", "1200.0": "1200", "0.5": "0.5", "-0.5": "-0.5", "+3": "3",
		"007.250": "7.25", "0.000000001": "0.000000001", "-9223372036854775807.999999999": "-9223372036854775807.999999999",
		".5": "0.5", "5.": "5", "-0": "0",
	}
	for in, want := range cases {
		a, err := ParseAmount(in)
		if err != nil {
			t.Fatalf("ParseAmount(%q): %v", in, err)
		}
		if got := a.String(); got != want {
			t.Errorf("ParseAmount(%q).String() = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", ".", "-", "1e3", "1,200", " 1", "0x10", "1.0000000001", "9223372036854775808", "NaN"} {
		if _, err := ParseAmount(bad); err == nil {
			t.Errorf("ParseAmount(%q) accepted", bad)
		}
	}
}

func TestAmountBigScaled(t *testing.T) {
	a, _ := ParseAmount("-12.5")
	if got := a.BigScaled().String(); got != "-12500000000" {
		t.Fatalf("BigScaled = %s", got)
	}
}
