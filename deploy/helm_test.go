package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

const chartDir = "../charts/tally"

// strictDecoder rejects unknown and duplicate fields, as `kubectl apply --validate=strict`
// and the API server's strict field validation do. It knows the Kubernetes types and the
// prometheus-operator CRDs the chart renders (ServiceMonitor, PrometheusRule).
var strictDecoder = newStrictDecoder()

func newStrictDecoder() runtime.Decoder {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(monitoringv1.AddToScheme(s))
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}

// rendered is one manifest of a rendered chart, decoded into its Kubernetes type, its
// prometheus-operator type, or (KEDA) the strict struct in keda_test.go.
type rendered struct {
	source string
	obj    any
}

// renderChart renders the chart with the given values files (relative to the chart) and
// --set style overrides, the way `helm template` does.
func renderChart(t *testing.T, valuesFiles []string, sets ...string) (map[string]string, error) {
	t.Helper()
	return renderChartWith(t, nil, valuesFiles, sets...)
}

// renderChartWith is renderChart with a cluster for `lookup` to read (nil: none, as in
// `helm template`, where lookup finds nothing).
func renderChartWith(t *testing.T, cluster engine.ClientProvider, valuesFiles []string, sets ...string) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals := map[string]any{}
	for _, f := range valuesFiles {
		v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		vals = chartutil.CoalesceTables(v.AsMap(), vals)
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			t.Fatalf("parse --set %s: %v", s, err)
		}
	}
	renderVals, err := chartutil.ToRenderValues(chrt, vals, chartutil.ReleaseOptions{
		Name: "tally", Namespace: "tally", IsInstall: true, Revision: 1,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	if cluster != nil {
		return engine.RenderWithClientProvider(chrt, renderVals, cluster)
	}
	return engine.Render(chrt, renderVals)
}

// decodeAll splits every rendered template into documents and decodes each strictly.
func decodeAll(t *testing.T, files map[string]string) []rendered {
	t.Helper()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []rendered
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		for _, doc := range releaseutil.SplitManifests(files[name]) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			obj, err := decodeStrict(doc)
			if err != nil {
				t.Errorf("%s: strict decode: %v\n%s", name, err, doc)
				continue
			}
			out = append(out, rendered{source: name, obj: obj})
		}
	}
	return out
}

// decodeStrict decodes one manifest: KEDA objects into the strict structs of keda_test.go
// (KEDA's Go module is too large a dependency for a test), everything else through the
// strict Kubernetes decoder.
func decodeStrict(doc string) (any, error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
		return nil, err
	}
	if strings.HasPrefix(meta.APIVersion, kedaGroup+"/") {
		return decodeKEDA(meta, doc)
	}
	obj, _, err := strictDecoder.Decode([]byte(doc), nil, nil)
	return obj, err
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func mustRender(t *testing.T, valuesFiles []string, sets ...string) []rendered {
	t.Helper()
	files, err := renderChart(t, valuesFiles, sets...)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	objs := decodeAll(t, files)
	if len(objs) == 0 {
		t.Fatal("chart rendered no manifests")
	}
	return objs
}

// podSpecs returns every pod template of the rendered workloads, keyed by "Kind/name".
func podSpecs(objs []rendered) map[string]corev1.PodSpec {
	specs := map[string]corev1.PodSpec{}
	for _, r := range objs {
		switch o := r.obj.(type) {
		case *appsv1.Deployment:
			specs["Deployment/"+o.Name] = o.Spec.Template.Spec
		case *batchv1.Job:
			specs["Job/"+o.Name] = o.Spec.Template.Spec
		case *corev1.Pod:
			specs["Pod/"+o.Name] = o.Spec
		}
	}
	return specs
}

func deployments(objs []rendered) map[string]*appsv1.Deployment {
	out := map[string]*appsv1.Deployment{}
	for _, r := range objs {
		if d, ok := r.obj.(*appsv1.Deployment); ok {
			out[d.Name] = d
		}
	}
	return out
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

// valueSets are the configurations CI renders: the defaults, the production example, and
// toggles that switch optional templates on.
var valueSets = []struct {
	name  string
	files []string
	sets  []string
}{
	{name: "default"},
	{name: "production", files: []string{"values-production.yaml"}},
	{name: "options", sets: []string{
		"ingress.enabled=true", "ingress.ingestHost=ingest.local", "ingress.queryHost=query.local",
		"normalize.config=profiles: {}", "kafka.sasl.enabled=true", "kafka.sasl.username=u",
		"kafka.tls.enabled=true", "clickhouse.cluster.enabled=true", "clickhouse.cluster.name=c",
		"ingestor.autoscaling.enabled=false", "dashboard.enabled=false", "existingSecret=creds",
		"metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
		"metrics.grafanaDashboard.enabled=true", "processor.keda.enabled=true",
	}},
}

func TestChartRendersStrictKubernetesObjects(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := mustRender(t, vs.files, vs.sets...)
			kinds := map[string]int{}
			for _, r := range objs {
				kinds[fmt.Sprintf("%T", r.obj)]++
			}
			for _, want := range []string{"*v1.Deployment", "*v1.Service", "*v1.Job", "*v1.PodDisruptionBudget"} {
				if kinds[want] == 0 {
					t.Errorf("no %s rendered; got %v", want, kinds)
				}
			}
		})
	}
}

func TestStrictDecoderRejectsBrokenManifests(t *testing.T) {
	broken := map[string]string{
		"unknown field": `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replicass: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec: {containers: [{name: c, image: i}]}
`,
		"misplaced field": `apiVersion: v1
kind: Pod
metadata: {name: x}
spec:
  containers:
    - name: c
      image: i
      readOnlyRootFilesystem: true
`,
		"duplicate field": `apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  type: ClusterIP
  type: NodePort
`,
		"wrong type": `apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  ports: [{port: "eighty"}]
`,
		"unknown kind": `apiVersion: apps/v1
kind: Deploymnet
metadata: {name: x}
`,
	}
	for name, doc := range broken {
		t.Run(name, func(t *testing.T) {
			if _, _, err := strictDecoder.Decode([]byte(doc), nil, nil); err == nil {
				t.Fatalf("strict decoder accepted a broken manifest:\n%s", doc)
			}
		})
	}
	ok := "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: ClusterIP}\n"
	if _, _, err := strictDecoder.Decode([]byte(ok), nil, nil); err != nil {
		t.Fatalf("strict decoder rejected a valid manifest: %v", err)
	}
}

func TestChartRefusesContradictoryValues(t *testing.T) {
	tests := []struct {
		name    string
		sets    []string
		wantErr string
	}{
		{"more processors than partitions", []string{"processor.replicaCount=9"}, "must not exceed kafka.partitions"},
		{"grace period not above batch timeout", []string{"processor.terminationGracePeriodSeconds=30"}, "must be greater than processor.batchTimeoutSeconds"},
		{"cluster without a name", []string{"clickhouse.cluster.enabled=true"}, "clickhouse.cluster.name is required"},
		{"sasl without a user", []string{"kafka.sasl.enabled=true"}, "kafka.sasl.username is required"},
		{"unknown sasl mechanism", []string{"kafka.sasl.enabled=true", "kafka.sasl.username=u", "kafka.sasl.mechanism=GSSAPI"}, "value must be one of"},
		{"misspelled value", []string{"processor.replicas=3"}, "additional properties 'replicas' not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderChart(t, nil, tt.sets...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("render error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	// The boundary itself is allowed: one processor per partition.
	if _, err := renderChart(t, nil, "processor.replicaCount=8"); err != nil {
		t.Fatalf("replicaCount == partitions refused: %v", err)
	}
}

func TestEveryPodIsHardened(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			for name, spec := range podSpecs(mustRender(t, vs.files, vs.sets...)) {
				psc := spec.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
					t.Errorf("%s: pod securityContext.runAsNonRoot is not true", name)
				}
				if psc != nil && (psc.RunAsUser == nil || *psc.RunAsUser == 0) {
					t.Errorf("%s: pod runs as root or an unset user", name)
				}
				for _, c := range spec.Containers {
					sc := c.SecurityContext
					if sc == nil {
						t.Errorf("%s/%s: no securityContext", name, c.Name)
						continue
					}
					if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
						t.Errorf("%s/%s: root filesystem is writable", name, c.Name)
					}
					if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
						t.Errorf("%s/%s: privilege escalation allowed", name, c.Name)
					}
					if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
						t.Errorf("%s/%s: capabilities not dropped: %+v", name, c.Name, sc.Capabilities)
					}
					if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
						t.Errorf("%s/%s: memory request or limit missing", name, c.Name)
					}
				}
			}
		})
	}
}

func TestServicesHaveHealthProbes(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			for name, d := range deployments(mustRender(t, vs.files, vs.sets...)) {
				for _, c := range d.Spec.Template.Spec.Containers {
					if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
						t.Errorf("%s/%s: liveness probe is not GET /healthz", name, c.Name)
					}
					if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
						t.Errorf("%s/%s: readiness probe is not GET /readyz", name, c.Name)
					}
					// A probe must name a port the container declares.
					for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
						if p == nil || p.HTTPGet == nil {
							continue
						}
						if !hasPort(c, p.HTTPGet.Port.String()) {
							t.Errorf("%s/%s: probe port %s is not a container port", name, c.Name, p.HTTPGet.Port.String())
						}
					}
				}
			}
		})
	}
}

func hasPort(c corev1.Container, port string) bool {
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return true
		}
	}
	return false
}

func TestProcessorDeployment(t *testing.T) {
	objs := mustRender(t, []string{"values-production.yaml"})
	d := deployments(objs)["tally-processor"]
	if d == nil {
		t.Fatal("no tally-processor Deployment")
	}
	if got := *d.Spec.Replicas; got != 6 {
		t.Errorf("replicas = %d, want 6 from values-production.yaml", got)
	}
	spec := d.Spec.Template.Spec
	env := envOf(spec.Containers[0])
	if got := env["TALLY_BATCH_TIMEOUT"].Value; got != "30s" {
		t.Errorf("TALLY_BATCH_TIMEOUT = %q, want 30s", got)
	}
	if *spec.TerminationGracePeriodSeconds <= 30 {
		t.Errorf("terminationGracePeriodSeconds = %d, not above the batch timeout", *spec.TerminationGracePeriodSeconds)
	}
	if s := d.Spec.Strategy.RollingUpdate; s == nil || s.MaxSurge.IntValue() != 0 {
		t.Errorf("processor rollout may surge above replicaCount: %+v", s)
	}
	for name, want := range map[string]string{
		"TALLY_KAFKA_TLS":            "true",
		"TALLY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"TALLY_KAFKA_SASL_USER":      "tally",
		"TALLY_CLICKHOUSE_CLUSTER":   "tally_cluster",
		"TALLY_FAULT_INJECTION":      "false",
		"TALLY_HTTP_ADDR":            ":8082",
	} {
		if got := env[name].Value; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	pw := env["TALLY_KAFKA_SASL_PASSWORD"].ValueFrom
	if pw == nil || pw.SecretKeyRef == nil || pw.SecretKeyRef.Name != "tally-credentials" {
		t.Errorf("TALLY_KAFKA_SASL_PASSWORD does not come from existingSecret: %+v", pw)
	}
	var pdb *policyv1.PodDisruptionBudget
	for _, r := range objs {
		if p, ok := r.obj.(*policyv1.PodDisruptionBudget); ok && p.Name == "tally-processor" {
			pdb = p
		}
	}
	if pdb == nil {
		t.Fatal("no processor PodDisruptionBudget")
	}
	if !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("processor PDB selector %v does not select the pods %v", pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestMigrationHook(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			var job *batchv1.Job
			for _, r := range mustRender(t, vs.files, vs.sets...) {
				if j, ok := r.obj.(*batchv1.Job); ok && j.Name == "tally-migrate" {
					job = j
				}
			}
			if job == nil {
				t.Fatal("no migration Job")
			}
			if got := job.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
				t.Errorf("helm.sh/hook = %q", got)
			}
			c := job.Spec.Template.Spec.Containers[0]
			if len(c.Args) != 1 || c.Args[0] != "migrate" {
				t.Errorf("migration args = %v, want [migrate]", c.Args)
			}
			if !strings.Contains(c.Image, "tally-processor") {
				t.Errorf("migration image %q is not the processor", c.Image)
			}
			env := envOf(c)
			cluster := env["TALLY_CLICKHOUSE_CLUSTER"].Value
			if vs.name == "default" && cluster != "" {
				t.Errorf("default values set TALLY_CLICKHOUSE_CLUSTER=%q", cluster)
			}
			if vs.name != "default" && cluster == "" {
				t.Error("cluster values did not pass TALLY_CLICKHOUSE_CLUSTER to the migration")
			}
			// The hook runs before the release's Secret exists: it must read a hook Secret
			// or the user's existing one, never the release Secret.
			ref := env["TALLY_CLICKHOUSE_PASSWORD"].ValueFrom.SecretKeyRef.Name
			if ref == "tally" {
				t.Error("migration hook reads the release Secret, which does not exist at pre-install")
			}
		})
	}
}

func TestNormalizeConfigRollsPods(t *testing.T) {
	checksum := func(cfg string) map[string]string {
		objs := mustRender(t, nil, "normalize.config="+cfg)
		out := map[string]string{}
		for name, d := range deployments(objs) {
			out[name] = d.Spec.Template.Annotations["checksum/normalize"]
		}
		var cm *corev1.ConfigMap
		for _, r := range objs {
			if c, ok := r.obj.(*corev1.ConfigMap); ok {
				cm = c
			}
		}
		if cm == nil || cm.Data["normalize.yaml"] != cfg {
			t.Fatalf("normalize ConfigMap missing or wrong: %+v", cm)
		}
		for _, name := range []string{"tally-ingestor", "tally-processor"} {
			d := deployments(objs)[name]
			c := d.Spec.Template.Spec.Containers[0]
			path := envOf(c)["TALLY_NORMALIZE_CONFIG"].Value
			mounted := false
			for _, m := range c.VolumeMounts {
				mounted = mounted || (m.Name == "normalize" && m.MountPath == path)
			}
			if path == "" || !mounted {
				t.Errorf("%s: TALLY_NORMALIZE_CONFIG=%q is not where the ConfigMap is mounted", name, path)
			}
		}
		return out
	}
	a, b := checksum("profiles: {a: 1}"), checksum("profiles: {a: 2}")
	for _, name := range []string{"tally-ingestor", "tally-processor"} {
		if a[name] == "" || a[name] == b[name] {
			t.Errorf("%s: checksum/normalize %q -> %q does not change with the config", name, a[name], b[name])
		}
	}
}

func TestIngressAndAutoscaling(t *testing.T) {
	objs := mustRender(t, []string{"values-production.yaml"})
	var ing *networkingv1.Ingress
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	services := map[string]*corev1.Service{}
	for _, r := range objs {
		switch o := r.obj.(type) {
		case *networkingv1.Ingress:
			ing = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpa = o
		case *corev1.Service:
			services[o.Name] = o
		}
	}
	if ing == nil || len(ing.Spec.Rules) != 3 || len(ing.Spec.TLS) != 1 {
		t.Fatalf("production Ingress: %+v", ing)
	}
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			if services[p.Backend.Service.Name] == nil {
				t.Errorf("ingress host %s routes to missing Service %s", rule.Host, p.Backend.Service.Name)
			}
		}
	}
	if hpa == nil || hpa.Spec.ScaleTargetRef.Name != "tally-ingestor" || hpa.Spec.MaxReplicas != 20 {
		t.Fatalf("production ingestor HPA: %+v", hpa)
	}
	if d := deployments(objs)["tally-ingestor"]; d.Spec.Replicas != nil {
		t.Errorf("ingestor Deployment pins replicas=%d while the HPA owns them", *d.Spec.Replicas)
	}
	// Every Service selects the pods of some Deployment.
	for name, svc := range services {
		found := false
		for _, d := range deployments(objs) {
			found = found || selects(svc.Spec.Selector, d.Spec.Template.Labels)
		}
		if !found {
			t.Errorf("Service %s selects no pods", name)
		}
	}
}

// TestRenderedFile decodes a manifest stream rendered outside the test (for example by
// `helm template` in scripts/lint-deploy.sh), named by TALLY_RENDERED_MANIFESTS.
func TestRenderedFile(t *testing.T) {
	paths := os.Getenv("TALLY_RENDERED_MANIFESTS")
	if paths == "" {
		t.Skip("TALLY_RENDERED_MANIFESTS not set; the SDK-rendered tests cover the chart")
	}
	for _, path := range filepath.SplitList(paths) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read rendered manifests: %v", err)
		}
		if n := len(decodeAll(t, map[string]string{path: string(data)})); n < 10 {
			t.Errorf("%s: only %d manifests", path, n)
		}
	}
}
