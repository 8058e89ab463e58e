package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

func secrets(objs []rendered) map[string]*corev1.Secret {
	out := map[string]*corev1.Secret{}
	for _, r := range objs {
		if s, ok := r.obj.(*corev1.Secret); ok {
			out[s.Name] = s
		}
	}
	return out
}

func jobs(objs []rendered) map[string]*batchv1.Job {
	out := map[string]*batchv1.Job{}
	for _, r := range objs {
		if j, ok := r.obj.(*batchv1.Job); ok {
			out[j.Name] = j
		}
	}
	return out
}

// tenantSecretSource follows TALLY_TENANT_SECRET_FILE to the Secret and key behind it: the
// file must sit in a read-only mount of a Secret volume that projects that key to that name.
func tenantSecretSource(t *testing.T, owner string, spec corev1.PodSpec) (secretName, key string) {
	t.Helper()
	c := spec.Containers[0]
	file := envOf(c)["TALLY_TENANT_SECRET_FILE"].Value
	if !path.IsAbs(file) {
		t.Errorf("%s: TALLY_TENANT_SECRET_FILE = %q, want an absolute path", owner, file)
		return "", ""
	}
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.MountPath == path.Dir(file) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly || mount.SubPath != "" {
		t.Errorf("%s: no read-only mount at %s: %+v", owner, path.Dir(file), mount)
		return "", ""
	}
	for _, v := range spec.Volumes {
		if v.Name != mount.Name || v.Secret == nil {
			continue
		}
		for _, item := range v.Secret.Items {
			if item.Path == path.Base(file) {
				if v.Secret.Optional != nil && *v.Secret.Optional {
					t.Errorf("%s: the tenant secret volume is optional", owner)
				}
				return v.Secret.SecretName, item.Key
			}
		}
	}
	t.Errorf("%s: no Secret volume %q projects %s", owner, mount.Name, path.Base(file))
	return "", ""
}

// TestChartTenantSecret follows the tenant-signing secret into the ingestors, the processors
// and the migration hook, in every configuration CI renders; the query API gets none.
func TestChartTenantSecret(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := mustRender(t, vs.files, vs.sets...)
			// Only values-production.yaml names an existing Secret (auth.existingSecret).
			wantSecret, wantHook, chartMade := "tally-auth", "tally-auth-hook", true
			if vs.name == "production" {
				wantSecret, wantHook, chartMade = "tally-credentials", "tally-credentials", false
			}
			all := secrets(objs)
			var value []byte
			if chartMade {
				s := all[wantSecret]
				if s == nil {
					t.Fatalf("no Secret %s; rendered %v", wantSecret, keysOf(all))
				}
				value = s.Data["tenant-secret"]
				if len(value) < 16 {
					t.Errorf("tenant secret %q is shorter than the 16 characters the services require", value)
				}
				if _, hook := s.Annotations["helm.sh/hook"]; hook {
					t.Error("the release's tenant Secret is a hook: Helm would not manage or keep it")
				}
				h := all[wantHook]
				if h == nil || h.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
					t.Fatalf("no pre-install hook copy %s for the migration: %+v", wantHook, h)
				}
				if string(h.Data["tenant-secret"]) != string(value) {
					t.Error("the hook copy holds another tenant secret than the release's Secret")
				}
			} else if _, ok := all["tally-auth"]; ok {
				t.Error("the chart renders its own tenant Secret although auth.existingSecret is set")
			}

			d := deployments(objs)
			for _, name := range []string{"tally-ingestor", "tally-processor"} {
				spec := d[name].Spec.Template.Spec
				secret, key := tenantSecretSource(t, name, spec)
				if secret != wantSecret || key != "tenant-secret" {
					t.Errorf("%s: tenant secret from %s/%s, want %s/tenant-secret", name, secret, key, wantSecret)
				}
				// A new chart-made secret rolls the pods, so no ingestor signs with one secret
				// while the processors verify with another for longer than a rollout.
				sum := d[name].Spec.Template.Annotations["checksum/tenant-secret"]
				if chartMade {
					want := sha256.Sum256(value)
					if sum != hex.EncodeToString(want[:]) {
						t.Errorf("%s: checksum/tenant-secret %q is not the secret's checksum", name, sum)
					}
				} else if sum != "" {
					t.Errorf("%s: checksum/tenant-secret %q of a Secret the chart does not render", name, sum)
				}
			}
			migrate := jobs(objs)["tally-migrate"]
			if migrate == nil {
				t.Fatal("no migration Job")
			}
			if secret, key := tenantSecretSource(t, "tally-migrate", migrate.Spec.Template.Spec); secret != wantHook || key != "tenant-secret" {
				t.Errorf("migration: tenant secret from %s/%s, want %s/tenant-secret (the release Secret does not exist at pre-install)",
					secret, key, wantHook)
			}
			// The query API neither signs nor verifies tenants.
			q := d["tally-queryapi"].Spec.Template.Spec
			if _, ok := envOf(q.Containers[0])["TALLY_TENANT_SECRET_FILE"]; ok {
				t.Error("the query API receives TALLY_TENANT_SECRET_FILE")
			}
			for _, v := range q.Volumes {
				if v.Secret != nil {
					t.Errorf("the query API mounts Secret %s", v.Secret.SecretName)
				}
			}
		})
	}
}

// TestChartAuthenticationAlwaysOn: every Tally container runs with TALLY_AUTH=enabled and
// one control topic, whatever the values; no value can turn authentication off.
func TestChartAuthenticationAlwaysOn(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			for name, spec := range podSpecs(mustRender(t, vs.files, vs.sets...)) {
				c := spec.Containers[0]
				if !strings.Contains(c.Image, "tally-") || strings.Contains(c.Image, "tally-dashboard") {
					continue
				}
				env := envOf(c)
				if got := env["TALLY_AUTH"]; got.Value != "enabled" || got.ValueFrom != nil {
					t.Errorf("%s: TALLY_AUTH = %+v, want the literal enabled", name, got)
				}
				if got := env["TALLY_CONTROL_TOPIC"].Value; got != "tally.control" {
					t.Errorf("%s: TALLY_CONTROL_TOPIC = %q, want tally.control", name, got)
				}
			}
		})
	}
	for _, tt := range []struct {
		name    string
		sets    []string
		wantErr string
	}{
		{"an auth switch", []string{"auth.enabled=false"}, "additional properties 'enabled' not allowed"},
		{"TALLY_AUTH through extraEnv", []string{"ingestor.extraEnv[0].name=TALLY_AUTH", "ingestor.extraEnv[0].value=disabled"},
			"ingestor.extraEnv must not set TALLY_AUTH"},
		{"TALLY_AUTH on the query API", []string{"queryapi.extraEnv[0].name=TALLY_AUTH", "queryapi.extraEnv[0].value=off"},
			"queryapi.extraEnv must not set TALLY_AUTH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := renderChart(t, nil, tt.sets...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("render error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	// Other extra variables still pass.
	if _, err := renderChart(t, nil, "ingestor.extraEnv[0].name=TALLY_LOG_FORMAT", "ingestor.extraEnv[0].value=json"); err != nil {
		t.Fatalf("an unrelated extraEnv variable refused: %v", err)
	}
}

// TestChartRefusesFaultInjectionInProduction: the fault switchboard cannot be enabled with
// the production values, neither by its value nor by an extra variable.
func TestChartRefusesFaultInjectionInProduction(t *testing.T) {
	const refusal = "faultInjection.enabled must be false when production is true"
	for _, tt := range []struct {
		name    string
		files   []string
		sets    []string
		wantErr string
	}{
		{"values-production.yaml", []string{"values-production.yaml"}, []string{"faultInjection.enabled=true"}, refusal},
		{"production flag", nil, []string{"production=true", "faultInjection.enabled=true"}, refusal},
		{"extraEnv", []string{"values-production.yaml"},
			[]string{"processor.extraEnv[0].name=TALLY_FAULT_INJECTION", "processor.extraEnv[0].value=true"},
			"processor.extraEnv must not set TALLY_FAULT_INJECTION"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := renderChart(t, tt.files, tt.sets...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("render error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	// Development installs may still turn it on.
	objs := mustRender(t, nil, "faultInjection.enabled=true")
	if got := envOf(deployments(objs)["tally-processor"].Spec.Template.Spec.Containers[0])["TALLY_FAULT_INJECTION"].Value; got != "true" {
		t.Errorf("development render: TALLY_FAULT_INJECTION = %q, want true", got)
	}
}

// TestChartCORS: the query API allows other browser origins only when auth.corsOrigins names
// them, and only exact origins.
func TestChartCORS(t *testing.T) {
	cors := func(objs []rendered) map[string]string {
		out := map[string]string{}
		for name, d := range deployments(objs) {
			if e, ok := envOf(d.Spec.Template.Spec.Containers[0])["TALLY_CORS_ORIGINS"]; ok {
				out[name] = e.Value
			}
		}
		return out
	}
	if got := cors(mustRender(t, nil)); len(got) != 0 {
		t.Errorf("default values allow origins: %v", got)
	}
	got := cors(mustRender(t, nil, "auth.corsOrigins={https://dash.example.com,http://localhost:5173}"))
	want := map[string]string{"tally-queryapi": "https://dash.example.com,http://localhost:5173"}
	if len(got) != 1 || got["tally-queryapi"] != want["tally-queryapi"] {
		t.Errorf("TALLY_CORS_ORIGINS = %v, want %v", got, want)
	}
	if got := cors(mustRender(t, []string{"values-production.yaml"})); got["tally-queryapi"] != "https://console.example.com" {
		t.Errorf("production TALLY_CORS_ORIGINS = %v", got)
	}
	for _, origin := range []string{"*", "https://dash.example.com/app", "dash.example.com", "https://*.example.com"} {
		if _, err := renderChart(t, nil, "auth.corsOrigins={"+origin+"}"); err == nil {
			t.Errorf("auth.corsOrigins=[%s] accepted; the query API would refuse to start", origin)
		}
	}
}

// secretsCluster answers `lookup` for Secrets from a fake cluster.
type secretsCluster struct{ client dynamic.Interface }

func (c secretsCluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	return c.client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}), true, nil
}

// TestChartKeepsTenantSecretAcrossUpgrades: the chart-made secret is random on install and,
// once the release's Secret exists, the same on every later render (upgrade). A changed
// secret would make the processors reject records the ingestors signed a moment earlier.
func TestChartKeepsTenantSecretAcrossUpgrades(t *testing.T) {
	value := func(files map[string]string) string {
		t.Helper()
		s := secrets(decodeAll(t, files))
		if s["tally-auth"] == nil || s["tally-auth-hook"] == nil {
			t.Fatalf("tenant Secrets missing: %v", keysOf(s))
		}
		return string(s["tally-auth"].Data["tenant-secret"])
	}
	a, err := renderChart(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := renderChart(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if value(a) == value(b) {
		t.Error("two installs got the same tenant secret: it is not random")
	}

	const kept = "kept-tenant-secret-0123456789"
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	existing := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "tally-auth", Namespace: "tally"},
		Data:       map[string][]byte{"tenant-secret": []byte(kept)},
	}
	cluster := secretsCluster{client: dynamicfake.NewSimpleDynamicClient(scheme, existing)}
	upgraded, err := renderChartWith(t, cluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := secrets(decodeAll(t, upgraded))
	if got := string(s["tally-auth"].Data["tenant-secret"]); got != kept {
		t.Errorf("upgrade replaced the tenant secret: %q, want %q", got, kept)
	}
	if got := string(s["tally-auth-hook"].Data["tenant-secret"]); got != kept {
		t.Errorf("upgrade's hook copy holds %q, want %q", got, kept)
	}
}

// TestNotesTellHowToGetTheFirstAdminKey: the chart makes no key (it could only hand one over
// through Job logs or a Secret it would need API access to write); NOTES.txt prints the one
// command that does, against the processor Deployment the chart renders.
func TestNotesTellHowToGetTheFirstAdminKey(t *testing.T) {
	files, err := renderChart(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	notes := files["tally/templates/NOTES.txt"]
	if _, ok := deployments(decodeAll(t, files))["tally-processor"]; !ok {
		t.Fatal("no tally-processor Deployment")
	}
	for _, want := range []string{
		"kubectl -n tally exec deploy/tally-processor -- /usr/local/bin/processor keys create --tenant default --scopes admin",
		"kubectl -n tally exec deploy/tally-processor -- /usr/local/bin/processor keys map --topic events.raw --tenant default",
		"Authorization: Bearer",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
