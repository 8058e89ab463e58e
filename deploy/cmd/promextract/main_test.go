package main

import (
	"strings"
	"testing"
)

const manifests = `---
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
data: {a: b}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: tally}
spec:
  groups:
    - name: g
      rules:
        - alert: A
          expr: up == 0
          for: 5m
          labels: {severity: warning}
`

func TestRulesFromManifests(t *testing.T) {
	file, err := rulesFromManifests(manifests)
	if err != nil {
		t.Fatal(err)
	}
	if len(file.Groups) != 1 || len(file.Groups[0].Rules) != 1 {
		t.Fatalf("groups = %+v", file.Groups)
	}
	r := file.Groups[0].Rules[0]
	if r.Alert != "A" || r.Expr.String() != "up == 0" || r.For == nil || *r.For != "5m" {
		t.Errorf("rule = %+v", r)
	}
}

func TestRulesFromManifestsRefuses(t *testing.T) {
	for name, stream := range map[string]string{
		"no rule":       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
		"unknown field": strings.Replace(manifests, "for: 5m", "forr: 5m", 1),
		"wrong type":    strings.Replace(manifests, "labels: {severity: warning}", "labels: [warning]", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := rulesFromManifests(stream); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestRulesFromDashboard(t *testing.T) {
	dash := `{"panels": [
	  {"id": 1, "type": "row", "panels": [
	    {"id": 2, "title": "nested", "targets": [{"expr": "rate(x{namespace=\"$namespace\"}[$__rate_interval])"}]}]},
	  {"id": 3, "title": "top", "targets": [{"expr": "sum(y{job=\"$release-processor\"})"}, {"expr": "z"}]}]}`
	file, err := rulesFromDashboard([]byte(dash))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range file.Groups[0].Rules {
		got = append(got, r.Record+" = "+r.Expr.String())
	}
	want := []string{
		`dashboard:panel_2:target_0 = rate(x{namespace="tally"}[5m])`,
		`dashboard:panel_3:target_0 = sum(y{job="tally-processor"})`,
		`dashboard:panel_3:target_1 = z`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRulesFromDashboardRefuses(t *testing.T) {
	for name, dash := range map[string]string{
		"unknown variable": `{"panels": [{"id": 1, "targets": [{"expr": "x[$__unknown]"}]}]}`,
		"empty query":      `{"panels": [{"id": 1, "targets": [{"expr": " "}]}]}`,
		"no queries":       `{"panels": []}`,
		"not JSON":         `{"panels": [`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := rulesFromDashboard([]byte(dash)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
