package deploy

import (
	"path"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// tlsFiles maps every TALLY_*_TLS_*_FILE variable of container c to the Secret key the file
// comes from, failing when the file is not in a mounted Secret volume of spec.
func tlsFiles(t *testing.T, owner string, spec corev1.PodSpec, c corev1.Container) map[string]string {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	out := map[string]string{}
	for _, e := range c.Env {
		if !strings.Contains(e.Name, "_TLS_") || !strings.HasSuffix(e.Name, "_FILE") {
			continue
		}
		dir, file := path.Split(e.Value)
		found := false
		for _, m := range c.VolumeMounts {
			if strings.TrimSuffix(m.MountPath, "/")+"/" != dir {
				continue
			}
			if !m.ReadOnly {
				t.Errorf("%s: %s is mounted writable", owner, m.MountPath)
			}
			v := volumes[m.Name]
			if v.Secret == nil {
				t.Fatalf("%s: %s=%s is not in a Secret volume", owner, e.Name, e.Value)
			}
			for _, it := range v.Secret.Items {
				if it.Path == file {
					out[e.Name] = v.Secret.SecretName + "/" + it.Key
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: %s=%s names no mounted Secret key", owner, e.Name, e.Value)
		}
	}
	return out
}

func TestChartTLS(t *testing.T) {
	// Off by default: no TLS variable, no TLS volume anywhere.
	for owner, spec := range podSpecs(mustRender(t, nil)) {
		for _, c := range spec.Containers {
			for name := range envOf(c) {
				if strings.HasPrefix(name, "TALLY_REDIS_TLS") || strings.HasPrefix(name, "TALLY_CLICKHOUSE_TLS") {
					t.Errorf("%s: %s set by default", owner, name)
				}
			}
		}
		for _, v := range spec.Volumes {
			if strings.HasSuffix(v.Name, "-tls") {
				t.Errorf("%s: volume %s by default", owner, v.Name)
			}
		}
	}

	specs := podSpecs(mustRender(t, nil,
		"redis.addr=redis:6380", "redis.tls.enabled=true", "redis.tls.existingSecret=redis-client",
		"redis.tls.clientCertificate=true", "redis.tls.serverName=redis.internal",
		"clickhouse.addr=ch-0:9440", "clickhouse.tls.enabled=true", "clickhouse.tls.existingSecret=clickhouse-ca",
	))
	redis := map[string]string{
		"TALLY_REDIS_TLS_CA_FILE":   "redis-client/ca.crt",
		"TALLY_REDIS_TLS_CERT_FILE": "redis-client/tls.crt",
		"TALLY_REDIS_TLS_KEY_FILE":  "redis-client/tls.key",
	}
	clickhouse := map[string]string{"TALLY_CLICKHOUSE_TLS_CA_FILE": "clickhouse-ca/ca.crt"}
	for _, tt := range []struct {
		owner             string
		redis, clickhouse bool
	}{
		{"Deployment/tally-processor", true, true},
		{"Job/tally-migrate", true, true},
		{"Deployment/tally-ingestor", true, false},
		{"Deployment/tally-queryapi", false, true},
	} {
		spec, ok := specs[tt.owner]
		if !ok {
			t.Fatalf("no %s among %v", tt.owner, keysOf(specs))
		}
		c := spec.Containers[0]
		env := envOf(c)
		want := map[string]string{}
		if tt.redis {
			for k, v := range redis {
				want[k] = v
			}
			if env["TALLY_REDIS_TLS"].Value != "true" || env["TALLY_REDIS_TLS_SERVER_NAME"].Value != "redis.internal" {
				t.Errorf("%s: TALLY_REDIS_TLS=%q, _SERVER_NAME=%q", tt.owner, env["TALLY_REDIS_TLS"].Value, env["TALLY_REDIS_TLS_SERVER_NAME"].Value)
			}
		} else if _, set := env["TALLY_REDIS_TLS"]; set {
			t.Errorf("%s does not use Redis but gets TALLY_REDIS_TLS", tt.owner)
		}
		if tt.clickhouse {
			for k, v := range clickhouse {
				want[k] = v
			}
			if env["TALLY_CLICKHOUSE_TLS"].Value != "true" {
				t.Errorf("%s: TALLY_CLICKHOUSE_TLS=%q", tt.owner, env["TALLY_CLICKHOUSE_TLS"].Value)
			}
			if _, set := env["TALLY_CLICKHOUSE_TLS_SERVER_NAME"]; set {
				t.Errorf("%s: TALLY_CLICKHOUSE_TLS_SERVER_NAME set without clickhouse.tls.serverName", tt.owner)
			}
		} else if _, set := env["TALLY_CLICKHOUSE_TLS"]; set {
			t.Errorf("%s does not use ClickHouse but gets TALLY_CLICKHOUSE_TLS", tt.owner)
		}
		got := tlsFiles(t, tt.owner, spec, c)
		if len(got) != len(want) {
			t.Errorf("%s: TLS files %v, want %v", tt.owner, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s from %q, want %q", tt.owner, k, got[k], v)
			}
		}
	}

	// Enabled without a Secret: the system trust store, nothing mounted.
	specs = podSpecs(mustRender(t, nil, "clickhouse.tls.enabled=true"))
	spec := specs["Deployment/tally-queryapi"]
	env := envOf(spec.Containers[0])
	if env["TALLY_CLICKHOUSE_TLS"].Value != "true" || env["TALLY_CLICKHOUSE_TLS_CA_FILE"].Value != "" || len(tlsFiles(t, "queryapi", spec, spec.Containers[0])) != 0 {
		t.Errorf("TLS with the system trust store: %v", env)
	}
}

func TestChartRefusesContradictoryTLS(t *testing.T) {
	for _, tt := range []struct {
		sets    []string
		wantErr string
	}{
		{[]string{"redis.tls.enabled=true", "redis.tls.clientCertificate=true"}, "redis.tls.clientCertificate needs redis.tls.existingSecret"},
		{[]string{"clickhouse.tls.existingSecret=ca"}, "clickhouse.tls.existingSecret is set but clickhouse.tls.enabled is false"},
		{[]string{"clickhouse.tls.insecure=true"}, "additional properties 'insecure' not allowed"},
	} {
		if _, err := renderChart(t, nil, tt.sets...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: render error %v, want %q", tt.sets, err, tt.wantErr)
		}
	}
}
