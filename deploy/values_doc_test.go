package deploy

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// leafKeys lists the dotted paths of values.yaml down to scalars, lists and empty maps:
// the keys a user sets.
func leafKeys(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, child := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leafKeys(p, child, out)
	}
}

// freeForm values are documented as a whole (their inner keys are Kubernetes fields).
var freeForm = []string{"resources", "podSecurityContext", "containerSecurityContext", "labels"}

func TestValuesDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	var keys []string
	leafKeys("", values, &keys)
	sort.Strings(keys)
	for _, key := range keys {
		documented := key
		for _, f := range freeForm {
			if i := strings.Index(key, f+"."); i >= 0 && (i == 0 || key[i-1] == '.') {
				documented = key[:i+len(f)]
			}
		}
		if !strings.Contains(string(readme), "| `"+documented+"` |") {
			t.Errorf("value %s has no row in charts/tally/README.md", documented)
		}
	}
}
