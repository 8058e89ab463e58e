package kafkaconn

import "testing"

func TestOptions(t *testing.T) {
	for _, mech := range []string{"", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		opts, err := Options(Settings{Brokers: []string{"b:9092"}, TLS: true, SASLMechanism: mech, SASLUser: "u", SASLPassword: "p"})
		if err != nil {
			t.Fatalf("%q: %v", mech, err)
		}
		want := 2 // seed brokers + TLS
		if mech != "" {
			want = 3
		}
		if len(opts) != want {
			t.Errorf("%q: %d options, want %d", mech, len(opts), want)
		}
	}
	if _, err := Options(Settings{SASLMechanism: "GSSAPI"}); err == nil {
		t.Fatal("unsupported mechanism accepted")
	}
}
