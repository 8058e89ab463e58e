package normalize

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestDefaultConfigReproducesSeed(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	want := map[string][]string{
		"clientId":  {"source", "client_id", "clientId", "client", "origin"},
		"metric":    {"metric", "event_type", "type", "eventType", "name"},
		"amount":    {"amount", "value", "count", "quantity", "total", "price"},
		"timestamp": {"timestamp", "time", "date", "created_at", "createdAt", "ts"},
	}
	got := map[string][]string{
		"clientId": cfg.Fields.ClientID.Aliases, "metric": cfg.Fields.Metric.Aliases,
		"amount": cfg.Fields.Amount.Aliases, "timestamp": cfg.Fields.Timestamp.Aliases,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("aliases = %v, want the seed's %v", got, want)
	}
	if cfg.Fields.Metric.Default != "unknown" || cfg.Timestamp.Missing != MissingReceived || cfg.Timestamp.Timezone != "UTC" ||
		cfg.Limits.MaxBytes != 1<<20 || cfg.Limits.MaxDepth != 32 || !reflect.DeepEqual(cfg.Scopes, []string{"", "payload"}) {
		t.Fatalf("defaults drifted: %+v", cfg)
	}
	// Each call is a fresh copy.
	cfg.Fields.Metric.Aliases[0] = "changed"
	if DefaultConfig().Fields.Metric.Aliases[0] != "metric" {
		t.Fatal("DefaultConfig shares state between calls")
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "normalize.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, string(defaultYAML)))
	if err != nil {
		t.Fatalf("default.yaml via LoadConfig: %v", err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Fatal("LoadConfig(default.yaml) differs from DefaultConfig")
	}
	// A marshalled config loads back (the YAML tags are complete).
	out, err := yaml.Marshal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(writeConfig(t, string(out))); err != nil {
		t.Fatalf("round trip: %v\n%s", err, out)
	}

	cases := map[string]struct{ body, want string }{
		"unknown key":     {strings.Replace(string(defaultYAML), "maxDepth:", "maxDeep:", 1), "maxDeep"},
		"unknown nested":  {string(defaultYAML) + "\nextra: 1\n", "extra"},
		"not merged":      {"limits:\n  maxBytes: 10\n", "limits.maxDepth"},
		"empty":           {"", "empty config"},
		"two documents":   {string(defaultYAML) + "\n---\nlimits: {}\n", "more than one"},
		"bad yaml":        {"limits: [", "yaml"},
		"bad field value": {strings.Replace(string(defaultYAML), "missing: received", "missing: later", 1), "timestamp.missing"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "absent.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Limits.MaxBytes = 0
	cfg.Limits.MaxDepth = 5000
	cfg.Scopes = []string{"", "a..b", ""}
	cfg.Fields.ClientID.Required = false
	cfg.Fields.Metric.Aliases = append(cfg.Fields.Metric.Aliases, "amount", "")
	cfg.Fields.Amount.Default = "1e-12"
	cfg.Fields.Timestamp.Required = true
	cfg.Fields.IdempotencyKey.MaxLength = 0
	cfg.Amount.CurrencySymbols = []string{"1"}
	cfg.Timestamp.Missing = "sometimes"
	cfg.Timestamp.Timezone = "Mars/Olympus"
	cfg.Timestamp.Min, cfg.Timestamp.Max = "2100-01-01T00:00:00Z", "1970-01-01T00:00:00Z"
	cfg.Timestamp.Epoch.MillisBelow = 1
	cfg.Timestamp.Layouts = []string{"2006-13-02"}
	cfg.Profiles = []Profile{
		{ClientIDs: []string{"a"}, AmountExponent: 40, Timezone: "Nowhere/Else"},
		{Name: "dup", ClientIDs: []string{"a", " b"}, Aliases: ProfileAliases{Amount: []string{"metric"}}},
		{Name: "none"},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{
		"limits.maxBytes", "limits.maxDepth", "scopes[1]", "scopes[2]", "fields.clientId.required",
		`alias "amount" is used by both metric and amount`, "fields.metric.aliases[6]", "fields.amount: required and default",
		"fields.amount.default", "fields.timestamp", "fields.idempotencyKey.maxLength", "amount.currencySymbols[0]",
		"timestamp.missing", "timestamp.timezone", "timestamp.min must be before", "timestamp.epoch", "timestamp.layouts[0]",
		"profiles[0].amountExponent", "profiles[0].timezone", `"a" is already matched`, `" b" is not a valid`,
		`profiles[1] (dup).aliases: alias "metric"`, "profiles[2] (none).clientIds",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted an invalid config")
	}
	if _, err := New(nil); err == nil {
		t.Fatal("New accepted nil")
	}
}

func TestValidateRefusesServerDependentZone(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timestamp.Timezone = "Local"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "Local") {
		t.Fatalf("Local accepted: %v", err)
	}
}
