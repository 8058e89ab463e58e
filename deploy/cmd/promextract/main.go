// Command promextract turns what the chart ships into files promtool can check, because
// promtool reads plain Prometheus rule files, not Kubernetes objects or Grafana JSON:
//
//	promextract rules <manifests.yaml>   the spec of every PrometheusRule, as one rule file
//	promextract dashboard <tally.json>   every PromQL query of a Grafana dashboard, as one
//	                                     recording rule each (Grafana's variables replaced
//	                                     by sample values), so `promtool check rules`
//	                                     parses every panel's query
//
// The result goes to stdout. scripts/lint-deploy.sh runs it between `helm template` and
// promtool. PrometheusRule objects are decoded strictly into the prometheus-operator types.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "promextract:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: promextract rules|dashboard FILE")
	}
	data, err := os.ReadFile(args[1])
	if err != nil {
		return err
	}
	var file ruleFile
	switch args[0] {
	case "rules":
		file, err = rulesFromManifests(string(data))
	case "dashboard":
		file, err = rulesFromDashboard(data)
	default:
		return fmt.Errorf("unknown mode %q (want rules or dashboard)", args[0])
	}
	if err != nil {
		return err
	}
	text, err := yaml.Marshal(file)
	if err != nil {
		return fmt.Errorf("encode rule file: %w", err)
	}
	_, err = out.Write(text)
	return err
}

// ruleFile is the layout of a Prometheus rule file (what promtool reads).
type ruleFile struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

// rulesFromManifests collects the rule groups of every PrometheusRule in a manifest stream.
func rulesFromManifests(stream string) (ruleFile, error) {
	var file ruleFile
	for _, doc := range releaseutil.SplitManifests(stream) {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return file, fmt.Errorf("read manifest kind: %w", err)
		}
		if meta.Kind != monitoringv1.PrometheusRuleKind {
			continue
		}
		var pr monitoringv1.PrometheusRule
		if err := yaml.UnmarshalStrict([]byte(doc), &pr); err != nil {
			return file, fmt.Errorf("decode PrometheusRule: %w", err)
		}
		file.Groups = append(file.Groups, pr.Spec.Groups...)
	}
	if len(file.Groups) == 0 {
		return file, errors.New("no PrometheusRule with rule groups in the manifests")
	}
	return file, nil
}

// grafanaVariables are replaced in panel queries before promtool parses them; the values
// only need to make the query valid PromQL.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"${namespace}", "tally",
	"$namespace", "tally",
	"${release}", "tally",
	"$release", "tally",
)

type dashboardPanel struct {
	ID      int                     `json:"id"`
	Title   string                  `json:"title"`
	Targets []struct{ Expr string } `json:"targets"`
	Panels  []dashboardPanel        `json:"panels"`
}

// rulesFromDashboard turns every panel query of a dashboard into a recording rule.
func rulesFromDashboard(data []byte) (ruleFile, error) {
	var dash struct {
		Panels []dashboardPanel `json:"panels"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&dash); err != nil {
		return ruleFile{}, fmt.Errorf("decode dashboard: %w", err)
	}
	group := monitoringv1.RuleGroup{Name: "dashboard"}
	var walk func([]dashboardPanel) error
	walk = func(panels []dashboardPanel) error {
		for _, p := range panels {
			for i, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("panel %d %q: target %d has no expr", p.ID, p.Title, i)
				}
				expr := grafanaVariables.Replace(t.Expr)
				if strings.Contains(expr, "$") {
					return fmt.Errorf("panel %d %q: unknown Grafana variable in %q", p.ID, p.Title, t.Expr)
				}
				group.Rules = append(group.Rules, monitoringv1.Rule{
					Record: fmt.Sprintf("dashboard:panel_%d:target_%d", p.ID, i),
					Expr:   intstr.FromString(expr),
				})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(dash.Panels); err != nil {
		return ruleFile{}, err
	}
	if len(group.Rules) == 0 {
		return ruleFile{}, errors.New("dashboard has no panel queries")
	}
	return ruleFile{Groups: []monitoringv1.RuleGroup{group}}, nil
}
