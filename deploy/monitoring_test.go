package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
)

// monitoringOn switches on every optional monitoring object of the chart.
var monitoringOn = []string{
	"metrics.serviceMonitor.enabled=true",
	"metrics.prometheusRule.enabled=true",
	"metrics.grafanaDashboard.enabled=true",
}

// wantAlerts are the alerts docs/operations.md documents; the chart must ship exactly these.
var wantAlerts = []string{
	"TallyConsumerLagGrowing", "TallyProcessingStalled", "TallyDeadLettersGrowing",
	"TallyReconciliationFalse", "TallyReconciliationUnknown", "TallyClickHouseWritesFailing",
	"TallyIngestUnavailable", "TallyIngestServerErrors", "TallyRedisFailOpen", "TallyProcessorDown",
}

type monitoringObjects struct {
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
	rule            *monitoringv1.PrometheusRule
	dashboards      []*corev1.ConfigMap
	services        map[string]*corev1.Service
}

func collectMonitoring(t *testing.T, objs []rendered) monitoringObjects {
	t.Helper()
	m := monitoringObjects{serviceMonitors: map[string]*monitoringv1.ServiceMonitor{}, services: map[string]*corev1.Service{}}
	for _, r := range objs {
		switch o := r.obj.(type) {
		case *monitoringv1.ServiceMonitor:
			m.serviceMonitors[o.Name] = o
		case *monitoringv1.PrometheusRule:
			if m.rule != nil {
				t.Errorf("more than one PrometheusRule: %s and %s", m.rule.Name, o.Name)
			}
			m.rule = o
		case *corev1.ConfigMap:
			if _, ok := o.Data["tally.json"]; ok {
				m.dashboards = append(m.dashboards, o)
			}
		case *corev1.Service:
			m.services[o.Name] = o
		}
	}
	return m
}

func alerts(rule *monitoringv1.PrometheusRule) map[string]monitoringv1.Rule {
	out := map[string]monitoringv1.Rule{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = r
			}
		}
	}
	return out
}

func TestMonitoringOffByDefault(t *testing.T) {
	m := collectMonitoring(t, mustRender(t, nil))
	if len(m.serviceMonitors) != 0 || m.rule != nil || len(m.dashboards) != 0 {
		t.Fatalf("default values render monitoring objects: %d ServiceMonitors, rule %v, %d dashboards",
			len(m.serviceMonitors), m.rule != nil, len(m.dashboards))
	}
}

func TestServiceMonitorsScrapeEveryService(t *testing.T) {
	m := collectMonitoring(t, mustRender(t, nil, append(monitoringOn, "metrics.serviceMonitor.labels.release=prom")...))
	want := map[string]string{"tally-ingestor": "http", "tally-processor": "admin", "tally-queryapi": "http"}
	if len(m.serviceMonitors) != len(want) {
		t.Errorf("%d ServiceMonitors, want %d", len(m.serviceMonitors), len(want))
	}
	for name, port := range want {
		sm := m.serviceMonitors[name]
		if sm == nil {
			t.Errorf("no ServiceMonitor %s", name)
			continue
		}
		if sm.Labels["release"] != "prom" {
			t.Errorf("%s: metrics.serviceMonitor.labels not applied: %v", name, sm.Labels)
		}
		if got := sm.Spec.NamespaceSelector.MatchNames; len(got) != 1 || got[0] != "tally" {
			t.Errorf("%s: namespaceSelector %v, want the release namespace", name, got)
		}
		// The ServiceMonitor must select exactly the Service whose name becomes the job label
		// the rules and the dashboard select on.
		var selected []string
		for svcName, svc := range m.services {
			if selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
				selected = append(selected, svcName)
			}
		}
		if len(selected) != 1 || selected[0] != name {
			t.Errorf("%s selects Services %v, want [%s]", name, selected, name)
			continue
		}
		if len(sm.Spec.Endpoints) != 1 {
			t.Fatalf("%s: %d endpoints", name, len(sm.Spec.Endpoints))
		}
		ep := sm.Spec.Endpoints[0]
		if ep.Port != port || ep.Path != "/metrics" {
			t.Errorf("%s: scrapes port %q path %q, want %q /metrics", name, ep.Port, ep.Path, port)
		}
		found := false
		for _, p := range m.services[name].Spec.Ports {
			found = found || p.Name == ep.Port
		}
		if !found {
			t.Errorf("%s: Service %s has no port named %q", name, name, ep.Port)
		}
	}
}

var jobMatcher = regexp.MustCompile(`job="([^"]+)"`)

func TestPrometheusRuleAlerts(t *testing.T) {
	m := collectMonitoring(t, mustRender(t, nil, append(monitoringOn,
		"metrics.prometheusRule.labels.release=prom", "metrics.prometheusRule.alertLabels.team=billing",
		"metrics.prometheusRule.consumerLagThreshold=4321")...))
	if m.rule == nil {
		t.Fatal("no PrometheusRule")
	}
	if m.rule.Labels["release"] != "prom" {
		t.Errorf("metrics.prometheusRule.labels not applied: %v", m.rule.Labels)
	}
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	got := alerts(m.rule)
	for _, name := range wantAlerts {
		r, ok := got[name]
		if !ok {
			t.Errorf("alert %s missing", name)
			continue
		}
		if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
			t.Errorf("%s: severity %q", name, sev)
		}
		if r.Labels["team"] != "billing" {
			t.Errorf("%s: alertLabels not applied: %v", name, r.Labels)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: no %s annotation", name, a)
			}
		}
		if !strings.HasSuffix(r.Annotations["runbook_url"], "/docs/operations.md#"+strings.ToLower(name)) {
			t.Errorf("%s: runbook_url %q does not point at its section", name, r.Annotations["runbook_url"])
		}
		if !strings.Contains(string(ops), "\n### "+name+"\n") {
			t.Errorf("%s: docs/operations.md has no '### %s' runbook section", name, name)
		}
		// Every series the alert reads belongs to a Service the ServiceMonitors scrape.
		for _, job := range jobMatcher.FindAllStringSubmatch(exprOf(r), -1) {
			if m.serviceMonitors[job[1]] == nil {
				t.Errorf("%s: selects job=%q, which no ServiceMonitor scrapes", name, job[1])
			}
		}
	}
	if len(got) != len(wantAlerts) {
		t.Errorf("%d alerts, want %d (update wantAlerts and docs/operations.md together)", len(got), len(wantAlerts))
	}
	if expr := exprOf(got["TallyConsumerLagGrowing"]); !strings.Contains(expr, "> 4321") {
		t.Errorf("consumerLagThreshold not used: %s", expr)
	}

	// disabledAlerts leaves exactly the named alerts out.
	m = collectMonitoring(t, mustRender(t, nil, append(monitoringOn,
		"metrics.prometheusRule.disabledAlerts={TallyRedisFailOpen,TallyReconciliationUnknown}")...))
	got = alerts(m.rule)
	if _, ok := got["TallyRedisFailOpen"]; ok {
		t.Error("disabledAlerts did not remove TallyRedisFailOpen")
	}
	if _, ok := got["TallyReconciliationUnknown"]; ok {
		t.Error("disabledAlerts did not remove TallyReconciliationUnknown")
	}
	if len(got) != len(wantAlerts)-2 {
		t.Errorf("%d alerts left, want %d", len(got), len(wantAlerts)-2)
	}
	if _, err := renderChart(t, nil, append(monitoringOn, "metrics.prometheusRule.disabledAlerts={TallyTypo}")...); err == nil {
		t.Error("an unknown name in disabledAlerts was accepted")
	}
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func readDashboard(t *testing.T, text string) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

func TestGrafanaDashboardConfigMap(t *testing.T) {
	m := collectMonitoring(t, mustRender(t, nil, append(monitoringOn,
		"metrics.grafanaDashboard.namespace=monitoring", "metrics.grafanaDashboard.annotations.grafana_folder=Tally")...))
	if len(m.dashboards) != 1 {
		t.Fatalf("%d dashboard ConfigMaps, want 1", len(m.dashboards))
	}
	cm := m.dashboards[0]
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap lacks the sidecar label grafana_dashboard=1: %v", cm.Labels)
	}
	if cm.Namespace != "monitoring" || cm.Annotations["grafana_folder"] != "Tally" {
		t.Errorf("namespace %q, annotations %v: overrides not applied", cm.Namespace, cm.Annotations)
	}
	shipped, err := os.ReadFile(filepath.Join(chartDir, "dashboards", "tally.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(cm.Data["tally.json"]) != strings.TrimSpace(string(shipped)) {
		t.Error("the ConfigMap does not carry dashboards/tally.json verbatim")
	}
	d := readDashboard(t, cm.Data["tally.json"])
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("dashboard uid %q title %q schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, v := range []string{"datasource", "namespace", "release"} {
		if !vars[v] {
			t.Errorf("dashboard has no %q variable", v)
		}
	}
	var exprs []string
	titles := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if titles[p.Title] {
			t.Errorf("two panels titled %q", p.Title)
		}
		titles[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, `namespace="$namespace"`) {
				t.Errorf("panel %q query is not scoped to $namespace: %s", p.Title, tg.Expr)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	// The panels the brief asks for, by the metric each must read.
	all := strings.Join(exprs, "\n")
	for what, metric := range map[string]string{
		"ingest rate":          "tally_ingestor_http_requests_total",
		"ingest latency":       "tally_ingestor_http_request_duration_seconds_bucket",
		"processor throughput": "tally_processor_events_processed_total",
		"batch time":           "tally_processor_batch_seconds_bucket",
		"retries":              "tally_processor_write_retries_total",
		"lag":                  "tally_processor_consumer_lag",
		"reconciliation":       "tally_queryapi_reconciled",
		"dead letters":         "tally_processor_events_dead_lettered_total",
		"redis fail-open":      "tally_processor_redis_fail_open_total",
	} {
		if !strings.Contains(all, metric) {
			t.Errorf("no %s panel (no query reads %s)", what, metric)
		}
	}
}

// --- metric names: the rules and the dashboard read only what the services export.

var metricName = regexp.MustCompile(`\btally_[a-z0-9_]+\b`)

// metricsUsed lists the tally_* metric names in PromQL expressions, histogram series folded
// into their family name.
func metricsUsed(exprs []string) []string {
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(n, "_seconds"+suffix) || strings.HasSuffix(n, "_records"+suffix) {
					n = strings.TrimSuffix(n, suffix)
				}
			}
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// documentedMetrics reads the metric tables of docs/operations.md: the first column of each
// row, split into the section "Metrics the services export" and "Wanted, not exported yet".
func documentedMetrics(doc string) (exported, wanted map[string]bool) {
	exported, wanted = map[string]bool{}, map[string]bool{}
	section := ""
	row := regexp.MustCompile("^\\| `(tally_[a-z0-9_*]+)` \\|")
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "#") {
			section = line
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch {
		case strings.Contains(section, "Metrics the services export"):
			exported[m[1]] = true
		case strings.Contains(section, "Wanted, not exported yet"):
			wanted[m[1]] = true
		}
	}
	return exported, wanted
}

// goSources holds the non-test Go files of the services, where the collectors are declared.
func goSources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, module := range []string{"../ingestor", "../processor", "../queryapi"} {
		err := filepath.WalkDir(module, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			out[path] = string(data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// declaredInSource reports whether a metric name is declared by a collector in the sources:
// either the whole name as a string literal, or Namespace "tally" + Subsystem + Name in one
// file (the prometheus.Opts style).
func declaredInSource(name string, sources map[string]string) bool {
	for _, src := range sources {
		if strings.Contains(src, `"`+name+`"`) {
			return true
		}
		rest, ok := strings.CutPrefix(name, "tally_")
		if !ok {
			continue
		}
		sub, short, ok := strings.Cut(rest, "_")
		if ok && strings.Contains(src, `Namespace: "tally"`) && strings.Contains(src, `Subsystem: "`+sub+`"`) &&
			strings.Contains(src, `"`+short+`"`) {
			return true
		}
	}
	return false
}

// metricProblems checks the names used against the documented tables and the sources.
func metricProblems(used []string, exported, wanted map[string]bool, sources map[string]string) []string {
	var problems []string
	for _, n := range used {
		if !exported[n] && !wanted[n] {
			problems = append(problems, n+" is used but not listed in docs/operations.md")
		}
	}
	for n := range exported {
		if !strings.Contains(n, "*") && !declaredInSource(n, sources) {
			problems = append(problems, n+" is listed as exported but no collector in the services declares it")
		}
	}
	for n := range wanted {
		if declaredInSource(n, sources) {
			problems = append(problems, n+" is exported now: move it to the exported table")
		}
	}
	sort.Strings(problems)
	return problems
}

func TestMetricNames(t *testing.T) {
	m := collectMonitoring(t, mustRender(t, nil, monitoringOn...))
	if m.rule == nil || len(m.dashboards) != 1 {
		t.Fatal("monitoring objects not rendered")
	}
	var exprs []string
	for _, g := range m.rule.Spec.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, exprOf(r))
		}
	}
	for _, p := range readDashboard(t, m.dashboards[0].Data["tally.json"]).Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	used := metricsUsed(exprs)
	if len(used) < 10 {
		t.Fatalf("only %d metric names found in the rules and the dashboard: %v", len(used), used)
	}
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	exported, wanted := documentedMetrics(string(doc))
	for _, p := range metricProblems(used, exported, wanted, goSources(t)) {
		t.Error(p)
	}
	for _, n := range used {
		if wanted[n] {
			t.Logf("%s is read by the rules or the dashboard but not exported yet (docs/operations.md)", n)
		}
	}
}

func TestMetricChecksCanFail(t *testing.T) {
	sources := map[string]string{
		"a.go": `prometheus.CounterOpts{Name: "tally_ingestor_events_accepted_total"}`,
		"b.go": `prometheus.CounterOpts{Namespace: "tally", Subsystem: "processor", Name: "write_retries_total"}`,
	}
	exported := map[string]bool{"tally_ingestor_events_accepted_total": true, "tally_processor_write_retries_total": true}
	if p := metricProblems([]string{"tally_ingestor_events_accepted_total"}, exported, nil, sources); len(p) != 0 {
		t.Fatalf("a consistent set was refused: %v", p)
	}
	for name, tc := range map[string]struct {
		used     []string
		exported map[string]bool
		wanted   map[string]bool
	}{
		"undocumented name in a rule": {used: []string{"tally_processor_bogus_total"}, exported: exported},
		"documented but not declared": {exported: map[string]bool{"tally_processor_gone_total": true}},
		"wrong subsystem":             {exported: map[string]bool{"tally_queryapi_write_retries_total": true}},
		"wanted but already exported": {wanted: map[string]bool{"tally_ingestor_events_accepted_total": true}},
	} {
		t.Run(name, func(t *testing.T) {
			if p := metricProblems(tc.used, tc.exported, tc.wanted, sources); len(p) == 0 {
				t.Fatal("checks accepted an inconsistent set")
			}
		})
	}
	if got := metricsUsed([]string{`histogram_quantile(0.9, rate(tally_processor_batch_seconds_bucket[5m])) + tally:consumer_lag:sum`}); len(got) != 1 || got[0] != "tally_processor_batch_seconds" {
		t.Errorf("metricsUsed = %v", got)
	}
}

func exprOf(r monitoringv1.Rule) string { return r.Expr.String() }
