package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeFile = "../compose/compose.yaml"

// loadCompose loads a compose file the way `docker compose config` does: schema validation
// (unknown keys are errors), interpolation, and consistency checks (depends_on targets,
// volumes and networks must exist). The shell environment is ignored so the result is
// deterministic; env, when given, stands in for it.
func loadCompose(t *testing.T, path string, env ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithName("tally"),
		cli.WithEnv(env),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	return opts.LoadProject(context.Background())
}

func TestComposeProject(t *testing.T) {
	project, err := loadCompose(t, composeFile)
	if err != nil {
		t.Fatalf("load compose: %v", err)
	}

	want := []string{"kafka", "kafka-init", "redis", "clickhouse", "migrate", "auth-init", "keys-map", "keys-admin",
		"keys-default", "ingestor", "processor", "queryapi", "dashboard"}
	for _, name := range want {
		if _, ok := project.Services[name]; !ok {
			t.Errorf("service %q missing", name)
		}
	}

	// Long-running services must report health so dependents can wait on it; one-shot
	// jobs (topic creation, migration, the secret, the keys) are waited on for successful
	// completion instead.
	oneShot := map[string]bool{"kafka-init": true, "migrate": true, "auth-init": true, "keys-map": true,
		"keys-admin": true, "keys-default": true}
	for name, svc := range project.Services {
		if oneShot[name] {
			if svc.Restart != "no" {
				t.Errorf("%s: one-shot job restarts (%q)", name, svc.Restart)
			}
			continue
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 || svc.HealthCheck.Disable {
			t.Errorf("%s: no health check", name)
		}
	}

	done := types.ServiceConditionCompletedSuccessfully
	dependsOn := map[string]map[string]string{
		"kafka-init": {"kafka": types.ServiceConditionHealthy},
		"migrate":    {"clickhouse": types.ServiceConditionHealthy, "kafka-init": done, "auth-init": done},
		"ingestor": {"kafka": types.ServiceConditionHealthy, "kafka-init": done, "redis": types.ServiceConditionHealthy,
			"migrate": done},
		"processor": {"kafka-init": done, "migrate": done, "redis": types.ServiceConditionHealthy,
			"clickhouse": types.ServiceConditionHealthy},
		"queryapi":  {"migrate": done, "clickhouse": types.ServiceConditionHealthy},
		"dashboard": {"ingestor": types.ServiceConditionHealthy, "queryapi": types.ServiceConditionHealthy},
	}
	for name, deps := range dependsOn {
		svc := project.Services[name]
		for dep, cond := range deps {
			got, ok := svc.DependsOn[dep]
			if !ok {
				t.Errorf("%s: no depends_on %s", name, dep)
				continue
			}
			if got.Condition != cond {
				t.Errorf("%s: depends_on %s condition %q, want %q", name, dep, got.Condition, cond)
			}
		}
	}

	processor := project.Services["processor"]
	if processor.Deploy == nil || processor.Deploy.Replicas == nil || *processor.Deploy.Replicas < 2 {
		t.Errorf("processor: want deploy.replicas >= 2, got %+v", processor.Deploy)
	}
	if got := processor.Command; len(got) != 0 {
		t.Errorf("processor overrides its command: %v", got)
	}
	if got := project.Services["migrate"].Command; len(got) != 1 || got[0] != "migrate" {
		t.Errorf("migrate command = %v, want [migrate]", got)
	}

	published := map[string]string{
		"ingestor": "8080", "queryapi": "8081", "processor": "8082-8083", "dashboard": "3000",
		"kafka": "9092", "redis": "6379", "clickhouse": "8123",
	}
	for name, port := range published {
		found := false
		for _, p := range project.Services[name].Ports {
			found = found || p.Published == port
		}
		if !found {
			t.Errorf("%s: host port %s not published (%+v)", name, port, project.Services[name].Ports)
		}
	}

	for _, name := range []string{"ingestor", "processor", "queryapi", "migrate", "keys-map", "keys-admin", "keys-default"} {
		env := project.Services[name].Environment
		for _, key := range []string{"TALLY_KAFKA_BROKERS", "TALLY_CLICKHOUSE_ADDR", "TALLY_REDIS_ADDR", "TALLY_RAW_TOPIC",
			"TALLY_DLQ_TOPIC", "TALLY_CONTROL_TOPIC"} {
			if v := env[key]; v == nil || *v == "" {
				t.Errorf("%s: %s not set", name, key)
			}
		}
		if v := env["TALLY_FAULT_INJECTION"]; v == nil || *v != "false" {
			t.Errorf("%s: TALLY_FAULT_INJECTION defaults to %v, want false", name, v)
		}
		svc := project.Services[name]
		if !svc.ReadOnly || !contains(svc.CapDrop, "ALL") {
			t.Errorf("%s: want read_only and cap_drop ALL", name)
		}
		// Built from the repository root so the event module (replace ../event) is inside.
		if svc.Build == nil || filepath.Clean(svc.Build.Context) != repoRoot(t) {
			t.Errorf("%s: build context %+v is not the repository root", name, svc.Build)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestComposeRejectsInvalidFiles proves the loader is strict: each mutation of the real
// file must fail to load.
func TestComposeRejectsInvalidFiles(t *testing.T) {
	base, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string][2]string{
		"unknown service key":   {"    stop_grace_period: 30s\n", "    stop_grace_perod: 30s\n"},
		"unknown depends_on":    {"      redis:\n        condition: service_healthy\n    healthcheck:\n      test: [\"CMD\", \"/usr/local/bin/healthcheck\", \"http://127.0.0.1:8080/readyz\"]", "      rediss:\n        condition: service_healthy\n    healthcheck:\n      test: [\"CMD\", \"/usr/local/bin/healthcheck\", \"http://127.0.0.1:8080/readyz\"]"},
		"bad condition":         {"condition: service_completed_successfully", "condition: service_done"},
		"replicas not a number": {"replicas: 2", "replicas: two"},
	}
	for name, m := range mutations {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(string(base), m[0]) {
				t.Fatalf("compose.yaml no longer contains %q; update the mutation", m[0])
			}
			path := filepath.Join(t.TempDir(), "compose.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(base), m[0], m[1], 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := loadCompose(t, path); err == nil {
				t.Fatalf("compose-go accepted the file with %s", name)
			}
		})
	}
}
